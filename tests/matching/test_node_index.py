"""Look-ups, batch look-ups and checks through the node index (blocklist/nodeindex) answer
exactly as the database path does: the verdict corpus (tests/sync/verdict_corpus.py: 10,000
generated messages, every sender and link looked up in batches of 1,000 and one by one), for
callers who see no evidence, the reporting org and a regulator (who see more than the index's
documents hold), after a build and after changes applied incrementally (new entries,
withdrawals, revocations, corroboration, an allowlisted value)."""

from __future__ import annotations

import json
import random

import pytest
from holdings.test_chain_1068 import CODES, FIRMS, record_chain
from support.subjects import make_uscc
from sync.verdict_corpus import bulk_publish, entries, messages, publish_corpus

from blocklist import config
from blocklist.db import db
from blocklist.entries.models import Entry
from blocklist.feeds import cursors
from blocklist.matcher.probe import Link
from blocklist.nodeindex import follow, store

SEED = 18
MESSAGES = 10_000


@pytest.fixture
def node_index(app, tmp_path, monkeypatch):
    """`catch_up()` builds or catches up the index file from the test's database; `on()` and
    `off()` switch the app between the node index and the database path."""
    path = str(tmp_path / "node.sqlite")
    conn = store.connect(path)
    settings = app.extensions[config.EXTENSION]

    class Switch:
        def catch_up(self) -> int:
            with app.app_context():
                return follow.catch_up(db.session, conn)

        def on(self) -> None:
            monkeypatch.setitem(app.extensions, config.EXTENSION, settings.replace({"node_index": path}))

        def off(self) -> None:
            monkeypatch.setitem(app.extensions, config.EXTENSION, settings)

    yield Switch()
    conn.close()


