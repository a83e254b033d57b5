"""The TAXII 2.1 server over HTTP (in process): discovery, collections, paging by `next` and by
`added_after` (a bulk insert shares one request time), filters, single objects, versions,
manifests, authentication by Basic and Bearer, TAXII error bodies, and the STIX it serves."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest
import stix2
from stix2patterns.validator import run_validator

from blocklist.db import db
from blocklist.exports import stix, taxii
from blocklist.feeds.changes import prune

# Every export reads on its own consistent connection: the test's writes must commit.
pytestmark = pytest.mark.committed

TAXII = "application/taxii+json;version=2.1"
ROOT = f"/taxii2/{taxii.API_ROOT}"
ALL = taxii.collection_id("all")


def _basic(creds) -> dict[str, str]:
    pair = f"{creds.client_id}:{creds.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode(), "Accept": TAXII}


@pytest.fixture
def reader(auth):
    return _basic(auth.org("consumer"))


def _get(client, path, headers, **params):
    response = client.get(path, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type == TAXII
    return response


def _bulk(client, callers, items, as_="carrier"):
    response = client.post("/v1/entries/bulk", json={"items": items}, headers=callers[as_])
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.json["items"]]


def _all_pages(client, headers, collection=ALL, **params):
    """Every object, following `next`; (objects, pages)."""
    objects, pages, token = [], 0, None
    while True:
        query = dict(params, **({"next": token} if token else {}))
        body = _get(client, f"{ROOT}/collections/{collection}/objects/", headers, **query).json
        objects += body["objects"]
        pages += 1
        if not body["more"]:
            assert "next" not in body
            return objects, pages
        token = body["next"]


def _indicators(objects):
    return {o["id"]: o for o in objects if o["type"] == "indicator"}


def test_discovery_api_root_and_collections(client, reader):
    discovery = _get(client, "/taxii2/", reader).json
    assert discovery["api_roots"] == [f"http://localhost{ROOT}/"] and discovery["default"] == f"http://localhost{ROOT}/"
    root = _get(client, f"{ROOT}/", reader).json
    assert root["versions"] == [TAXII]
    collections = _get(client, f"{ROOT}/collections/", reader).json["collections"]
    titles = {c["id"]: c["title"] for c in collections}
    assert len(collections) == 9 and titles[ALL] == "all"
    assert all(c["can_read"] and not c["can_write"] for c in collections)
    one = _get(client, f"{ROOT}/collections/{taxii.collection_id('url')}/", reader).json
    assert one["media_types"] == ["application/stix+json;version=2.1"] and one["title"] == "url"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/taxii2/other/", 404),
        (f"{ROOT}/collections/{uuid.uuid4()}/", 404),
        (f"{ROOT}/collections/{ALL}/objects/?limit=0", 400),
        (f"{ROOT}/collections/{ALL}/objects/?limit=x", 400),
        (f"{ROOT}/collections/{ALL}/objects/?next=bm9wZQ", 400),
        (f"{ROOT}/collections/{ALL}/objects/?added_after=yesterday", 400),
        (f"{ROOT}/collections/{ALL}/objects/?match[id]=nonsense", 400),
        (f"{ROOT}/collections/{ALL}/objects/indicator--{uuid.uuid4()}/", 404),
        (f"{ROOT}/collections/{ALL}/objects/not-an-id/versions/", 404),
    ],
)
def test_errors_have_the_taxii_error_shape(client, reader, path, status):
    response = client.get(path, headers=reader)
    assert response.status_code == status
    assert response.content_type == TAXII
    body = response.json
    assert body["http_status"] == str(status) and body["title"] and body["description"]


def test_credentials_basic_or_bearer_with_feeds_read_and_nothing_else(client, auth):
    consumer = auth.org("consumer")
    assert client.get("/taxii2/", headers=_basic(consumer)).status_code == 200
    bearer = {"Authorization": "Bearer " + auth.token(consumer), "Accept": TAXII}
    assert client.get("/taxii2/", headers=bearer).status_code == 200
    for headers in (
        {"Accept": TAXII},
        _basic(type(consumer)(consumer.org_id, "consumer", consumer.client_id, "wrong")),
        _basic(type(consumer)(0, "consumer", "blc_nobody", "wrong")),
        {"Authorization": "Bearer nope", "Accept": TAXII},
    ):
        response = client.get("/taxii2/", headers=headers)
        assert response.status_code == 401 and response.content_type == TAXII
        assert "Basic" in response.headers["WWW-Authenticate"] or "Bearer" in response.headers["WWW-Authenticate"]
        assert response.json["http_status"] == "401"
    no_feeds = auth.client_for(consumer.org_id, scope="entries:read")
    for headers in (_basic(no_feeds), {"Authorization": "Bearer " + auth.token(no_feeds), "Accept": TAXII}):
        response = client.get("/taxii2/", headers=headers)
        assert response.status_code == 403 and response.json["http_status"] == "403"


def test_accept_must_admit_taxii_2_1(client, reader):
    for accept in ("application/json", "application/taxii+json;version=2.0"):
        response = client.get("/taxii2/", headers={**reader, "Accept": accept})
        assert response.status_code == 406 and response.content_type == TAXII
    for accept in ("*/*", "application/taxii+json", "text/html, application/taxii+json;version=2.1"):
        assert client.get("/taxii2/", headers={**reader, "Accept": accept}).status_code == 200


def test_indicators_are_stix_2_1_with_deterministic_ids_and_the_entry_in_them(client, callers, reader):
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    _bulk(
        client,
        callers,
        [
            {"kind": "url", "value": "http://evil.example.com/login?x='1'", "tags": ["fraud:phishing"]},
            {"kind": "domain", "value": "scam-shop.example.com"},
            {"kind": "number", "value": "+8613800138000", "expires_at": expires},
            {"kind": "code", "value": "10687415"},
            {"kind": "range", "value": "952750xx"},
            {"kind": "keyword", "value": "安全账户"},
        ],
    )
    client.post("/v1/entries", json={"kind": "code", "value": "10687415"}, headers=callers["regulator"])
    objects, _ = _all_pages(client, reader)
    for obj in objects:
        stix2.parse(json.dumps(obj), allow_custom=False)  # valid STIX 2.1 by the library's own checks
    indicators = _indicators(objects)
    entries = client.get("/v1/entries", headers=callers["carrier"]).json["items"]
    assert set(indicators) == {stix.indicator_id(e["kind"], e["value"]) for e in entries}
    by_kind = {o["extensions"][stix.EXTENSION_DEFINITION.id]["kind"]: o for o in indicators.values()}
    for indicator in indicators.values():
        assert run_validator(indicator["pattern"], "2.1") == []
        assert indicator.get("revoked", False) is False
    assert by_kind["url"]["pattern"].startswith("[url:value = 'http://evil.example.com/login?x=\\'1\\'")
    assert by_kind["url"]["labels"] == ["fraud:phishing"]
    assert by_kind["domain"]["pattern"] == "[domain-name:value = 'scam-shop.example.com']"
    assert by_kind["number"]["pattern"] == "[x-blocklist-number:value = '+8613800138000']"
    assert by_kind["number"]["valid_until"].startswith(expires[:16])
    assert by_kind["keyword"]["pattern"] == "[x-blocklist-keyword:value = '安全账户']"
    assert by_kind["code"]["confidence"] == 85  # tier block (a regulator reported it)
    assert by_kind["range"]["confidence"] == 85  # tier block (one carrier)
    identities = {o["id"]: o for o in objects if o["type"] == "identity"}
    carrier = stix.identity_id(callers.org_id("carrier"))
    assert identities[carrier]["name"] == "carrier-org" and by_kind["range"]["created_by_ref"] == carrier
    assert by_kind["code"]["created_by_ref"] == carrier  # the first reporter


def test_paging_by_next_gives_each_latest_version_once_and_revocations(client, callers, reader):
    ids = _bulk(client, callers, [{"kind": "code", "value": f"1068000{i}"} for i in range(7)])
    first = _get(client, f"{ROOT}/collections/{ALL}/objects/", reader, limit=3).json
    assert first["more"] is True and len(first["objects"]) == 3  # identity + 2 indicators
    # Writes between pages: one entry revoked, one withdrawn, one new.
    client.post(f"/v1/entries/{ids[0]}/revoke", json={"reason": "wrong"}, headers=callers["regulator"])
    client.post(f"/v1/entries/{ids[5]}/withdraw", json={}, headers=callers["carrier"])
    client.post("/v1/entries", json={"kind": "code", "value": "10689999"}, headers=callers["carrier"])
    objects, token = list(first["objects"]), first["next"]
    while token:
        body = _get(client, f"{ROOT}/collections/{ALL}/objects/", reader, limit=3, next=token).json
        assert len(body["objects"]) <= 3
        objects += body["objects"]
        token = body.get("next")
    versions = [(o["id"], o["modified"]) for o in objects if o["type"] == "indicator"]
    assert len(versions) == len(set(versions))  # no version twice
    latest = {}
    for stix_id, modified in versions:
        latest[stix_id] = max(latest.get(stix_id, ""), modified)
    final = _indicators(_all_pages(client, reader)[0])
    assert {i: o["modified"] for i, o in final.items()} == latest
    assert final[stix.indicator_id("code", "10680000")].get("revoked") is True
    assert final[stix.indicator_id("code", "10680005")].get("revoked") is True
    assert final[stix.indicator_id("code", "10689999")].get("revoked", False) is False
    assert sum(not o.get("revoked", False) for o in final.values()) == 6


def test_added_after_splits_a_bulk_insert_without_skipping_or_repeating(client, callers, reader):
    _bulk(client, callers, [{"kind": "code", "value": f"1068100{i}"} for i in range(6)])  # one request time
    seen, added_after, rounds = [], None, 0
    while rounds < 10:
        params = {"limit": 2, "match[type]": "indicator"}
        if added_after:
            params["added_after"] = added_after
        response = _get(client, f"{ROOT}/collections/{ALL}/objects/", reader, **params)
        if not response.json["objects"]:
            assert "X-TAXII-Date-Added-Last" not in response.headers
            break
        seen += [o["extensions"][stix.EXTENSION_DEFINITION.id]["value"] for o in response.json["objects"]]
        first, last = response.headers["X-TAXII-Date-Added-First"], response.headers["X-TAXII-Date-Added-Last"]
        assert first < last or len(response.json["objects"]) == 1
        added_after, rounds = last, rounds + 1
    assert seen == [f"1068100{i}" for i in range(6)]


def test_filters_single_objects_versions_and_manifest(client, callers, reader):
    _bulk(
        client,
        callers,
        [{"kind": "domain", "value": "a.example.com"}, {"kind": "url", "value": "http://b.example.org/x"}],
    )
    domain_id = stix.indicator_id("domain", "a.example.com")
    domains = _taxii_objects(client, reader, taxii.collection_id("domain"))
    assert [o["id"] for o in domains if o["type"] == "indicator"] == [domain_id]
    assert _taxii_objects(client, reader, ALL, **{"match[id]": domain_id}) == [
        o for o in domains if o["id"] == domain_id
    ]
    assert {o["type"] for o in _taxii_objects(client, reader, ALL, **{"match[type]": "identity"})} == {"identity"}
    assert _taxii_objects(client, reader, ALL, **{"match[spec_version]": "2.0"}) == []
    one = _get(client, f"{ROOT}/collections/{ALL}/objects/{domain_id}/", reader)
    assert one.json["objects"][0]["id"] == domain_id
    assert one.headers["X-TAXII-Date-Added-First"] == one.headers["X-TAXII-Date-Added-Last"]
    in_urls = client.get(f"{ROOT}/collections/{taxii.collection_id('url')}/objects/{domain_id}/", headers=reader)
    assert in_urls.status_code == 404  # not in that collection
    versions = _get(client, f"{ROOT}/collections/{ALL}/objects/{domain_id}/versions/", reader).json
    assert versions["more"] is False and len(versions["versions"]) == 1
    assert _same_time(versions["versions"][0], one.json["objects"][0]["modified"])
    manifest = _get(client, f"{ROOT}/collections/{ALL}/manifest/", reader, **{"match[type]": "indicator"}).json
    assert [m["id"] for m in manifest["objects"]] == [domain_id, stix.indicator_id("url", "http://b.example.org/x")]
    assert all(m["media_type"] == "application/stix+json;version=2.1" for m in manifest["objects"])
    assert _same_time(manifest["objects"][0]["version"], one.json["objects"][0]["modified"])
    static = _get(client, f"{ROOT}/collections/{ALL}/objects/{stix.EXTENSION_DEFINITION.id}/", reader).json
    assert static["objects"][0]["extension_types"] == ["new-sco", "property-extension"]


def test_entries_whose_changes_were_pruned_are_still_served(app, client, callers, reader, clock):
    _bulk(client, callers, [{"kind": "code", "value": f"1068200{i}"} for i in range(4)])
    clock.advance(8 * 86400)
    with app.app_context():
        assert prune() == 4
        db.session.commit()
    # A fresh org: the first one's token expired while the clock moved on.
    later = client.post("/v1/entries", json={"kind": "code", "value": "10682009"}, headers=callers["carrier2"])
    assert later.status_code == 201
    objects, pages = _all_pages(client, reader, limit=2, **{"match[type]": "indicator"})
    assert sorted(o["extensions"][stix.EXTENSION_DEFINITION.id]["value"] for o in objects) == [
        "10682000",
        "10682001",
        "10682002",
        "10682003",
        "10682009",
    ]
    assert pages == 3


def _taxii_objects(client, headers, collection, **params):
    return _get(client, f"{ROOT}/collections/{collection}/objects/", headers, **params).json["objects"]


def _same_time(a: str, b: str) -> bool:
    parse = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return parse(a) == parse(b)
