"""Publishing: canonical values, corroboration, validation, allowlist refusal, bulk atomicity and
idempotency — over HTTP against the real app and database."""

from __future__ import annotations

from sqlalchemy import func, select
from support.problems import assert_problem

from blocklist.audit.models import AuditRecord
from blocklist.db import db
from blocklist.entries.models import Entry, Report
from blocklist.feeds.models import FeedChange


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_publish_creates_an_active_entry_with_its_canonical_value(publish, callers):
    response = publish(
        "number",
        "138-1234-5678",
        reason="ticket scam calls",
        tags=["Fraud:Ticket-Scam", "channel:voice"],
        category="fraud",
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    entry = response.json
    assert entry["kind"] == "number"
    assert entry["value"] == "+8613812345678"
    assert entry["raw_value"] == "138-1234-5678"
    assert entry["status"] == "active"
    assert entry["category"] == "fraud"
    assert entry["tags"] == ["channel:voice", "fraud:ticket-scam"]
    assert entry["reporters"] == 1
    assert [r["org"]["id"] for r in entry["reports"]] == [callers.org_id("carrier")]
    assert entry["reports"][0]["reason"] == "ticket scam calls"
    assert entry["reports"][0]["withdrawn_at"] is None
    assert entry["expires_at"] is not None  # the number kind's default TTL
    assert response.headers["ETag"] == f'"{entry["id"]}.1"'


def test_second_publisher_corroborates_the_same_entry(publish, app):
    first = publish("code", "1068 7415")
    second = publish("code", "１０６８７４１５", as_="internet")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json["id"] == first.json["id"]
    assert second.json["reporters"] == 2
    assert len(second.json["reports"]) == 2
    # the same org again refreshes its report without counting twice
    again = publish("code", "10687415", as_="internet")
    assert again.status_code == 200 and again.json["reporters"] == 2
    assert _count(app, Entry) == 1
    assert _count(app, Report) == 2


def test_publish_writes_a_feed_change_and_an_audit_record_per_change(publish, app):
    publish("keyword", "安全账户")
    publish("keyword", "安 全 账 户", as_="internet")
    with app.app_context():
        changes = db.session.scalars(select(FeedChange).order_by(FeedChange.position)).all()
        actions = db.session.scalars(
            select(AuditRecord.action).where(AuditRecord.action.like("entry.%")).order_by(AuditRecord.seq)
        ).all()
    assert [(c.position, c.op) for c in changes] == [(1, "upsert"), (2, "upsert")]
    assert actions == ["entry.publish", "entry.corroborate"]


def test_invalid_values_get_a_per_field_422(publish):
    for kind, value in [("number", "12"), ("range", "95275"), ("domain", "com"), ("url", "http://"), ("code", "abc")]:
        body = assert_problem(publish(kind, value), 422)
        assert body["errors"]["value"], (kind, value, body)


def test_wrong_types_and_unknown_kind_get_422(client, callers):
    for payload in [
        {"kind": "number"},
        {"kind": "planet", "value": "x"},
        {"kind": "number", "value": 5},
        {"kind": "number", "value": "13812345678", "tags": ["no-namespace"]},
        {"kind": "number", "value": "13812345678", "expires_at": "2001-01-01T00:00:00Z"},
    ]:
        assert_problem(client.post("/v1/entries", json=payload, headers=callers["carrier"]), 422)


def test_consumer_cannot_publish(publish):
    assert_problem(publish("number", "13812345678", as_="consumer"), 403)


def test_allowlisted_value_is_refused_with_the_reason(client, callers, publish):
    added = client.post(
        "/v1/allowlist",
        json={"kind": "code", "value": "95588", "reason": "ICBC service line"},
        headers=callers["regulator"],
    )
    assert added.status_code == 201, added.get_data(as_text=True)
    body = assert_problem(publish("code", "95588"), 409)
    assert body["allowlist_reason"] == "ICBC service line"
    # the same line as a number is protected too
    assert_problem(publish("number", "95588"), 409)


def test_bulk_publish_is_all_or_nothing(client, callers, app):
    items = [{"kind": "number", "value": f"1381234{i:04d}"} for i in range(50)]
    items.append({"kind": "number", "value": "not a number"})
    body = assert_problem(client.post("/v1/entries/bulk", json={"items": items}, headers=callers["carrier"]), 422)
    assert list(body["errors"]["items"]) == ["50"]
    assert _count(app, Entry) == 0 and _count(app, FeedChange) == 0
    good = client.post("/v1/entries/bulk", json={"items": items[:50]}, headers=callers["carrier"])
    assert good.status_code == 200, good.get_data(as_text=True)
    assert good.json["created"] == 50
    assert [i["index"] for i in good.json["items"]] == list(range(50))
    assert _count(app, Entry) == 50 and _count(app, FeedChange) == 50


def test_bulk_mixes_new_and_corroborated_and_merges_repeats(client, callers, publish):
    publish("url", "http://evil.example.com/pay", as_="internet")
    items = [
        {"kind": "url", "value": "HTTP://EVIL.example.com/pay#x"},
        {"kind": "domain", "value": "evil.example.com", "tags": ["fraud:phishing"]},
        {"kind": "domain", "value": "Evil.Example.Com.", "tags": ["channel:sms"]},
    ]
    response = client.post("/v1/entries/bulk", json={"items": items}, headers=callers["carrier"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (response.json["created"], response.json["corroborated"]) == (1, 1)
    domain_id = response.json["items"][1]["id"]
    entry = client.get(f"/v1/entries/{domain_id}", headers=callers["carrier"]).json
    assert entry["tags"] == ["channel:sms", "fraud:phishing"]


def test_bulk_limit_is_enforced(client, callers):
    items = [{"kind": "code", "value": "10690000"}] * 10_001
    assert_problem(client.post("/v1/entries/bulk", json={"items": items}, headers=callers["carrier"]), 422)


def test_idempotency_key_replays_the_first_answer_and_writes_once(client, callers, app):
    headers = {**callers["carrier"], "Idempotency-Key": "batch-2026-11-24-001"}
    items = {"items": [{"kind": "code", "value": "10684500"}, {"kind": "keyword", "value": "刷单返利"}]}
    first = client.post("/v1/entries/bulk", json=items, headers=headers)
    second = client.post("/v1/entries/bulk", json=items, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json == first.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert _count(app, FeedChange) == 2
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action.like("entry.%")))
            == 2
        )
    other = client.post("/v1/entries/bulk", json={"items": items["items"][:1]}, headers=headers)
    assert_problem(other, 422)
    single_headers = {**callers["carrier"], "Idempotency-Key": "one"}
    a = client.post("/v1/entries", json={"kind": "code", "value": "10680001"}, headers=single_headers)
    b = client.post("/v1/entries", json={"kind": "code", "value": "10680001"}, headers=single_headers)
    assert a.status_code == b.status_code == 201 and a.json == b.json
