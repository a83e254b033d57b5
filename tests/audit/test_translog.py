"""The audit trail as an RFC 9162 transparency log, over HTTP and the CLI: the stored tree,
signed tree heads, inclusion and consistency proofs, and court bundles verified offline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from support.audit import max_seq, records_after, sql
from support.problems import assert_problem
from support.translog import mth, rebuild_tree, sth

from blocklist.audit.services import record_leaf
from blocklist.sync import rfc9162
from blocklist.sync.witness import raw_key_from_pem


@pytest.fixture
def reader(auth):
    return auth.headers(auth.org("regulator", name="Auditor"))


@pytest.fixture
def anyone(auth):
    return auth.headers(auth.org("consumer", name="A consumer app"))


def public_key(client) -> bytes:
    return bytes.fromhex(raw_key_from_pem(client.get("/v1/audit/public-key").json["public_key"]))


def leaves_of(app) -> list[bytes]:
    return [rfc9162.hash_leaf(record_leaf(record)) for record in records_after(app)]


def test_the_stored_tree_is_the_rfc_tree_of_the_records(app, client, runner, reader, publish):
    publish("code", "10687415")
    publish("number", "+8613812345678", as_="internet")
    head = sth(runner)
    size = max_seq(app)
    assert head["tree_size"] == size
    assert head["root_hash"] == mth(leaves_of(app)).hex()
    rfc9162.check_tree_head(head, public_key(client))
    assert sql(app, "SELECT count(*) FROM audit_tree_nodes")[0][0] == sum(size >> level for level in range(64))


def test_tree_heads_are_signed_only_when_the_tree_grew(app, client, runner, anyone, auth):
    assert client.get("/v1/audit/tree-heads/latest", headers=anyone).status_code == 404
    first = sth(runner)
    assert sth(runner) is None  # nothing new: no second head
    auth.org("carrier")
    second = sth(runner)
    assert second["tree_size"] == first["tree_size"] + 2
    latest = client.get("/v1/audit/tree-heads/latest", headers=anyone)
    assert latest.status_code == 200 and latest.json == second
    listed = client.get("/v1/audit/tree-heads", headers=anyone).json
    assert listed["items"] == [second, first] and listed["next_cursor"] is None
    proof = client.get(
        "/v1/audit/consistency",
        query_string={"first": first["tree_size"], "second": second["tree_size"]},
        headers=anyone,
    )
    assert proof.status_code == 200
    rfc9162.check_consistent(first, second, proof.json["proof"], public_key(client))


def test_tree_head_and_consistency_reads_need_a_token_but_no_scope(client, runner, auth):
    headers = auth.headers("consumer")
    assert sth(runner) is not None
    for path in ("/v1/audit/tree-heads", "/v1/audit/tree-heads/latest", "/v1/audit/consistency?first=1&second=1"):
        assert_problem(client.get(path), 401)
        assert client.get(path, headers=headers).status_code == 200, path


def test_every_consistency_proof_between_sizes_verifies(app, client, anyone, auth):
    for kind in ("carrier", "internet", "consumer"):
        auth.org(kind)
    leaves = leaves_of(app)
    for second in range(1, len(leaves) + 1):
        for first in range(1, second + 1):
            response = client.get(
                "/v1/audit/consistency", query_string={"first": first, "second": second}, headers=anyone
            )
            assert response.status_code == 200
            proof = [bytes.fromhex(h) for h in response.json["proof"]]
            assert rfc9162.verify_consistency(first, second, mth(leaves[:first]), mth(leaves[:second]), proof)


def test_bad_consistency_and_proof_requests_are_problems(app, client, anyone, reader, runner):
    sth(runner)
    size = max_seq(app)
    for query in ({"first": 0, "second": 1}, {"first": 2}, {"first": "x", "second": 1}):
        assert_problem(client.get("/v1/audit/consistency", query_string=query, headers=anyone), 422)
    problem = client.get("/v1/audit/consistency", query_string={"first": 2, "second": 1}, headers=anyone)
    assert_problem(problem, 422)
    assert "first" in problem.json["errors"]
    beyond = client.get("/v1/audit/consistency", query_string={"first": 1, "second": size + 1}, headers=anyone)
    assert_problem(beyond, 422)
    assert "second" in beyond.json["errors"]
    assert_problem(client.get(f"/v1/audit/records/{size + 1}/proof", headers=reader), 422)
    assert_problem(client.get("/v1/audit/records/1/proof?tree_size=0", headers=reader), 422)
    assert_problem(client.get(f"/v1/audit/records/1/proof?tree_size={size + 5}", headers=reader), 422)


def test_inclusion_proofs_need_audit_read_and_verify(app, client, runner, reader, anyone):
    assert_problem(client.get("/v1/audit/records/1/proof", headers=reader), 404)  # no tree head yet
    head = sth(runner)
    root = bytes.fromhex(head["root_hash"])
    assert_problem(client.get("/v1/audit/records/1/proof", headers=anyone), 403)
    assert_problem(client.get("/v1/audit/bundle?entry_id=1", headers=anyone), 403)
    for seq in range(1, head["tree_size"] + 1):
        proof = client.get(f"/v1/audit/records/{seq}/proof", headers=reader)
        assert proof.status_code == 200
        body = proof.json
        assert body["tree_size"] == head["tree_size"] and body["leaf_index"] == seq - 1
        assert json.loads(body["leaf"])["seq"] == seq
        leaf_hash = rfc9162.hash_leaf(body["leaf"].encode())
        assert leaf_hash.hex() == body["leaf_hash"]
        path = [bytes.fromhex(h) for h in body["inclusion_proof"]]
        assert rfc9162.verify_inclusion(seq - 1, head["tree_size"], leaf_hash, path, root)
    # A proof in an earlier, smaller tree.
    small = client.get("/v1/audit/records/1/proof?tree_size=2", headers=reader).json
    assert small["tree_size"] == 2 and len(small["inclusion_proof"]) == 1


def _story(client, callers, publish) -> str:
    """The 1068 story: a carrier lists the code 10687415, tags it, another corroborates, a
    regulator revokes it."""
    made = publish("code", "10687415", reason="scam SMS sender, sub-let chain")
    assert made.status_code == 201, made.get_data(as_text=True)
    entry_id = made.json["id"]
    tagged = client.patch(f"/v1/entries/{entry_id}", json={"add_tags": ["channel:sms"]}, headers=callers["carrier"])
    assert tagged.status_code == 200, tagged.get_data(as_text=True)
    assert publish("code", "10687415", as_="internet", reason="users report 冒充客服").status_code == 200
    revoked = client.post(
        f"/v1/entries/{entry_id}/revoke", json={"reason": "court held the chain liable"}, headers=callers["regulator"]
    )
    assert revoked.status_code == 200, revoked.get_data(as_text=True)
    return str(entry_id)


def test_the_court_bundle_of_the_1068_story_verifies_offline_and_no_byte_can_change(
    app, client, runner, callers, publish, tmp_path
):
    entry_id = _story(client, callers, publish)
    head = sth(runner)
    response = client.get(f"/v1/audit/bundle?entry_id={entry_id}", headers=callers["regulator"])
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = response.get_data()
    proven = rfc9162.verify_bundle(data, public_key(client))
    assert proven["tree_size"] == head["tree_size"]
    actions = [record["action"] for record in proven["records"]]
    assert actions[0] == "entry.publish" and "entry.revoke" in actions and len(actions) >= 4
    assert all(record["target_id"] == entry_id for record in proven["records"])
    # The CLI writes the same bundle, and the standalone script verifies it with no package.
    path = tmp_path / "bundle.json"
    made = runner.invoke(args=["audit", "bundle", "--entry-id", entry_id, "--output", str(path)])
    assert made.exit_code == 0, made.output
    assert path.read_bytes() == data
    script = conftest_root() / "scripts" / "verify_bundle.py"
    checked = subprocess.run(
        [sys.executable, "-I", str(script), str(path), "--public-key", public_key(client).hex()],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("VERIFIED") and "entry.revoke" in checked.stdout
    # Every single changed byte fails (two different flips per byte).
    key = public_key(client)
    for position in range(len(data)):
        for mask in (0x01, 0x20):
            changed = bytearray(data)
            changed[position] ^= mask
            with pytest.raises(rfc9162.VerificationError):
                rfc9162.verify_bundle(bytes(changed), key)
    # Another key (a forged bundle re-signed by someone else) fails with the pinned key.
    with pytest.raises(rfc9162.VerificationError):
        rfc9162.verify_bundle(data, bytes(32))
    path.write_bytes(data.replace(b"entry.revoke", b"entry.update", 1))
    refused = subprocess.run([sys.executable, "-I", str(script), str(path)], capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.startswith("NOT VERIFIED")


def conftest_root():
    import pathlib

    return pathlib.Path(__file__).resolve().parents[2]


def test_bundle_problems(app, client, runner, callers, publish):
    made = publish("code", "10687415")
    entry_id = made.json["id"]
    assert_problem(client.get(f"/v1/audit/bundle?entry_id={entry_id}", headers=callers["regulator"]), 404)
    sth(runner)
    assert_problem(client.get("/v1/audit/bundle?entry_id=999999", headers=callers["regulator"]), 404)
    assert_problem(client.get("/v1/audit/bundle?entry_id=x", headers=callers["regulator"]), 422)
    # A record edited in the database no longer matches the signed tree: refused, with why.
    sql(app, "UPDATE audit_records SET reason = 'nothing happened' WHERE target_id = :id", id=str(entry_id))
    altered = client.get(f"/v1/audit/bundle?entry_id={entry_id}", headers=callers["regulator"])
    assert_problem(altered, 409)
    assert "altered" in altered.json["detail"]


def test_two_tree_head_jobs_at_once_sign_one_head(app, runner, auth):
    auth.org("carrier")
    heads = [sth(runner), sth(runner)]
    assert heads[1] is None
    assert sql(app, "SELECT count(*) FROM audit_tree_heads")[0][0] == 1


def test_the_job_refuses_to_sign_an_altered_tree(app, runner, auth):
    auth.org("carrier")
    sth(runner)
    # History rewritten and the whole tree recomputed to match it: the new root does not extend
    # the signed one, so the job refuses (exit 1) instead of signing the forgery.
    sql(app, "UPDATE audit_records SET reason = 'rewritten' WHERE seq = 1")
    rebuild_tree(app)
    auth.org("carrier")
    result = runner.invoke(args=["audit", "sth"])
    assert result.exit_code == 1 and "not consistent" in result.output
    assert sql(app, "SELECT count(*) FROM audit_tree_heads")[0][0] == 1


def test_the_job_refuses_to_sign_a_tree_with_missing_nodes(app, runner, auth):
    auth.org("carrier")  # records 1 and 2
    sth(runner)
    auth.org("carrier")  # records 3 and 4: node (1, 1) covers them
    sql(app, "DELETE FROM audit_tree_nodes WHERE level = 1 AND position = 1")
    result = runner.invoke(args=["audit", "sth"])
    assert result.exit_code == 1 and "audit_tree_nodes was altered" in result.output


def test_writes_fail_closed_with_a_503_when_the_tree_edge_is_missing(app, client, callers, publish):
    callers["carrier"]  # its org and client: records 1 and 2
    sql(app, "DELETE FROM audit_tree_nodes")
    refused = publish("code", "10687415")
    assert_problem(refused, 503)
    assert "audit" in refused.json["detail"]


def test_the_job_refuses_to_sign_a_shrunken_trail(app, runner, auth):
    auth.org("carrier")
    auth.org("carrier")
    assert sth(runner)["tree_size"] == 4
    sql(app, "DELETE FROM audit_records WHERE seq > 2")
    sql(app, "UPDATE audit_head SET seq = 2")
    result = runner.invoke(args=["audit", "sth"])
    assert result.exit_code == 1 and "records were removed" in result.output


def test_sth_loop_uses_the_interval(app, runner, monkeypatch, auth):
    from support.settings import override_settings

    from blocklist.audit import cli

    auth.org("carrier")
    override_settings(monkeypatch, app, sth_interval=7)
    waits = []

    def stop(seconds):
        waits.append(seconds)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.time, "sleep", stop)
    result = runner.invoke(args=["audit", "sth", "--loop"])
    assert waits == [7] and json.loads(result.output.splitlines()[0])["tree_size"] == max_seq(app)


def test_signatures_cover_the_rfc_tree_head_structure(client, runner, auth):
    auth.org("carrier")
    head = sth(runner)
    key = Ed25519PublicKey.from_public_bytes(public_key(client))
    message = (
        head["timestamp"].to_bytes(8, "big")
        + head["tree_size"].to_bytes(8, "big")
        + bytes([32])
        + bytes.fromhex(head["root_hash"])
        + b"\x00\x00"
    )
    key.verify(bytes.fromhex(head["signature"]), message)  # raises if not
