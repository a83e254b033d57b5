"""Reports are each org's own (issue #12, items 2, 3, 11 and 12): a non-regulator's expire,
withdraw, PATCH of `expires_at` and tag removal act on its own report and tags only; per-report
expiry; nobody re-lists what a regulator revoked through something wider; disputes are seen by
active reporters only."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from support.problems import assert_problem

from blocklist.db import db, utcnow
from blocklist.feeds.models import FeedChange
from blocklist.feeds.sweeper import expire_all_due as expire_due


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _ops(app):
    with app.app_context():
        return [c.op for c in db.session.scalars(select(FeedChange).order_by(FeedChange.position))]


def _corroborated(publish, kind="keyword", value="安全账户转账", orgs=("carrier", "carrier2", "carrier3"), **fields):
    entry = None
    for org in orgs:
        response = publish(kind, value, as_=org, **fields)
        assert response.status_code in (200, 201), response.get_data(as_text=True)
        entry = response.json
    assert entry["reporters"] == len(orgs)
    return entry


def test_one_corroborator_expiring_closes_only_its_own_report(client, callers, publish, app):
    entry = _corroborated(publish)
    done = client.post(f"/v1/entries/{entry['id']}/expire", json={"reason": "mistake"}, headers=callers["carrier2"])
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.json["status"] == "active" and done.json["reporters"] == 2
    closed = [r for r in done.json["reports"] if r["withdrawn_at"] is not None]
    assert [(r["org"]["name"], r["close_reason"]) for r in closed] == [("carrier2-org", "mistake")]
    assert _ops(app)[-1] == "upsert"  # mirrors keep it, with one reporter fewer
    # Its report is closed: it has nothing left to expire or withdraw, and may not change the entry.
    assert_problem(
        client.post(f"/v1/entries/{entry['id']}/expire", json={"reason": "again"}, headers=callers["carrier2"]), 403
    )
    assert_problem(client.post(f"/v1/entries/{entry['id']}/withdraw", headers=callers["carrier2"]), 409)
    assert_problem(client.patch(f"/v1/entries/{entry['id']}", json={"category": "x"}, headers=callers["carrier2"]), 403)


def test_a_short_patched_expiry_ends_only_that_orgs_report(client, callers, publish, app):
    entry = _corroborated(publish)
    soon = utcnow() + dt.timedelta(seconds=2)
    patched = client.patch(f"/v1/entries/{entry['id']}", json={"expires_at": _iso(soon)}, headers=callers["carrier2"])
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert _at(patched.json["expires_at"]) > soon + dt.timedelta(days=1)  # the others' reports still run
    mine = next(r for r in patched.json["reports"] if r["org"]["name"] == "carrier2-org")
    assert abs(_at(mine["expires_at"]) - soon) < dt.timedelta(seconds=1)
    with app.app_context():
        assert expire_due(now=soon + dt.timedelta(seconds=5)) == 1
    after = client.get(f"/v1/entries/{entry['id']}", headers=callers["consumer"]).json
    assert after["status"] == "active" and after["reporters"] == 2
    assert [r["close_reason"] for r in after["reports"] if r["withdrawn_at"]] == ["ttl"]
    assert _ops(app)[-1] == "upsert"


def test_the_entry_expires_with_its_latest_report(client, callers, publish, app):
    now = utcnow()
    first = publish("code", "10690077", expires_at=_iso(now + dt.timedelta(days=10))).json
    second = publish("code", "10690077", as_="internet", expires_at=_iso(now + dt.timedelta(days=20))).json
    assert _at(second["expires_at"]) == _at(first["expires_at"]) + dt.timedelta(days=10)
    withdrawn = client.post(f"/v1/entries/{first['id']}/withdraw", headers=callers["internet"]).json
    assert withdrawn["status"] == "active" and _at(withdrawn["expires_at"]) == _at(first["expires_at"])
    with app.app_context():
        assert expire_due(now=now + dt.timedelta(days=11)) == 1
    assert client.get(f"/v1/entries/{first['id']}", headers=callers["consumer"]).json["status"] == "expired"
    assert _ops(app)[-1] == "remove"


def test_a_regulators_patched_expiry_applies_to_every_report(client, callers, publish):
    entry = _corroborated(publish, orgs=("carrier", "internet"))
    soon = utcnow() + dt.timedelta(hours=1)
    patched = client.patch(f"/v1/entries/{entry['id']}", json={"expires_at": _iso(soon)}, headers=callers["regulator"])
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert abs(_at(patched.json["expires_at"]) - soon) < dt.timedelta(seconds=1)
    assert all(abs(_at(r["expires_at"]) - soon) < dt.timedelta(seconds=1) for r in patched.json["reports"])


def test_a_regulator_expires_the_whole_entry(client, callers, publish, app):
    entry = _corroborated(publish)
    done = client.post(
        f"/v1/entries/{entry['id']}/expire", json={"reason": "campaign over"}, headers=callers["regulator"]
    )
    assert done.json["status"] == "expired" and done.json["reporters"] == 0
    assert {r["close_reason"] for r in done.json["reports"]} == {"campaign over"}
    assert _ops(app)[-1] == "remove"


def _tags(client, callers, entry_id):
    return client.get(f"/v1/entries/{entry_id}", headers=callers["consumer"]).json["tags"]


def test_an_org_removes_only_the_tags_it_added(client, callers, publish):
    entry = publish("domain", "tagged-scam.example.com", tags=["fraud:phishing"]).json
    publish("domain", "tagged-scam.example.com", as_="internet", tags=["channel:sms"])
    url = f"/v1/entries/{entry['id']}"
    body = assert_problem(client.patch(url, json={"remove_tags": ["fraud:phishing"]}, headers=callers["internet"]), 403)
    assert "fraud:phishing" in body["detail"]
    # Replacing "its" tags leaves the other org's tags alone.
    replaced = client.patch(url, json={"tags": ["source:12321"]}, headers=callers["internet"])
    assert replaced.status_code == 200, replaced.get_data(as_text=True)
    assert replaced.json["tags"] == ["fraud:phishing", "source:12321"]
    # Both claim a tag: one org's removal leaves it, the second's takes it off.
    assert client.patch(url, json={"add_tags": ["fraud:phishing"]}, headers=callers["internet"]).status_code == 200
    assert client.patch(url, json={"remove_tags": ["fraud:phishing"]}, headers=callers["carrier"]).status_code == 200
    assert _tags(client, callers, entry["id"]) == ["fraud:phishing", "source:12321"]
    assert client.patch(url, json={"remove_tags": ["fraud:phishing"]}, headers=callers["internet"]).status_code == 200
    assert _tags(client, callers, entry["id"]) == ["source:12321"]
    # A regulator removes any tag, whoever added it.
    assert client.patch(url, json={"remove_tags": ["source:12321"]}, headers=callers["regulator"]).status_code == 200
    assert _tags(client, callers, entry["id"]) == []


def test_adding_a_tag_another_org_added_is_recorded_as_a_claim(client, callers, publish):
    entry = publish("code", "10690088", tags=["fraud:loan"]).json
    publish("code", "10690088", as_="internet")
    url = f"/v1/entries/{entry['id']}"
    claimed = client.patch(url, json={"add_tags": ["fraud:loan"], "reason": "seen too"}, headers=callers["internet"])
    assert claimed.status_code == 200
    audit = client.get("/v1/audit", query_string={"action": "entry.update"}, headers=callers["regulator"]).json
    assert audit["items"][-1]["after"]["claimed_by_actor"] == ["fraud:loan"]
    client.patch(url, json={"remove_tags": ["fraud:loan"]}, headers=callers["carrier"])
    assert _tags(client, callers, entry["id"]) == ["fraud:loan"]


# --- no re-listing of revoked values through something wider (item 12) ----------------------

REVOKED_AND_WIDER = [
    ("number", "+8613500001234", "range", "1350000123x"),
    ("number", "+8613500001234", "range", "861350000123x"),
    ("code", "10690001", "range", "1069000x"),
    ("keyword", "安全账户冻结通知", "keyword", "安全 账户 冻结"),
    ("domain", "login.bank-example.com", "domain", "bank-example.com"),
    ("url", "http://login.bank-example.org/verify", "domain", "bank-example.org"),
]


@pytest.mark.parametrize("kind,value,wide_kind,wide", REVOKED_AND_WIDER)
def test_a_revoked_value_is_not_relisted_through_a_wider_one(client, callers, publish, kind, value, wide_kind, wide):
    entry = publish(kind, value, as_="internet").json
    revoked = client.post(
        f"/v1/entries/{entry['id']}/revoke", json={"reason": "legitimate"}, headers=callers["regulator"]
    )
    assert revoked.json["status"] == "revoked"
    body = assert_problem(publish(wide_kind, wide), 409)
    assert f"entry {entry['id']}" in body["detail"]
    bulk = client.post(
        "/v1/entries/bulk",
        json={"items": [{"kind": "code", "value": "10691234"}, {"kind": wide_kind, "value": wide}]},
        headers=callers["carrier"],
    )
    assert set(assert_problem(bulk, 409)["errors"]["items"]) == {"1"}
    assert publish(wide_kind, wide, as_="regulator").status_code == 201


# --- disputes are for active reporters (item 11) ---------------------------------------------


def test_an_org_that_withdrew_no_longer_sees_disputes_on_the_entry(client, callers, publish):
    entry = publish("number", "13700001111").json
    filed = client.post(
        f"/v1/entries/{entry['id']}/disputes", json={"reason": "my number now"}, headers=callers["internet"]
    )
    assert filed.status_code == 201
    seen = lambda: [d["id"] for d in client.get("/v1/disputes", headers=callers["carrier"]).json["items"]]  # noqa: E731
    assert seen() == [filed.json["id"]]
    client.post(f"/v1/entries/{entry['id']}/withdraw", headers=callers["carrier"])
    assert seen() == []
    assert [d["id"] for d in client.get("/v1/disputes", headers=callers["internet"]).json["items"]] == [
        filed.json["id"]
    ]
