"""blocklist-sync as a witness of the audit transparency log, end to end: a real client process
against a live gunicorn keeps the signed tree heads it sees, and stops with exit 3 and the
evidence when history is rewritten (SQL on the database, checkpoint and tree-head rows deleted)."""

from __future__ import annotations

import json

import pytest
from conftest import threaded_server
from support.audit import sql
from support.translog import forget_signed_state, rebuild_tree, rehash_chain_from, sth, verify_with_witness
from sync_support import run, secret_env, sync_command


@pytest.fixture
def server(app, database_url):
    server = threaded_server(database_url, threads=4)
    yield server
    server.stop()


def test_the_sync_client_witnesses_the_log_and_stops_on_a_rewrite(app, server, auth, publish, runner, tmp_path):
    made = publish("code", "10687415", reason="scam SMS sender")
    assert made.status_code == 201
    creds = auth.org("carrier")
    mirror = tmp_path / "mirror.sqlite"
    command = sync_command(server, creds, mirror)
    env = secret_env(creds)

    first = run(command, env=env)
    assert first.returncode == 0, first.stderr  # nothing signed yet: nothing to witness
    head = sth(runner)
    second = run(command, env=env)
    assert second.returncode == 0, second.stderr
    publish("code", "10684500")
    later = sth(runner)
    third = run(command, env=env)
    assert third.returncode == 0, third.stderr
    exported = run([*command[: command.index("--url")], "--db", str(mirror), "witness-export"])
    assert exported.returncode == 0, exported.stderr
    witnessed = json.loads(exported.stdout)
    assert witnessed["tree_heads"] == [head, later] and witnessed["evidence"] == []
    witness_path = tmp_path / "witnessed.json"
    witness_path.write_text(exported.stdout)

    # The administrator rewrites the first record about the entry, re-hashes the chain and the
    # tree, deletes checkpoints and tree heads; the job then signs the forged history.
    seq = sql(app, "SELECT min(seq) FROM audit_records WHERE target_type = 'entry'")[0][0]
    sql(app, "UPDATE audit_records SET reason = 'nothing to see' WHERE seq = :s", s=seq)
    rehash_chain_from(app, seq)
    rebuild_tree(app)
    forget_signed_state(app)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0  # the chain alone cannot tell
    sth(runner)

    caught = run(command, env=env)
    assert caught.returncode == 3, caught.stderr
    assert "inconsistent with what this client witnessed" in caught.stderr and "not consistent" in caught.stderr
    again = run(command, env=env)
    assert again.returncode == 3  # stays stopped, with the evidence
    exported = run([*command[: command.index("--url")], "--db", str(mirror), "witness-export"])
    assert exported.returncode == 0, exported.stderr
    evidence = json.loads(exported.stdout)
    assert len(evidence["evidence"]) == 1
    kept = evidence["evidence"][0]
    assert kept["accepted_head"] == later and kept["offered_head"]["tree_size"] == later["tree_size"]
    assert kept["offered_head"]["root_hash"] != later["root_hash"]

    code, output = verify_with_witness(runner, witness_path)
    assert code == 1 and any("history was rewritten" in p for p in output["witness"]["problems"])


def test_a_pinned_key_that_did_not_sign_the_heads_stops_the_client(app, server, auth, publish, runner, tmp_path):
    publish("code", "10687415")
    creds = auth.org("carrier")
    sth(runner)
    result = run(
        sync_command(server, creds, tmp_path / "m.sqlite", "--audit-public-key", "ab" * 32), env=secret_env(creds)
    )
    assert result.returncode == 3 and "names key" in result.stderr
