"""An indicator's versions (TAXII 2.1 §5.7): one per change of its entry still in the change log,
oldest first, paged by `next`, filtered by `added_after`; and its `confidence`, which comes from
the tier recorded with the entry's latest feed change, so it never moves without a new version."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from sqlalchemy import select

from blocklist.db import db
from blocklist.exports import stix, taxii
from blocklist.feeds.changes import prune
from blocklist.feeds.models import FeedChange
from blocklist.feeds.sweeper import retier_all_due

pytestmark = pytest.mark.committed

TAXII = "application/taxii+json;version=2.1"
ROOT = f"/taxii2/{taxii.API_ROOT}"
ALL = taxii.collection_id("all")
DAY = 86400


@pytest.fixture
def reader(auth):
    creds = auth.org("consumer")
    pair = f"{creds.client_id}:{creds.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode(), "Accept": TAXII}


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _object(client, reader, kind, value):
    response = client.get(f"{ROOT}/collections/{ALL}/objects/{stix.indicator_id(kind, value)}/", headers=reader)
    assert response.status_code == 200, response.json
    return response.json["objects"][0]


def _versions(client, reader, kind, value, status=200, **params):
    path = f"{ROOT}/collections/{ALL}/objects/{stix.indicator_id(kind, value)}/versions/"
    response = client.get(path, headers=reader, query_string=params)
    assert response.status_code == status, response.json
    assert response.content_type == TAXII
    return response


def _change_times(app, value):
    with app.app_context():
        rows = db.session.scalars(
            select(FeedChange.created_at).where(FeedChange.value == value).order_by(FeedChange.position)
        ).all()
        db.session.rollback()
    return list(rows)


def test_every_retained_change_is_a_version_oldest_first_and_paged(app, client, callers, reader):
    code = "10694001"
    created = client.post("/v1/entries", json={"kind": "code", "value": code}, headers=callers["carrier"])
    assert created.status_code == 201
    corroborated = client.post("/v1/entries", json={"kind": "code", "value": code}, headers=callers["carrier2"])
    assert corroborated.status_code == 200
    revoked = client.post(
        f"/v1/entries/{created.json['id']}/revoke", json={"reason": "wrong"}, headers=callers["regulator"]
    )
    assert revoked.status_code == 200
    changed = _change_times(app, code)
    assert len(changed) == 3  # upsert, upsert, remove

    response = _versions(client, reader, "code", code)
    body = response.json
    assert body["more"] is False and "next" not in body
    assert [_time(v) for v in body["versions"]] == changed
    assert _time(body["versions"][-1]) == _time(_object(client, reader, "code", code)["modified"])
    assert _time(response.headers["X-TAXII-Date-Added-First"]) == changed[0]
    assert _time(response.headers["X-TAXII-Date-Added-Last"]) == changed[-1]

    pages, token = [], None
    while True:
        page = _versions(client, reader, "code", code, limit=1, **({"next": token} if token else {})).json
        pages.append(page["versions"])
        if not page["more"]:
            break
        token = page["next"]
    assert pages == [[v] for v in body["versions"]]

    after_first = _versions(client, reader, "code", code, added_after=body["versions"][0]).json
    assert after_first["versions"] == body["versions"][1:]
    none_after = _versions(client, reader, "code", code, added_after=body["versions"][-1])
    assert none_after.json == {"more": False, "versions": []}
    assert "X-TAXII-Date-Added-First" not in none_after.headers
    assert _versions(client, reader, "code", code, **{"match[spec_version]": "2.0"}).json["versions"] == []


def test_versions_of_static_and_unknown_objects_and_bad_requests(client, callers, reader):
    static = client.get(f"{ROOT}/collections/{ALL}/objects/{stix.EXTENSION_DEFINITION.id}/versions/", headers=reader)
    assert static.status_code == 200 and len(static.json["versions"]) == 1
    assert (
        client.post("/v1/entries", json={"kind": "code", "value": "10694002"}, headers=callers["carrier"]).status_code
        < 300
    )
    _versions(client, reader, "code", "10694999", status=404)
    in_urls = client.get(
        f"{ROOT}/collections/{taxii.collection_id('url')}/objects/{stix.indicator_id('code', '10694002')}/versions/",
        headers=reader,
    )
    assert in_urls.status_code == 404
    for params in ({"next": taxii.encode_next("e", 3)}, {"next": "bm9wZQ"}, {"next": taxii.encode_next("p", 10**12)}):
        response = _versions(client, reader, "code", "10694002", status=400, **params)
        assert response.json["http_status"] == "400"
    assert client.get(f"{ROOT}/collections/{ALL}/objects/indicator--x/versions/", headers=reader).status_code == 404
    assert (
        client.get(f"{ROOT}/collections/{ALL}/objects/{stix.indicator_id('code', '10694002')}/versions/").status_code
        == 401
    )


def test_pruned_changes_leave_the_retained_versions_or_the_current_one(app, client, callers, reader, clock):
    for value in ("10694003", "10694004"):
        assert (
            client.post("/v1/entries", json={"kind": "code", "value": value}, headers=callers["carrier"]).status_code
            < 300
        )
    old = _versions(client, reader, "code", "10694004").json["versions"]
    clock.advance(8 * DAY)
    with app.app_context():
        assert prune() >= 2
        db.session.commit()
    later = client.post("/v1/entries", json={"kind": "code", "value": "10694004"}, headers=callers["carrier2"])
    assert later.status_code == 200
    kept = _versions(client, reader, "code", "10694004").json["versions"]
    assert len(kept) == 1 and kept[0] > old[-1]  # the pruned first version is gone
    only = _versions(client, reader, "code", "10694003").json["versions"]
    assert [_time(v) for v in only] == [_time(_object(client, reader, "code", "10694003")["modified"])]
    stale = taxii.encode_next("p", 1)
    assert _versions(client, reader, "code", "10694004", status=400, next=stale).json["http_status"] == "400"


def test_confidence_is_the_recorded_tier_and_moves_only_with_a_new_version(app, client, callers, reader, clock):
    labelled = client.post(
        "/v1/entries", json={"kind": "number", "value": "+8613800138111"}, headers=callers["internet"]
    )
    assert labelled.status_code == 201 and labelled.json["tier"] == "label"
    blocked = client.post("/v1/entries", json={"kind": "code", "value": "10694005"}, headers=callers["carrier"])
    assert blocked.json["tier"] == "block"
    gone = client.post("/v1/entries", json={"kind": "code", "value": "10694006"}, headers=callers["carrier"])
    assert client.post(f"/v1/entries/{gone.json['id']}/withdraw", json={}, headers=callers["carrier"]).status_code < 300
    regulated = client.post("/v1/entries", json={"kind": "code", "value": "10694007"}, headers=callers["regulator"])
    assert regulated.status_code == 201
    assert _object(client, reader, "code", "10694005")["confidence"] == stix.TIER_CONFIDENCE["block"] == 85
    assert _object(client, reader, "code", "10694007")["confidence"] == 85
    withdrawn = _object(client, reader, "code", "10694006")
    assert withdrawn["revoked"] is True and withdrawn["confidence"] == 0

    before = _object(client, reader, "number", "+8613800138111")
    assert before["confidence"] == stix.TIER_CONFIDENCE["label"] == 50
    clock.advance(DAY)  # the entry ages (its score would be 45), the tier holds: no feed change
    with app.app_context():
        retier_all_due()
    assert len(_change_times(app, "+8613800138111")) == 1
    assert _object(client, reader, "number", "+8613800138111") == before  # the same version, unchanged

    clock.advance(5 * DAY)  # past 5 d 07:53: the tier job moves it to watch, with a feed upsert
    with app.app_context():
        assert retier_all_due() >= 1
    after = _object(client, reader, "number", "+8613800138111")
    assert after["confidence"] == stix.TIER_CONFIDENCE["watch"] == 15
    assert _time(after["modified"]) > _time(before["modified"])
    versions = _versions(client, reader, "number", "+8613800138111").json["versions"]
    assert [_time(v) for v in versions] == [_time(before["modified"]), _time(after["modified"])]


def test_confidence_of_a_change_from_before_tiers_reads_as_block():
    assert stix.confidence(None, revoked=False) == stix.TIER_CONFIDENCE["block"]
    assert stix.confidence("watch", revoked=True) == 0
