"""The bulk publish's fast paths give what the general ones give: new entries inserted with
their score, tier, snapshot tags and lines already final; the revoked-coverage query with its
patterns as arrays; each audit record's hash and leaf from one encoding — over HTTP against the
real app and database."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from support.problems import assert_problem

from blocklist.audit import merkle
from blocklist.audit.services import _hash_and_leaf, _plain_json_value, record_hash, record_leaf, to_json_value
from blocklist.db import db
from blocklist.entries import tagcounts, trust
from blocklist.entries.models import Entry
from blocklist.feeds import lines


def test_bulk_created_entries_are_stored_as_a_refresh_would_store_them(app, client, callers, publish):
    publish("number", "13900000001", as_="internet")  # one corroborated, re-assessed as before
    items = [
        {"kind": "number", "value": "13900000001", "tags": ["fraud:loan"]},
        {"kind": "number", "value": "13900000002", "tags": ["fraud:loan", "channel:sms"]},
        {"kind": "code", "value": "10690000123"},
        {"kind": "keyword", "value": "安全账户 转账"},
        {"kind": "url", "value": "http://pay-verify.example.com/login"},
        {"kind": "domain", "value": "pay-verify.example.net", "tags": ["fraud:phishing"]},
    ]
    response = client.post("/v1/entries/bulk", json={"items": items}, headers=callers["carrier"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (response.json["created"], response.json["corroborated"]) == (5, 1)
    with app.app_context():
        ids = [item["id"] for item in response.json["items"]]
        stored = {
            row.id: (row.score, row.tier, row.tier_due_at)
            for row in db.session.execute(
                select(Entry.id, Entry.score, Entry.tier, Entry.tier_due_at).where(Entry.id.in_(ids))
            )
        }
        now = max(row.updated_at for row in db.session.scalars(select(Entry).where(Entry.id.in_(ids))))
        refreshed = trust.refresh(ids, now)
        assert {i: (a.score, a.tier, a.due_at) for i, (_, a) in refreshed.items()} == stored
        assert all(tier == "block" for _, tier, _ in stored.values())  # a carrier's fresh report
        assert tagcounts.drift()["ok"]
        assert lines.drift() == 0
        db.session.rollback()


def test_a_corroboration_that_changes_nothing_shown_keeps_its_line(app, client, callers, publish):
    first = publish("domain", "keep-line.example.org", tags=["fraud:phishing"])
    assert first.status_code == 201
    entry_id = first.json["id"]
    with app.app_context():
        if not lines.kept():
            pytest.skip("lines are kept on PostgreSQL only")
        before = db.session.execute(
            db.text("SELECT xmin::text, line FROM feed_lines WHERE entry_id = :id"), {"id": entry_id}
        ).one()
        db.session.rollback()
    # A second org's report moves reporters (and updated_at): the line is rewritten.
    again = client.post(
        "/v1/entries/bulk",
        json={"items": [{"kind": "domain", "value": "keep-line.example.org"}]},
        headers=callers["internet"],
    )
    assert again.status_code == 200
    with app.app_context():
        after = db.session.execute(
            db.text("SELECT xmin::text, line FROM feed_lines WHERE entry_id = :id"), {"id": entry_id}
        ).one()
        assert after.line != before.line and '"reporters":2' in after.line
        # Refreshing lines with nothing changed writes nothing: the row keeps its version.
        lines.refresh([entry_id])
        kept = db.session.execute(
            db.text("SELECT xmin::text, line FROM feed_lines WHERE entry_id = :id"), {"id": entry_id}
        ).one()
        assert kept == after
        assert lines.drift() == 0
        db.session.rollback()


@pytest.mark.parametrize(
    "revoked_kind,revoked_value,kind,wide",
    [
        ("keyword", "刷单 100%_返利", "keyword", "100%_返利"),  # LIKE's own characters, as text
        ("number", "13812345678", "range", "1381234xxxx"),
        ("code", "10690012", "range", "106900xx"),
        ("url", "http://a.pay-now.example.com/x", "domain", "pay-now.example.com"),
        ("domain", "b.pay-now.example.com", "domain", "pay-now.example.com"),
    ],
)
def test_bulk_refuses_a_wide_value_that_covers_a_revoked_entry(
    client, callers, publish, revoked_kind, revoked_value, kind, wide
):
    listed = publish(revoked_kind, revoked_value, as_="regulator")
    assert listed.status_code == 201, listed.get_data(as_text=True)
    revoked = client.post(
        f"/v1/entries/{listed.json['id']}/revoke", json={"reason": "overturned"}, headers=callers["regulator"]
    )
    assert revoked.status_code == 200, revoked.get_data(as_text=True)
    items = [{"kind": "number", "value": "13700000009"}, {"kind": kind, "value": wide}]
    body = assert_problem(client.post("/v1/entries/bulk", json={"items": items}, headers=callers["carrier"]), 409)
    assert list(body["errors"]["items"]) == ["1"]
    assert "which a regulator revoked" in body["errors"]["items"]["1"]["value"][0]


def test_like_characters_in_a_wide_value_do_not_widen_it(client, callers, publish):
    """`_` and `%` in a keyword are text, not wildcards: 1_0 does not cover a revoked 1x0."""
    listed = publish("keyword", "返利 1x0 元", as_="regulator")
    client.post(f"/v1/entries/{listed.json['id']}/revoke", json={"reason": "overturned"}, headers=callers["regulator"])
    response = client.post(
        "/v1/entries/bulk", json={"items": [{"kind": "keyword", "value": "返利 1_0"}]}, headers=callers["carrier"]
    )
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "after",
    [
        {"id": 7, "value": "安全账户", "tags": ["fraud:loan"], "reports": [[3, "2027-01-01T00:00:00+00:00"]]},
        {"score": 0.5},  # a float: not plain, the leaf goes through rfc8785
        {"名": 1},  # a non-ASCII key: likewise
        {"big": 2**40},
        {"at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "set": {"b", "a"}, "nested": [{"x": None, "y": True}]},
        None,
    ],
)
def test_one_encoding_gives_the_record_hash_and_leaf(after):
    fields = {
        "seq": 12,
        "created_at": dt.datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=dt.UTC),
        "action": "entry.publish",
        "actor_org_id": 3,
        "actor_org_name": "运营商 A",
        "actor_client_id": "c1",
        "request_id": "r1",
        "remote_addr": "127.0.0.1",
        "target_type": "entry",
        "target_id": "7",
        "before": {"tags": [], "reports": []},
        "after": after,
        "reason": "bench",
        "prev_hash": "ab" * 32,
    }
    value, plain = _plain_json_value(after)
    assert (value, plain) == (to_json_value(after), merkle.plain(to_json_value(after)))
    fields["after"] = value
    for nested_plain in (None, plain):
        digest, leaf = _hash_and_leaf(fields, nested_plain)
        assert digest == record_hash(fields)
        assert leaf == record_leaf({**fields, "hash": digest})


def test_integers_past_two_to_the_53_are_not_plain():
    assert _plain_json_value({"n": [2**53 - 1]}) == ({"n": [2**53 - 1]}, True)
    assert _plain_json_value({"n": [2**53]}) == ({"n": [2**53]}, False)
    assert _plain_json_value({"n": -(2**53)})[1] is False


def test_corroborated_and_relisted_entries_are_counted_from_the_publish_own_update(app, client, callers, publish):
    """The bulk sets `feed_tags` in the UPDATE of the entry it writes anyway and moves the
    counters by the difference: a corroboration adding a tag and a re-listing both count."""
    kept = publish("code", "10690000777", tags=["fraud:loan"], as_="internet").json["id"]
    gone = publish("code", "10690000778", tags=["fraud:loan"], as_="internet").json["id"]
    assert client.post(f"/v1/entries/{gone}/withdraw", json={}, headers=callers["internet"]).status_code == 200
    items = [
        {"kind": "code", "value": "10690000777", "tags": ["channel:sms"]},
        {"kind": "code", "value": "10690000778", "tags": ["channel:voice"]},
    ]
    response = client.post("/v1/entries/bulk", json={"items": items}, headers=callers["carrier"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (response.json["corroborated"], response.json["relisted"]) == (1, 1)
    tags = {t["tag"]: t["count"] for t in client.get("/v1/tags", headers=callers["carrier"]).json["items"]}
    assert tags == {"fraud:loan": 2, "channel:sms": 1, "channel:voice": 1}
    with app.app_context():
        assert tagcounts.drift()["ok"]
        assert lines.drift() == 0
        feed = dict(db.session.execute(select(Entry.id, Entry.feed_tags).where(Entry.id.in_([kept, gone]))).all())
        assert feed == {kept: '["channel:sms","fraud:loan"]', gone: '["channel:voice","fraud:loan"]'}
        db.session.rollback()
