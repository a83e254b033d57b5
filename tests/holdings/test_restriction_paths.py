"""Restriction follows the subject from every path that changes a subject's active reports:
the sweeper (time), PATCH expires_at, a second org's listing, a dispute overturned, the
allowlist; and a holding's own end date. One mechanism (`holdings/restriction.py`); each path
is driven over HTTP and checked on the held resource's entry and the feed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from support.subjects import make_uscc

from blocklist.db import db, utcnow
from blocklist.feeds.models import FeedChange
from blocklist.feeds.sweeper import expire_all_due

FIRM = make_uscc(21)
CODE = "10690021"


def _post(client, path, headers, body=None, status=200):
    response = client.post(path, json=body if body is not None else {}, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json


def _hold(client, callers, valid_to=None, code=CODE):
    body = {
        "resource": {"kind": "code", "value": code},
        "subject": {"kind": "enterprise", "value": FIRM},
        "role": "holder",
    }
    if valid_to is not None:
        body["valid_to"] = valid_to
    return _post(client, "/v1/holdings", callers["carrier"], body, 201)


def _code(client, callers, code=CODE):
    verdict = client.get("/v1/lookup", query_string={"kind": "code", "value": code}, headers=callers["consumer"]).json
    return verdict["matches"][0] if verdict["matches"] else None


def _feed_ops(app, value=CODE):
    with app.app_context():
        rows = db.session.execute(
            select(FeedChange.op).where(FeedChange.value == value).order_by(FeedChange.position)
        ).all()
    return [row.op for row in rows]


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_the_sweeper_closes_what_time_ends_on_the_subject(app, client, callers, publish, clock):
    _hold(client, callers)
    expires = utcnow() + dt.timedelta(minutes=10)
    publish("enterprise", FIRM, as_="regulator", expires_at=_iso(expires))
    entry = _code(client, callers)
    assert entry["expires_at"] == expires.isoformat()  # the subject report's time
    clock.advance(20 * 60)
    assert _code(client, callers) is None  # restricts no more, to the second
    with app.app_context():
        assert expire_all_due() == 2  # the subject and the code
    assert _feed_ops(app) == ["upsert", "remove"]


def test_patching_the_subjects_expiry_moves_the_via_reports(client, callers, publish):
    _hold(client, callers)
    subject = publish("enterprise", FIRM, as_="regulator").json
    later = "2099-01-01T00:00:00Z"
    patched = client.patch(f"/v1/entries/{subject['id']}", json={"expires_at": later}, headers=callers["regulator"])
    assert patched.status_code == 200, patched.json
    entry = _code(client, callers)
    assert entry["expires_at"] == "2099-01-01T00:00:00+00:00"
    assert [r["expires_at"] for r in entry["reports"]] == ["2099-01-01T00:00:00+00:00"]


def test_a_holding_ending_later_limits_the_via_report_and_a_tag_change_changes_nothing(app, client, callers, publish):
    publish("enterprise", FIRM, as_="regulator", expires_at="2099-01-01T00:00:00Z")
    holding = _hold(client, callers, valid_to="2098-01-01T00:00:00Z")
    entry = _code(client, callers)
    assert entry["expires_at"] == "2098-01-01T00:00:00+00:00"
    assert entry["reports"][0]["via"]["holding_id"] == holding["id"]
    ops = _feed_ops(app)
    subject = client.get("/v1/lookup", query_string={"kind": "enterprise", "value": FIRM}, headers=callers["consumer"])
    subject_id = subject.json["matches"][0]["id"]
    tagged = client.patch(
        f"/v1/entries/{subject_id}", json={"add_tags": ["list:dishonest"]}, headers=callers["regulator"]
    )
    assert tagged.status_code == 200
    assert _feed_ops(app) == ops  # idempotent: nothing to change on the code


def test_each_listing_org_has_its_own_via_report(client, callers, publish):
    holding = _hold(client, callers)
    publish("enterprise", FIRM, as_="regulator")
    second = publish("enterprise", FIRM, as_="carrier2").json
    entry = _code(client, callers)
    assert entry["reporters"] == 2
    assert sorted(r["org"]["id"] for r in entry["reports"]) == sorted(
        [callers.org_id("regulator"), callers.org_id("carrier2")]
    )
    assert {r["via"]["holding_id"] for r in entry["reports"]} == {holding["id"]}
    # carrier2 withdraws its listing: its via report closes, the regulator's stays.
    _post(client, f"/v1/entries/{second['id']}/withdraw", callers["carrier2"])
    entry = _code(client, callers)
    open_reports = [r for r in entry["reports"] if r["withdrawn_at"] is None]
    assert entry["reporters"] == 1 and [r["org"]["id"] for r in open_reports] == [callers.org_id("regulator")]
    # A direct report on the code is its own and survives the subject's delisting.
    publish("code", CODE, as_="internet")
    subject_id = second["id"]
    _post(client, f"/v1/entries/{subject_id}/revoke", callers["regulator"], {"reason": "wrong firm"})
    entry = _code(client, callers)
    assert [r["org"]["id"] for r in entry["reports"] if r["withdrawn_at"] is None] == [callers.org_id("internet")]


def test_a_dispute_overturned_and_the_allowlist_lift_the_subjects_resources(client, callers, publish):
    _hold(client, callers)
    _hold(client, callers, code="10690022")
    subject = publish("enterprise", FIRM, as_="carrier").json
    assert _code(client, callers) is not None
    dispute = _post(client, f"/v1/entries/{subject['id']}/disputes", callers["internet"], {"reason": "not us"}, 201)
    _post(client, f"/v1/disputes/{dispute['id']}/resolve", callers["regulator"], {"resolution": "overturned"})
    assert _code(client, callers) is None and _code(client, callers, "10690022") is None
    # Listed again by a regulator, then allowlisted: lifted again.
    publish("enterprise", FIRM, as_="regulator")
    assert _code(client, callers) is not None
    _post(
        client,
        "/v1/allowlist",
        callers["regulator"],
        {"kind": "enterprise", "value": FIRM, "reason": "state-owned operator"},
        201,
    )
    assert _code(client, callers) is None


def test_an_allowlisted_resource_is_never_restricted_via_a_subject(client, callers, publish):
    _post(client, "/v1/allowlist", callers["regulator"], {"kind": "code", "value": "95588", "reason": "ICBC"}, 201)
    _hold(client, callers, code="95588")
    publish("enterprise", FIRM, as_="regulator")
    verdict = client.get("/v1/lookup", query_string={"kind": "code", "value": "95588"}, headers=callers["consumer"])
    assert verdict.json["listed"] is False


def test_a_resource_entry_created_via_a_subject_carries_the_tier_refresh_gives_it(app, client, callers, publish):
    """Entries the restriction creates are inserted with their score, tier and next tier change
    (no UPDATE after): exactly what a fresh re-assessment stores, for a non-authoritative
    listing whose score ages (a standard org's) as for a regulator's."""
    from blocklist.entries import trust
    from blocklist.entries.models import Entry

    _hold(client, callers)
    _hold(client, callers, code="10690022")
    publish("enterprise", FIRM, as_="internet")
    with app.app_context():
        stored = {
            e.value: (e.score, e.tier, e.tier_due_at, e.reporters, e.version)
            for e in db.session.scalars(select(Entry).where(Entry.kind == "code"))
        }
        assert set(stored) == {CODE, "10690022"}
        assert all(
            due is not None and reporters == 1 and version == 1 for _, _, due, reporters, version in stored.values()
        )
        fresh = trust.refresh([e.id for e in db.session.scalars(select(Entry).where(Entry.kind == "code"))], utcnow())
        assert {
            db.session.get(Entry, entry_id).value: (a.score, a.tier, a.due_at) for entry_id, (_, a) in fresh.items()
        } == {value: s[:3] for value, s in stored.items()}
        assert all(before == a.tier for before, a in fresh.values())
        db.session.rollback()


def test_an_existing_entry_restricted_via_a_subject_stores_the_tier_refresh_gives_it(app, client, callers, publish):
    """An entry that already exists (a marking app's report, under an open dispute) is
    re-assessed by the restriction itself with the reports it read — no second read or UPDATE
    by the feed — and stores exactly what a fresh re-assessment stores; the feed's upsert
    records that tier. Withdrawing the listing does the same the other way."""
    from blocklist.entries import trust
    from blocklist.entries.models import Entry

    entry = publish("code", CODE, as_="internet")
    assert entry.status_code == 201
    _post(client, f"/v1/entries/{entry.json['id']}/disputes", callers["carrier"], {"reason": "ours"}, 201)
    _hold(client, callers)
    subject = publish("enterprise", FIRM, as_="regulator").json

    def stored_and_fresh():
        with app.app_context():
            row = db.session.get(Entry, entry.json["id"])
            stored = (row.score, row.tier, row.tier_due_at, row.reporters)
            feed_tier = db.session.scalar(
                select(FeedChange.tier).where(FeedChange.entry_id == row.id).order_by(FeedChange.position.desc())
            )
            (_, fresh) = trust.refresh([row.id], utcnow())[row.id]
            db.session.rollback()
        return stored, feed_tier, (fresh.score, fresh.tier, fresh.due_at)

    listed, feed_tier, fresh = stored_and_fresh()
    assert listed[3] == 2 and listed[:3] == fresh and feed_tier == listed[1]
    _post(client, f"/v1/entries/{subject['id']}/withdraw", callers["regulator"])
    delisted, feed_tier, fresh = stored_and_fresh()
    assert delisted[3] == 1 and delisted[:3] == fresh and feed_tier == delisted[1]
    assert listed[0] > delisted[0], "the regulator's via report raised the score; its end lowers it"
