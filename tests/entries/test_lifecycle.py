"""Status lifecycle: withdraw, expire (incl. recycled), revoke, re-listing, expiry by time, PATCH
with If-Match."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from support.problems import assert_problem

from blocklist.db import db
from blocklist.entries.models import Entry
from blocklist.feeds.models import FeedChange
from blocklist.feeds.sweeper import expire_all_due as expire_due


def _ops(app):
    with app.app_context():
        return [(c.op, c.entry_id) for c in db.session.scalars(select(FeedChange).order_by(FeedChange.position))]


def test_withdrawing_the_last_report_expires_the_entry(client, callers, publish, app):
    entry = publish("number", "13800138000").json
    publish("number", "+86 138 0013 8000", as_="internet")
    first = client.post(f"/v1/entries/{entry['id']}/withdraw", json={"reason": "mistake"}, headers=callers["carrier"])
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.json["status"] == "active" and first.json["reporters"] == 1
    assert_problem(client.post(f"/v1/entries/{entry['id']}/withdraw", headers=callers["carrier"]), 409)
    last = client.post(f"/v1/entries/{entry['id']}/withdraw", headers=callers["internet"])
    assert last.json["status"] == "expired" and last.json["reporters"] == 0
    assert last.json["status_reason"] == "withdrawn"
    assert [op for op, _ in _ops(app)] == ["upsert", "upsert", "upsert", "remove"]


def test_expired_entry_is_relisted_by_a_new_report(client, callers, publish):
    entry = publish("code", "10690001").json
    client.post(f"/v1/entries/{entry['id']}/expire", json={"reason": "campaign over"}, headers=callers["carrier"])
    again = publish("code", "10690001", as_="internet")
    assert again.status_code == 201
    assert again.json["id"] == entry["id"]
    assert again.json["status"] == "active" and again.json["reporters"] == 1


def test_a_carrier_expires_only_its_own_report_even_as_recycled(client, callers, publish):
    entry = publish("number", "13912345678", as_="internet").json
    for reason in ("looks fine", "recycled"):  # recycled gives a carrier no power over others' reports
        assert_problem(
            client.post(f"/v1/entries/{entry['id']}/expire", json={"reason": reason}, headers=callers["carrier"]), 403
        )
    publish("number", "13912345678")  # the carrier's own report
    done = client.post(f"/v1/entries/{entry['id']}/expire", json={"reason": "recycled"}, headers=callers["carrier"])
    assert done.status_code == 200
    assert done.json["status"] == "active" and done.json["reporters"] == 1
    carrier_report = next(r for r in done.json["reports"] if r["org"]["kind"] == "carrier")
    assert carrier_report["withdrawn_at"] is not None and carrier_report["close_reason"] == "recycled"
    last = client.post(f"/v1/entries/{entry['id']}/expire", json={"reason": "recycled"}, headers=callers["internet"])
    assert last.json["status"] == "expired" and last.json["status_reason"] == "recycled"
    assert_problem(
        client.post(f"/v1/entries/{entry['id']}/expire", json={"reason": "recycled"}, headers=callers["internet"]), 409
    )


def test_revoked_entry_can_be_relisted_only_by_a_regulator(client, callers, publish):
    entry = publish("domain", "fake-bank.com").json
    revoked = client.post(
        f"/v1/entries/{entry['id']}/revoke", json={"reason": "legitimate site"}, headers=callers["regulator"]
    )
    assert revoked.json["status"] == "revoked"
    body = assert_problem(publish("domain", "fake-bank.com", as_="internet"), 409)
    assert "regulator" in body["detail"]
    relisted = publish("domain", "fake-bank.com", as_="regulator")
    assert relisted.status_code == 201 and relisted.json["status"] == "active"


def test_expires_at_is_honoured_at_read_time_and_swept_into_the_feed(client, callers, publish, app):
    entry = publish("url", "http://pay-now.example.com/x").json
    with app.app_context():
        db.session.execute(
            update(Entry)
            .where(Entry.id == entry["id"])
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        db.session.commit()
    read = client.get(f"/v1/entries/{entry['id']}", headers=callers["carrier"]).json
    assert read["status"] == "expired"  # before any sweeper ran
    verdict = client.get(
        "/v1/lookup", query_string={"value": "http://pay-now.example.com/x"}, headers=callers["carrier"]
    ).json
    assert verdict["listed"] is False
    with app.app_context():
        assert expire_due() == 1
        assert expire_due() == 0
    assert _ops(app)[-1] == ("remove", entry["id"])


def test_patch_changes_tags_category_and_expiry_with_etag(client, callers, publish):
    entry = publish("keyword", "刷单返利", tags=["fraud:task-scam"])
    etag = entry.headers["ETag"]
    entry_id = entry.json["id"]
    patched = client.patch(
        f"/v1/entries/{entry_id}",
        json={"add_tags": ["channel:sms"], "category": "scam"},
        headers={**callers["carrier"], "If-Match": etag},
    )
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert patched.json["tags"] == ["channel:sms", "fraud:task-scam"]
    assert patched.json["category"] == "scam"
    assert patched.headers["ETag"] != etag
    stale = client.patch(
        f"/v1/entries/{entry_id}",
        json={"remove_tags": ["channel:sms"]},
        headers={**callers["carrier"], "If-Match": etag},
    )
    assert_problem(stale, 412)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    replaced = client.patch(
        f"/v1/entries/{entry_id}", json={"tags": ["source:12321"], "expires_at": later}, headers=callers["carrier"]
    )
    assert replaced.json["tags"] == ["source:12321"]
    assert replaced.json["expires_at"][:16] == later[:16]
    assert_problem(client.patch(f"/v1/entries/{entry_id}", json={}, headers=callers["carrier"]), 422)
    assert_problem(client.patch(f"/v1/entries/{entry_id}", json={"tags": ["BAD TAG"]}, headers=callers["carrier"]), 422)


def test_missing_entries_are_404(client, callers):
    for method, path, body in [
        ("get", "/v1/entries/999", None),
        ("patch", "/v1/entries/999", {"category": "x"}),
        ("post", "/v1/entries/999/withdraw", {}),
        ("post", "/v1/entries/999/expire", {"reason": "r"}),
        ("post", "/v1/entries/999/disputes", {"reason": "r"}),
    ]:
        assert_problem(getattr(client, method)(path, json=body, headers=callers["carrier"]), 404)
    assert_problem(client.post("/v1/entries/999/revoke", json={"reason": "r"}, headers=callers["regulator"]), 404)


def test_leaving_the_active_set_after_expires_at_but_before_the_sweep_still_reaches_the_feed(
    client, callers, publish, app
):
    """Feed membership is the materialised status: an entry past its expires_at that nobody swept
    yet is still in every mirror, so withdrawing or revoking it must write a `remove` (the
    sweeper no longer sees it afterwards)."""
    withdrawn = publish("code", "10690101").json
    revoked = publish("code", "10690102").json
    with app.app_context():
        db.session.execute(
            update(Entry)
            .where(Entry.id.in_([withdrawn["id"], revoked["id"]]))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        db.session.commit()
    client.post(f"/v1/entries/{withdrawn['id']}/withdraw", headers=callers["carrier"])
    client.post(f"/v1/entries/{revoked['id']}/revoke", json={"reason": "x"}, headers=callers["regulator"])
    assert _ops(app)[-2:] == [("remove", withdrawn["id"]), ("remove", revoked["id"])]
    with app.app_context():
        assert expire_due() == 0
