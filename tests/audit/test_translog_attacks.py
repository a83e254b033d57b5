"""The attacks of issue 17, done as a database administrator would (SQL on the live database),
each caught by a witness — the sync client's (blocklist/sync/witness.py, over the app's HTTP
interface) and `flask audit verify --witness FILE` — even after every checkpoint and tree-head
row is deleted too."""

from __future__ import annotations

import json

import pytest
from support.audit import max_seq, sql
from support.translog import (
    AppFeed,
    forget_signed_state,
    rebuild_tree,
    rehash_chain_from,
    sth,
    verify_with_witness,
    witness_file,
)

from blocklist.sync.witness import Witness, WitnessAlarm


@pytest.fixture
def story(client, callers, publish, runner, tmp_path):
    """The 1068 story, then a signed tree head that a sync client witnesses (kept in its mirror
    file); then more activity and a checkpoint, so there is history on both sides."""
    made = publish("code", "10687415", reason="scam SMS sender")
    entry_id = made.json["id"]
    publish("code", "10687415", as_="internet", reason="users report 冒充客服")
    client.patch(f"/v1/entries/{entry_id}", json={"add_tags": ["channel:sms"]}, headers=callers["carrier"])
    callers["regulator"]
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0  # a checkpoint before the revoke
    revoked = client.post(
        f"/v1/entries/{entry_id}/revoke", json={"reason": "court held the chain liable"}, headers=callers["regulator"]
    )
    assert revoked.status_code == 200
    witness = Witness(str(tmp_path / "mirror.sqlite"))
    feed = AppFeed(client, callers["consumer"])
    assert witness.check(feed) is None  # nothing signed yet
    head = sth(runner)
    assert witness.check(feed) == head
    yield {"entry_id": entry_id, "witness": witness, "feed": feed, "head": head}
    witness.close()


def _plain_verify(runner) -> int:
    return runner.invoke(args=["audit", "verify"]).exit_code


def _caught_by_both(runner, story, tmp_path, *, alarm: str, problem: str) -> None:
    """The sync witness raises (and keeps raising), keeping the evidence; verify --witness
    exits 1 naming the problem."""
    witness, feed = story["witness"], story["feed"]
    path = witness_file(tmp_path, witness)  # what the client witnessed, before the alarm
    with pytest.raises(WitnessAlarm, match=alarm):
        witness.check(feed)
    evidence = witness.evidence()
    assert len(evidence) == 1 and evidence[0]["accepted_head"] == story["head"]
    with pytest.raises(WitnessAlarm, match="evidence kept"):
        witness.check(feed)  # stays stopped
    code, output = verify_with_witness(runner, path)
    assert code == 1 and output["ok"] is False, output
    assert any(problem in text for text in output["witness"]["problems"]), output["witness"]


def test_an_untouched_log_passes_every_witness(app, runner, story, auth, tmp_path):
    auth.org("carrier")
    later = sth(runner)
    assert story["witness"].check(story["feed"]) == later
    assert [head["tree_size"] for head in story["witness"].heads()] == [story["head"]["tree_size"], later["tree_size"]]
    code, output = verify_with_witness(runner, witness_file(tmp_path, story["witness"]))
    assert code == 0 and output["witness"] == {"ok": True, "heads": 2, "tree_size": later["tree_size"], "problems": []}


def test_truncated_tail_with_rewritten_head(app, runner, story, auth, tmp_path):
    size = story["head"]["tree_size"]
    keep = size - 3
    good = sql(app, "SELECT hash FROM audit_records WHERE seq = :s", s=keep)[0][0]
    sql(app, "DELETE FROM audit_records WHERE seq > :s", s=keep)
    sql(app, "DELETE FROM audit_tree_nodes WHERE position * (1 << level) + (1 << level) > :s", s=keep)
    sql(app, "UPDATE audit_head SET seq = :s, hash = :h", s=keep, h=good)
    forget_signed_state(app)
    assert _plain_verify(runner) == 0  # the chain alone cannot tell
    sth(runner)  # the job signs the shortened log afresh
    _caught_by_both(runner, story, tmp_path, alarm="the log shrank", problem="records were removed")


def test_edited_record_with_the_chain_and_the_tree_rehashed(app, runner, story, tmp_path):
    sql(app, "UPDATE audit_records SET reason = 'routine clean-up' WHERE action = 'entry.revoke'")
    seq = sql(app, "SELECT seq FROM audit_records WHERE action = 'entry.revoke'")[0][0]
    rehash_chain_from(app, seq)
    rebuild_tree(app)
    forget_signed_state(app)
    assert _plain_verify(runner) == 0
    sth(runner)  # a tree head over the rewritten history, same size, another root
    _caught_by_both(runner, story, tmp_path, alarm="not consistent", problem="history was rewritten")


