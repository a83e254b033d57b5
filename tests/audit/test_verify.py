"""Verification catches tampering done straight in the database, over the API and the CLI."""

from __future__ import annotations

import base64
import json
import stat
import time

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from support.audit import records_after, sql
from support.problems import assert_problem
from support.settings import override_settings
from support.sql import sql_log

from blocklist.audit.services import record_many
from blocklist.audit.signing import checkpoint_message
from blocklist.audit.verify import verify_chain
from blocklist.context import OPERATOR
from blocklist.db import db


@pytest.fixture
def reader(auth):
    return auth.headers(auth.org("regulator", name="Auditor"))


@pytest.fixture
def trail(auth, reader):
    """Eight records: the reader's org and client, then three more orgs with a client each."""
    for kind in ("carrier", "internet", "consumer"):
        auth.org(kind)


def _verify(client, runner, headers) -> tuple[dict, dict, int]:
    api = client.get("/v1/audit/verify", headers=headers)
    assert api.status_code == 200
    cli = runner.invoke(args=["audit", "verify"])
    return api.json, json.loads(cli.output), cli.exit_code


def _assert_broken(client, runner, headers, first_bad: int, reason_part: str) -> None:
    api, cli, exit_code = _verify(client, runner, headers)
    assert api["ok"] is False and api["first_bad"] == first_bad, api
    assert reason_part in api["reason"]
    assert exit_code == 1 and cli["ok"] is False and cli["first_bad"] == first_bad
    assert {"seconds", "records_per_second"} <= set(cli)


def test_untouched_chain_verifies(client, runner, reader, trail):
    api, cli, exit_code = _verify(client, runner, reader)
    assert api["ok"] is True and api["records"] == 8 and api["first_bad"] is None
    assert api["head"] == sql(client.application, "SELECT hash FROM audit_head")[0][0]
    assert exit_code == 0, cli
    assert cli["ok"] is True and cli["records"] == 8 and cli["records_per_second"] > 0


def test_empty_chain_verifies(app, runner):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and json.loads(result.output)["records"] == 0


def test_edited_middle_record_is_detected(app, client, runner, reader, trail):
    sql(app, "UPDATE audit_records SET actor_org_name = 'someone else' WHERE seq = 4")
    _assert_broken(client, runner, reader, 4, "hash does not match")


def test_edited_snapshot_is_detected(app, client, runner, reader, trail):
    sql(app, "UPDATE audit_records SET after = NULL WHERE seq = 5")
    _assert_broken(client, runner, reader, 5, "hash does not match")


def test_deleted_middle_record_is_detected(app, client, runner, reader, trail):
    sql(app, "DELETE FROM audit_records WHERE seq = 4")
    _assert_broken(client, runner, reader, 4, "record 4 is missing")