def _answers(client, callers, corpus_messages, values, who):
    """Every answer the corpus asks for, as JSON values (compared whole)."""
    out = []
    headers = callers[who]
    for sender, text in corpus_messages:
        response = client.post("/v1/check", json={"sender": sender, "text": text}, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        out.append(response.json)
    for start in range(0, len(values), 1_000):
        batch = [{"value": v} for v in values[start : start + 1_000]]
        response = client.post("/v1/lookup", json={"values": batch}, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        out.append(response.json)
    for value in values[:100]:
        response = client.get("/v1/lookup", query_string={"value": value}, headers=headers)
        out.append((response.status_code, response.json))
    return out


def _same(node, database):
    assert len(node) == len(database)
    for got, want in zip(node, database, strict=True):
        if got != want:
            pytest.fail(
                f"node index {json.dumps(got, ensure_ascii=False)[:3000]}\n"
                f"database   {json.dumps(want, ensure_ascii=False)[:3000]}"
            )


def test_node_index_answers_as_the_database(app, client, callers, node_index):
    corpus = entries(SEED)
    items = corpus.items()
    rng = random.Random(SEED)
    rng.shuffle(items)
    first, second = items[: len(items) * 7 // 10], items[len(items) * 7 // 10 :]
    label_only = publish_corpus(client, callers, first, rng, evidence="call recording #1")
    node_index.catch_up()  # a build

    corpus_messages = messages(corpus, MESSAGES, SEED)
    links = {link.url for _, text in corpus_messages for link in Link.found_in(text)}
    values = sorted({sender for sender, _ in corpus_messages if sender} | links)

    def compare(who, count=MESSAGES, looked_up=None):
        node_index.off()
        database = _answers(client, callers, corpus_messages[:count], values[:looked_up], who)
        node_index.on()
        node = _answers(client, callers, corpus_messages[:count], values[:looked_up], who)
        node_index.off()
        _same(node, database)
        return database

    answers = compare("consumer")
    verdicts = {a["verdict"] for a in answers[:MESSAGES]}
    assert verdicts == {"block", "label", "allow"}
    assert {m["kind"] for a in answers[:MESSAGES] for m in a["matches"]} >= {"number", "code", "range", "keyword"}
    listed = [r for a in answers[MESSAGES:] if isinstance(a, dict) for r in a["results"] if r["listed"]]
    assert listed and any(r["matches"][0]["reports"][0]["has_evidence"] for r in listed)
    # Who sees evidence is answered from the database for those entries, the rest from the index.
    compare("carrier", 100, 1000)
    compare("regulator", 100, 1000)

    # Changes applied incrementally: new entries, reports withdrawn (label-only entries leave),
    # revocations, corroboration (label -> block), an allowlisted domain.
    publish_corpus(client, callers, second, rng, evidence="call recording #1")
    for kind, value in label_only[:15]:
        found = client.get("/v1/lookup", query_string={"value": value, "kind": kind}, headers=callers["consumer"])
        entry_id = next(m["id"] for m in found.json["matches"] if m["kind"] == kind)
        assert client.post(f"/v1/entries/{entry_id}/withdraw", headers=callers["internet"]).status_code == 200
    for kind, value in [item for item in first if item not in label_only[:30]][:15]:
        found = client.get("/v1/lookup", query_string={"value": value, "kind": kind}, headers=callers["consumer"])
        entry_id = next(m["id"] for m in found.json["matches"] if m["kind"] == kind)
        revoked = client.post(f"/v1/entries/{entry_id}/revoke", json={"reason": "corpus"}, headers=callers["regulator"])
        assert revoked.status_code == 200, revoked.get_data(as_text=True)
    bulk_publish(client, callers["carrier"], label_only[15:30])
    domain = corpus.domains[0]
    allowed = client.post(
        "/v1/allowlist", json={"kind": "domain", "value": domain, "reason": "test"}, headers=callers["regulator"]
    )
    assert allowed.status_code == 201, allowed.get_data(as_text=True)
    with pytest.MonkeyPatch.context() as patch:  # applied as changes, not rebuilt
        patch.setattr(follow, "build", lambda *args: pytest.fail("the index was rebuilt"))
        node_index.catch_up()
    compare("consumer", 1000, 1000)


def test_a_code_senders_holdings_through_the_node_index(client, callers, node_index):
    """A check's `sender_status` skips the holdings query for a code the index says never had a
    holding; a holding recorded since is seen after the follower's next pass, and at once with
    the write's `min_cursor` (which reads the holdings themselves)."""
    body = {"sender": CODES[0], "text": "退票请联系"}
    cursor = cursors.encode(node_index.catch_up())
    node_index.on()
    assert client.post("/v1/check", json=body, headers=callers["internet"]).json["sender_status"] == "unregistered"
    record_chain(client, callers)  # not in the feed: a holding's write cursor is the head, where the index is
    assert client.post("/v1/check", json=body, headers=callers["internet"]).json["sender_status"] == "unregistered"
    fresh = client.post(f"/v1/check?min_cursor={cursor}", json=body, headers=callers["internet"]).json
    assert fresh["sender_status"] == "registered" and len(fresh["sender_chain"]) >= 1
    node_index.catch_up()
    answers = []
    for switch in (node_index.on, node_index.off):
        switch()
        answers.append(client.post("/v1/check", json=body, headers=callers["internet"]).json)
    assert answers[0] == answers[1] == fresh


def test_the_databases_rendering_of_index_rows_is_the_schemas(app, client, callers, publish):
    """On PostgreSQL a build renders each row, its look-up document included, in SQL
    (`nodeindex.rows`): byte for byte what `EntrySchema` and `json.dumps` give, for every field
    an entry and its reports can carry: evidence with quotes, backslashes and control
    characters, reasons in Chinese, a withdrawn report, reports via a listed subject, tags,
    expiry with and without microseconds, a display name."""
    from conftest import is_postgres

    from blocklist.nodeindex import rows

    with app.app_context():
        on_postgres = is_postgres(app)
    if not on_postgres:
        pytest.skip("rows are rendered in SQL on PostgreSQL only (SQLite builds them in Python)")
    tricky = 'say "转账" \\ now\n\ttab \x01 end'
    number = publish(
        "number",
        "+8613912345678",
        reason=tricky,
        evidence=tricky,
        tags=["fraud:ticket-scam", "channel:sms"],
        category="fraud",
        expires_at="2031-01-02T03:04:05.678901Z",
    ).json
    for who in ("internet", "carrier2"):
        corroborated = client.post(
            "/v1/entries",
            json={"kind": "number", "value": "+8613912345678", "reason": "同一号码"},
            headers=callers[who],
        )
        assert corroborated.status_code in (200, 201), corroborated.get_data(as_text=True)
    assert client.post(f"/v1/entries/{number['id']}/withdraw", json={}, headers=callers["internet"]).status_code == 200
    publish("domain", "scam-example.top", expires_at="2031-01-02T03:04:05Z", evidence="")
    publish("keyword", "安 全 账 户", as_="regulator", tags=["channel:sms"])
    publish("range", "952750xx", category="fraud")
    publish(
        "enterprise",
        make_uscc(99),
        as_="regulator",
        display_name='某某"通信"有限公司',
        reason="sub-let",
        tags=["list:bad-operator"],
    )
    record_chain(client, callers)
    publish("enterprise", FIRMS[-1], as_="regulator", reason="Sent 6,525 ticket-scam texts")

    with app.app_context():
        ids = sorted(db.session.scalars(db.select(Entry.id)))
        in_sql = list(rows.active_rows(db.session, ids))
        in_python = list(rows.orm_rows(db.session, ids))
    assert {row[1] for row in in_python} >= {"number", "domain", "keyword", "range", "enterprise", "code"}
    assert any('"via":{' in row[-1] for row in in_python) and any('"withdrawn_at":"' in row[-1] for row in in_python)
    assert len(in_sql) == len(in_python)
    for got, want in zip(in_sql, in_python, strict=True):
        assert got == want
