"""The server and a mirror give identical verdicts: 10,000 generated messages (senders as
numbers in several formats, numbers and codes under ranges, keywords spaced out, in capitals or
with zero-width spaces, listed URLs and paths under them, hosts under listed domains,
scheme-less links; tiers block and label) are checked by `POST /v1/check` and by a
`LocalMatcher` over a mirror that the real `blocklist-sync` filled (a snapshot, then changes
followed with `--follow`: new entries, withdrawals, revocations, tier moves), and every answer
— verdict and every match with its span, tier and score — is the same. Look-ups of every
sender and link are compared too (`POST /v1/lookup` in batches of 1,000).

The corpus has no allowlist: a mirror holds none, so a value the allowlist protects under a
listed range or domain would be answered differently (README, Sync client)."""

from __future__ import annotations

import json
import random
import sqlite3

import pytest
from conftest import threaded_server
from sqlalchemy import select
from sync_support import SYNC, Follower, run, secret_env, server_set, sync_command, wait_for
from verdict_corpus import bulk_publish, entries, messages, publish_corpus

from blocklist.db import db
from blocklist.entries.models import Entry
from blocklist.matcher.probe import Link
from blocklist.sync import LocalMatcher

SEED = 18
MESSAGES = 10_000


def _entry_id(client, callers, kind, value):
    found = client.get("/v1/lookup", query_string={"value": value, "kind": kind}, headers=callers["consumer"]).json
    return next(m["id"] for m in found["matches"] if m["kind"] == kind)


def _server_rows(app) -> set[tuple]:
    """(kind, value, tier, score) of every active entry: a tier move changes no (kind, value)."""
    with app.app_context():
        rows = db.session.execute(
            select(Entry.kind, Entry.value, Entry.tier, Entry.score).where(Entry.status == "active")
        ).all()
        db.session.remove()
    return {tuple(row) for row in rows}


def _mirror_rows(db_path) -> set[tuple]:
    with sqlite3.connect(db_path) as conn:
        return set(conn.execute("SELECT kind, value, tier, score FROM entries"))


def _server_answer(client, headers, sender, text):
    response = client.post("/v1/check", json={"sender": sender, "text": text}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.json
    del answer["sender_status"], answer["sender_chain"]  # the mirror holds no holdings
    return answer


def test_server_and_mirror_give_identical_verdicts(app, database_url, auth, client, callers, tmp_path):
    corpus = entries(SEED)
    items = corpus.items()
    rng = random.Random(SEED)
    rng.shuffle(items)
    first, second = items[: len(items) * 7 // 10], items[len(items) * 7 // 10 :]
    label_only = publish_corpus(client, callers, first, rng)

    creds = auth.org("consumer")
    env = secret_env(creds)
    db_path = tmp_path / "mirror.sqlite"
    server = threaded_server(database_url, threads=4, BLOCKLIST_SWEEP_INTERVAL="0")
    follower = None
    try:
        synced = run(sync_command(server, creds, db_path, "--no-witness"), env)
        assert synced.returncode == 0, synced.stderr
        matcher = LocalMatcher.open(str(db_path), poll_interval=0)
        assert matcher.loads == 1 and len(matcher) == len(server_set(app))

        follower = Follower(sync_command(server, creds, db_path, "--no-witness", "--follow", "--wait", "2"), env)
        assert follower.logged("in sync")
        # Changes the follower applies: new entries, reports withdrawn (label-only entries
        # leave), revocations, corroboration by a carrier (label -> block).
        publish_corpus(client, callers, second, rng)
        for kind, value in label_only[:15]:
            entry_id = _entry_id(client, callers, kind, value)
            assert client.post(f"/v1/entries/{entry_id}/withdraw", headers=callers["internet"]).status_code == 200
        for kind, value in [item for item in first if item not in label_only[:30]][:15]:
            entry_id = _entry_id(client, callers, kind, value)
            revoked = client.post(
                f"/v1/entries/{entry_id}/revoke", json={"reason": "corpus"}, headers=callers["regulator"]
            )
            assert revoked.status_code == 200, revoked.get_data(as_text=True)
        bulk_publish(client, callers["carrier"], label_only[15:30])
        expected = _server_rows(app)
        assert wait_for(lambda: _mirror_rows(db_path) == expected, timeout=60), follower.stderr
    finally:
        if follower is not None:
            follower.stop()
        server.stop()

    assert matcher.refresh() is True
    assert matcher.loads == 1, "the changes were applied, not reloaded"
    assert len(matcher) == len(expected)

    headers = callers["consumer"]
    corpus_messages = messages(corpus, MESSAGES, SEED)
    verdicts = {"block": 0, "label": 0, "allow": 0}
    fields: set[str] = set()
    for sender, text in corpus_messages:
        server_answer = _server_answer(client, headers, sender, text)
        local = matcher.check(sender, text)
        if local != server_answer:
            pytest.fail(
                f"{sender!r} {text!r}:\nmirror {json.dumps(local, ensure_ascii=False)}\n"
                f"server {json.dumps(server_answer, ensure_ascii=False)}"
            )
        verdicts[server_answer["verdict"]] += 1
        fields.update(f"{m['field']}:{m['kind']}" for m in server_answer["matches"])
    # `blocklist-sync check` (reading only what each message's keys find) answers the same.
    for sender, text in corpus_messages[:8]:
        args = ["--sender", sender] if sender else []
        result = run([*SYNC, "--db", str(db_path), "check", *args, "--text", text])
        answer = _server_answer(client, headers, sender, text)
        assert json.loads(result.stdout) == answer, (sender, text, result.stderr)
        assert result.returncode == {"block": 0, "allow": 1, "label": 3}[answer["verdict"]]
    # The corpus exercises every verdict and every kind of match a check reports.
    assert min(verdicts.values()) > 300, verdicts
    assert {"sender:number", "sender:code", "sender:range", "text:keyword", "text:url", "text:domain"} <= fields

    links = {link.url for _, text in corpus_messages for link in Link.found_in(text)}
    values = sorted({sender for sender, _ in corpus_messages if sender} | links)
    listed = 0
    for start in range(0, len(values), 1_000):
        batch = values[start : start + 1_000]
        response = client.post("/v1/lookup", json={"values": [{"value": v} for v in batch]}, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        for value, verdict in zip(batch, response.json["results"], strict=True):
            local = matcher.lookup(value)
            assert local["listed"] == verdict["listed"], value
            assert [m["id"] for m in local["matches"]] == [m["id"] for m in verdict["matches"]], value
            assert [m["tier"] for m in local["matches"]] == [m["tier"] for m in verdict["matches"]], value
            listed += verdict["listed"]
    assert 0 < listed < len(values)
    matcher.close()