def test_renumbered_records_after_a_deletion_are_detected(app, client, runner, reader, trail):
    # Close the gap as an attacker would: shift every later record down and the head with them.
    sql(app, "DELETE FROM audit_records WHERE seq = 4")
    for seq in range(5, 9):
        sql(app, "UPDATE audit_records SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    sql(app, "UPDATE audit_head SET seq = 7")
    _assert_broken(client, runner, reader, 4, "")


def test_swapped_records_are_detected(app, client, runner, reader, trail):
    # Every column of records 3 and 4 changes place: position 3 now holds record 4 and vice versa.
    sql(app, "UPDATE audit_records SET seq = -1 WHERE seq = 3")
    sql(app, "UPDATE audit_records SET seq = 3 WHERE seq = 4")
    sql(app, "UPDATE audit_records SET seq = 4 WHERE seq = -1")
    assert [r["action"] for r in records_after(app, 2)][:2] == ["client.create", "org.create"]
    _assert_broken(client, runner, reader, 3, "")


def test_deleted_tail_without_head_rewrite_is_detected(app, client, runner, reader, trail):
    sql(app, "DELETE FROM audit_records WHERE seq > 6")
    _assert_broken(client, runner, reader, 7, "records were removed")


def test_rewritten_head_is_detected(app, client, runner, reader, trail):
    sql(app, "UPDATE audit_head SET hash = :h", h="f" * 64)
    _assert_broken(client, runner, reader, 8, "audit_head")
    # ... and a head moved back over records that are still there.
    good = sql(app, "SELECT hash FROM audit_records WHERE seq = 6")[0][0]
    sql(app, "UPDATE audit_head SET seq = 6, hash = :h", h=good)
    _assert_broken(client, runner, reader, 7, "beyond audit_head")


def test_truncated_tail_behind_a_checkpoint_is_detected(app, client, auth, runner, reader, trail, signing_key):
    made = runner.invoke(args=["audit", "checkpoint"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["seq"] == 8
    auth.org("carrier")  # records 9 and 10
    assert _verify(client, runner, reader)[2] == 0

    # Cut the chain back to seq 6 and make the head agree: the chain alone now looks whole...
    sql(app, "DELETE FROM audit_records WHERE seq > 6")
    good = sql(app, "SELECT hash FROM audit_records WHERE seq = 6")[0][0]
    sql(app, "UPDATE audit_head SET seq = 6, hash = :h", h=good)
    # ... but the signed checkpoint at seq 8 says otherwise.
    _assert_broken(client, runner, reader, 7, "checkpoint")


def test_rewritten_history_behind_a_checkpoint_is_detected(app, client, runner, reader, trail, signing_key):
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    # Rebuild a fully consistent chain with one record altered, hashes and head recomputed.
    with app.app_context():
        from blocklist.audit.services import record_hash

        records = records_after(app)
        records[2]["reason"] = "rewritten"
        prev = "0" * 64
        for rec in records:
            rec["prev_hash"] = prev
            rec["hash"] = prev = record_hash(rec)
            sql(
                app,
                "UPDATE audit_records SET reason = :r, prev_hash = :p, hash = :h WHERE seq = :s",
                r=rec["reason"],
                p=rec["prev_hash"],
                h=rec["hash"],
                s=rec["seq"],
            )
        sql(app, "UPDATE audit_head SET hash = :h", h=prev)
    _assert_broken(client, runner, reader, 8, "checkpoint")


def test_forged_checkpoint_is_detected(app, client, runner, reader, trail, signing_key):
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    sql(app, "UPDATE audit_checkpoints SET signature = :s", s=base64.b64encode(b"\0" * 64).decode())
    _assert_broken(client, runner, reader, 8, "signature")


def test_checkpoint_moved_to_another_seq_is_detected(app, client, runner, reader, trail, signing_key):
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    sql(app, "UPDATE audit_checkpoints SET seq = 5")
    _assert_broken(client, runner, reader, 5, "checkpoint")
    sql(app, "UPDATE audit_checkpoints SET seq = -3")
    _assert_broken(client, runner, reader, 1, "no record can have")


def test_checkpoint_refuses_a_broken_chain(app, runner, reader, trail, signing_key):
    sql(app, "DELETE FROM audit_records WHERE seq = 3")
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 1 and json.loads(result.output)["first_bad"] == 3
    assert sql(app, "SELECT count(*) FROM audit_checkpoints")[0][0] == 0


def test_checkpoint_can_be_checked_by_a_third_party(client, runner, reader, trail, signing_key):
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    assert stat.S_IMODE(signing_key.stat().st_mode) == 0o600
    pem = runner.invoke(args=["audit", "public-key"]).output
    assert pem == client.get("/v1/audit/public-key").json["public_key"]

    # Everything below uses only what a third party gets: the PEM and the API's JSON.
    checkpoint = client.get("/v1/audit/checkpoints", headers=reader).json["items"][0]
    record = client.get(f"/v1/audit/{checkpoint['seq']}", headers=reader).json
    assert record["hash"] == checkpoint["head_hash"]
    message = json.dumps(
        {
            "seq": checkpoint["seq"],
            "head_hash": checkpoint["head_hash"],
            "created_at": checkpoint["created_at"],
            "key_id": checkpoint["key_id"],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    load_pem_public_key(pem.encode()).verify(base64.b64decode(checkpoint["signature"]), message)


def test_checkpoint_message_is_the_documented_canonical_json(app):
    import datetime as dt

    at = dt.datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=dt.UTC)
    assert checkpoint_message(5, "ab" * 32, at, "k1") == (
        b'{"created_at":"2026-11-24T12:00:00.123456+00:00","head_hash":"' + b"ab" * 32 + b'","key_id":"k1","seq":5}'
    )


def test_verify_streams_in_batches(app, client, runner, reader):
    """20,000 records in one transaction, verified 1,000 at a time: 20+ keyset queries."""
    n = 20_000
    with app.app_context():
        record_many(
            [
                {"action": "entry.update", "target_type": "entry", "target_id": i, "after": {"i": i, "note": "数据 ✓"}}
                for i in range(n)
            ],
            OPERATOR,
        )
        db.session.commit()
        with sql_log(app) as log:
            started = time.perf_counter()
            result = verify_chain(db.session, batch=1000)
            seconds = time.perf_counter() - started
        queries = [s for s, _ in log if "FROM audit_records" in s and "ORDER BY audit_records.seq" in s]
        db.session.rollback()
    assert result.ok, result
    assert result.records == n + 2
    assert len(queries) >= n // 1000
    print(f"\nverify: {result.records} records in {seconds:.2f}s = {result.records / seconds:,.0f} records/s")


def _checkpoint_id(runner) -> int:
    made = runner.invoke(args=["audit", "checkpoint"])
    assert made.exit_code == 0, made.output
    return json.loads(made.output)["id"]


def _verify_from(client, runner, headers, checkpoint_id) -> tuple[dict, dict, int]:
    api = client.get("/v1/audit/verify", query_string={"from_checkpoint": checkpoint_id}, headers=headers)
    assert api.status_code == 200, api.get_json()
    cli = runner.invoke(args=["audit", "verify", "--from-checkpoint", str(checkpoint_id)])
    return api.json, json.loads(cli.output), cli.exit_code


def test_verify_from_a_checkpoint_checks_only_the_records_after_it(
    app, client, auth, runner, reader, trail, signing_key
):
    anchor = _checkpoint_id(runner)  # at seq 8
    auth.org("carrier")  # records 9 and 10
    api, cli, exit_code = _verify_from(client, runner, reader, anchor)
    assert api == {
        "ok": True,
        "records": 2,
        "from_seq": 8,
        "first_bad": None,
        "reason": None,
        "head": sql(app, "SELECT hash FROM audit_head")[0][0],
    }
    assert exit_code == 0 and cli["records"] == 2

    # Tampering after the anchor is found ...
    sql(app, "UPDATE audit_records SET reason = 'x' WHERE seq = 10")
    api, cli, exit_code = _verify_from(client, runner, reader, anchor)
    assert (api["ok"], api["first_bad"], api["records"]) == (False, 10, 1) and exit_code == 1
    sql(app, "UPDATE audit_records SET reason = NULL WHERE seq = 10")
    # ... tampering before it is not looked at: that is what the full verification is for.
    sql(app, "UPDATE audit_records SET reason = 'x' WHERE seq = 3")
    assert _verify_from(client, runner, reader, anchor)[0]["ok"] is True
    assert client.get("/v1/audit/verify", headers=reader).json["first_bad"] == 3


def test_verify_from_a_checkpoint_needs_a_genuine_anchor_the_chain_links_to(
    app, client, auth, runner, reader, trail, signing_key
):
    anchor = _checkpoint_id(runner)
    auth.org("carrier")
    later = _checkpoint_id(runner)  # at seq 10
    assert _verify_from(client, runner, reader, anchor)[0]["ok"] is True
    # A rewritten record 9 with its hash recomputed no longer links to the hash the anchor signed
    # ... and the later checkpoint catches it too.
    sql(app, "UPDATE audit_records SET prev_hash = :h WHERE seq = 9", h="e" * 64)
    assert _verify_from(client, runner, reader, anchor)[0]["first_bad"] == 9
    sql(app, "UPDATE audit_records SET prev_hash = (SELECT hash FROM audit_records WHERE seq = 8) WHERE seq = 9")
    # A forged anchor is refused.
    sql(
        app,
        "UPDATE audit_checkpoints SET signature = :s WHERE id = :i",
        s=base64.b64encode(b"\0" * 64).decode(),
        i=later,
    )
    api = _verify_from(client, runner, reader, later)[0]
    assert api["ok"] is False and "signature" in api["reason"]
    # The chain cut back below the anchor.
    sql(app, "DELETE FROM audit_records WHERE seq > 6")
    sql(app, "UPDATE audit_head SET seq = 6, hash = (SELECT hash FROM audit_records WHERE seq = 6)")
    api = _verify_from(client, runner, reader, anchor)[0]
    assert api["ok"] is False and "records were removed" in api["reason"]


def test_verify_from_an_unknown_checkpoint_is_404(client, runner, reader, trail):
    response = client.get("/v1/audit/verify", query_string={"from_checkpoint": 999}, headers=reader)
    assert_problem(response, 404)
    assert client.get("/v1/audit/verify", query_string={"from_checkpoint": 0}, headers=reader).status_code == 422
    result = runner.invoke(args=["audit", "verify", "--from-checkpoint", "999"])
    assert result.exit_code == 2 and "no checkpoint" in result.output


def test_checkpoints_of_a_rotated_key_verify_with_its_retired_public_key(
    app, client, auth, runner, reader, trail, signing_key, tmp_path, monkeypatch
):
    old = _checkpoint_id(runner)
    old_pem = client.get("/v1/audit/public-key", headers=reader).json["public_key"]
    # Rotate: a new signing key; the old checkpoint now names a key nobody knows, so the chain
    # does not verify and no new checkpoint is signed ...
    override_settings(monkeypatch, app, audit_signing_key_file=str(tmp_path / "new" / "key.pem"))
    assert runner.invoke(args=["audit", "keygen"]).exit_code == 0
    auth.org("carrier")
    api = client.get("/v1/audit/verify", headers=reader).json
    assert api["ok"] is False and "unknown key" in api["reason"] and api["first_bad"] == 8
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 1
    # ... until its public key is configured as retired: both checkpoints hold.
    retired = tmp_path / "retired-1.pem"
    retired.write_text(old_pem)
    override_settings(monkeypatch, app, audit_retired_public_keys=(str(retired),))
    new = _checkpoint_id(runner)
    api, cli, exit_code = _verify(client, runner, reader)
    assert api["ok"] is True and exit_code == 0, api
    assert _verify_from(client, runner, reader, old)[0]["ok"] is True
    assert _verify_from(client, runner, reader, new)[0]["ok"] is True
    # A retired key does not make a forged checkpoint hold.
    sql(
        app, "UPDATE audit_checkpoints SET signature = :s WHERE id = :i", s=base64.b64encode(b"\0" * 64).decode(), i=old
    )
    assert client.get("/v1/audit/verify", headers=reader).json["first_bad"] == 8