def test_edited_record_with_only_the_chain_rehashed(app, client, callers, runner, story, auth, tmp_path):
    """The attacker leaves the stored tree alone: the signed roots stay right, so a witness of
    tree heads has nothing to see, but the record no longer has an inclusion proof — the bundle
    is refused, and verify --witness (records against the tree) names it."""
    seq = sql(app, "SELECT seq FROM audit_records WHERE action = 'entry.revoke'")[0][0]
    sql(app, "UPDATE audit_records SET reason = 'routine clean-up' WHERE seq = :s", s=seq)
    rehash_chain_from(app, seq)
    forget_signed_state(app)
    assert _plain_verify(runner) == 0
    auth.org("carrier")
    sth(runner)
    assert client.get(f"/v1/audit/bundle?entry_id={story['entry_id']}", headers=callers["regulator"]).status_code == 409
    code, output = verify_with_witness(runner, witness_file(tmp_path, story["witness"]))
    assert code == 1
    assert any("records were altered" in text for text in output["witness"]["problems"]), output


def test_wiped_trail_with_reset_head(app, runner, story, auth, tmp_path):
    sql(app, "DELETE FROM audit_records")
    sql(app, "DELETE FROM audit_tree_nodes")
    sql(app, "UPDATE audit_head SET seq = 0, hash = :h", h="0" * 64)
    forget_signed_state(app)
    assert _plain_verify(runner) == 0  # 0 records, nothing to contradict
    _caught_by_both(runner, story, tmp_path, alarm="wiped", problem="records were removed")


def test_wiped_trail_then_new_activity_signed_past_the_old_size(app, runner, story, auth, tmp_path):
    sql(app, "DELETE FROM audit_records")
    sql(app, "DELETE FROM audit_tree_nodes")
    sql(app, "UPDATE audit_head SET seq = 0, hash = :h", h="0" * 64)
    forget_signed_state(app)
    while max_seq(app) <= story["head"]["tree_size"]:
        auth.org("carrier")
    sth(runner)
    _caught_by_both(runner, story, tmp_path, alarm="not consistent", problem="history was rewritten")


def test_regulator_revoke_rewritten_then_truncated_behind_an_intact_checkpoint(app, runner, story, auth, tmp_path):
    # The checkpoint (before the revoke) stays intact; the revoke record is rewritten, then the
    # tail from it on is cut off and the head made to agree.
    checkpoint = sql(app, "SELECT max(seq) FROM audit_checkpoints")[0][0]
    seq = sql(app, "SELECT seq FROM audit_records WHERE action = 'entry.revoke'")[0][0]
    assert checkpoint < seq <= story["head"]["tree_size"]
    sql(app, "UPDATE audit_records SET reason = 'withdrawn by the carrier' WHERE seq = :s", s=seq)
    rehash_chain_from(app, seq)
    sql(app, "DELETE FROM audit_records WHERE seq >= :s", s=seq)
    sql(app, "DELETE FROM audit_tree_nodes WHERE position * (1 << level) + (1 << level) >= :s", s=seq)
    good = sql(app, "SELECT hash FROM audit_records WHERE seq = :s", s=seq - 1)[0][0]
    sql(app, "UPDATE audit_head SET seq = :s, hash = :h", s=seq - 1, h=good)
    sql(app, "DELETE FROM audit_tree_heads")
    assert _plain_verify(runner) == 0  # exit 0, the checkpoint intact
    while max_seq(app) <= story["head"]["tree_size"]:
        auth.org("carrier")  # life goes on: the log grows past the witnessed size again
    sth(runner)
    _caught_by_both(runner, story, tmp_path, alarm="not consistent", problem="history was rewritten")


def test_a_forged_tree_head_signature_is_caught(app, runner, story, auth, tmp_path):
    auth.org("carrier")
    sth(runner)
    sql(
        app,
        "UPDATE audit_tree_heads SET signature = :s WHERE tree_size = (SELECT max(tree_size) FROM audit_tree_heads)",
        s="00" * 64,
    )
    with pytest.raises(WitnessAlarm, match="signature"):
        story["witness"].check(story["feed"])


def test_witness_files_in_every_accepted_shape_and_bad_ones(app, runner, story, tmp_path):
    head = story["head"]
    lines = tmp_path / "heads.jsonl"
    lines.write_text(json.dumps(head) + "\n" + json.dumps(head) + "\n")
    array = tmp_path / "heads.json"
    array.write_text(json.dumps([head]))
    for path in (lines, array):
        code, output = verify_with_witness(runner, path)
        assert code == 0 and output["witness"]["ok"] is True, output
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps([{**head, "root_hash": "ab" * 32}]))
    code, output = verify_with_witness(runner, forged)
    assert code == 1 and "does not verify" in output["witness"]["problems"][0]
    stranger = tmp_path / "stranger.json"
    stranger.write_text(json.dumps([{**head, "key_id": "0" * 16}]))
    code, output = verify_with_witness(runner, stranger)
    assert code == 1 and "unknown key" in output["witness"]["problems"][0]
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    result = runner.invoke(args=["audit", "verify", "--witness", str(garbage)])
    assert result.exit_code == 2 and "not JSON tree heads" in result.output
