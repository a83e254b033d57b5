"""The MISP feed, the DNS exports and the plain lists over HTTP, read by the stock tools:
pymisp loads every event with no warning, dnspython parses the zone and `named-checkzone`
(Debian's bind9-utils) accepts it; ETags and conditional GETs; authentication."""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import warnings

import dns.rdatatype
import dns.zone
import pytest
from pymisp import MISPEvent
from sqlalchemy import select, update
from support.problems import assert_problem

from blocklist.db import db
from blocklist.entries.models import Entry
from blocklist.exports import misp, stix

pytestmark = pytest.mark.committed  # every export reads on its own consistent connection

ITEMS = [
    {"kind": "domain", "value": "scam-shop.example.com", "tags": ["fraud:shop"]},
    {"kind": "domain", "value": "例子.example.org"},
    {"kind": "url", "value": "http://login.evil.example.net/bank?id=1"},
    {"kind": "url", "value": "http://login.evil.example.net/other"},
    {"kind": "url", "value": "http://192.0.2.7/x"},
    {"kind": "number", "value": "+8613800138000"},
    {"kind": "code", "value": "10687415", "tags": ["channel:sms", "fraud:ticket-scam"]},
    {"kind": "range", "value": "952750xx"},
    {"kind": "keyword", "value": "安全账户"},
]


@pytest.fixture
def listed(client, callers):
    response = client.post("/v1/entries/bulk", json={"items": ITEMS}, headers=callers["carrier"])
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["items"]


@pytest.fixture
def reader(callers):
    return callers["consumer"]


def _get(client, path, headers, status=200, **params):
    response = client.get(path, headers=headers, query_string=params)
    assert response.status_code == status, response.get_data(as_text=True)
    return response


def test_misp_feed_loads_in_pymisp_without_warnings(client, callers, listed, reader):
    manifest = _get(client, "/v1/export/misp/manifest.json", reader).json
    assert set(manifest) == set(misp.EVENTS)
    hashes = list(csv.reader(io.StringIO(_get(client, "/v1/export/misp/hashes.csv", reader).get_data(as_text=True))))
    values = {}
    for event_uuid, header in manifest.items():
        body = _get(client, f"/v1/export/misp/{event_uuid}.json", reader).get_data(as_text=True)
        event = MISPEvent()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            event.load(body)
        assert event.uuid == event_uuid and str(event.info) == header["info"]
        assert int(event.timestamp.timestamp()) == int(header["timestamp"])
        kind = misp.EVENTS[event_uuid]
        for attribute in event.attributes:
            assert attribute.uuid == str(stix.object_uuid(kind, attribute.value))
            values[(kind, attribute.value)] = attribute
    entries = client.get("/v1/entries", headers=callers["carrier"]).json["items"]
    assert set(values) == {(e["kind"], e["value"]) for e in entries}
    code = values[("code", "10687415")]
    assert code.type == "phone-number" and [t.name for t in code.tags] == ["channel:sms", "fraud:ticket-scam"]
    assert values[("url", "http://login.evil.example.net/other")].type == "url"
    expected = sorted([hashlib.md5(value.encode()).hexdigest(), misp.event_uuid(kind)] for kind, value in values)
    assert sorted(hashes) == expected


def test_misp_attribute_uuids_are_the_stored_object_uuids(app, client, listed, reader):
    """An attribute's uuid is the entry's stored `object_uuid`, read with its row (not derived
    per row); a row a node of the previous release wrote without one (rolling upgrade, not yet
    filled in by the sweeper) gets the same UUIDv5 derived from its kind and value."""
    with app.app_context():
        stored = dict(db.session.execute(select(Entry.value, Entry.object_uuid).where(Entry.kind == "url")).all())
        unfilled = "http://192.0.2.7/x"
        db.session.execute(update(Entry).where(Entry.value == unfilled).values(object_uuid=None))
        db.session.commit()
    event = MISPEvent()
    event.load(_get(client, f"/v1/export/misp/{misp.event_uuid('url')}.json", reader).get_data(as_text=True))
    uuids = {attribute.value: attribute.uuid for attribute in event.attributes}
    assert set(uuids) == set(stored)
    for value, object_uuid in stored.items():
        assert uuids[value] == str(object_uuid) == str(stix.object_uuid("url", value))
    assert uuids[unfilled] == str(stix.object_uuid("url", unfilled))


def test_misp_event_that_does_not_exist(client, reader):
    assert_problem(client.get("/v1/export/misp/00000000-0000-0000-0000-000000000000.json", headers=reader), 404)


def _zone_text(client, headers, **params):
    return _get(client, "/v1/export/rpz", headers, **params).get_data(as_text=True)


def test_rpz_zone_parses_and_blocks_domains_their_subdomains_and_url_hosts(client, listed, reader):
    response = _get(client, "/v1/export/rpz", reader, zone="rpz.blocklist.test")
    assert response.content_type.startswith("text/dns")
    zone = dns.zone.from_text(response.get_data(as_text=True), origin="rpz.blocklist.test.", relativize=True)
    names = {str(name) for name, node in zone.nodes.items() if node.get_rdataset(1, dns.rdatatype.CNAME)}
    assert names == {
        "scam-shop.example.com",
        "*.scam-shop.example.com",
        "xn--fsqu00a.example.org",
        "*.xn--fsqu00a.example.org",
        "login.evil.example.net",
    }
    for name in names:
        assert (
            zone.nodes[dns.name.from_text(name, None)].get_rdataset(1, dns.rdatatype.CNAME)[0].target == dns.name.root
        )
    soa = zone.get_rdataset("@", "SOA")[0]
    feed = client.get("/v1/feed/changes", headers=reader).json
    assert response.headers["X-Blocklist-Cursor"] == feed["next_cursor"]
    # The serial is the feed position of the last change to a domain or URL (the bulk's fifth item).
    assert soa.serial == max(c["position"] for c in feed["changes"] if c["entry"]["kind"] in ("domain", "url")) == 5


def test_rpz_serial_is_the_last_position_that_changed_domains_or_urls(client, callers, listed, reader):
    before = _zone_text(client, reader)
    etag = _get(client, "/v1/export/rpz", reader).headers["ETag"]
    client.post("/v1/entries", json={"kind": "code", "value": "10689999"}, headers=callers["carrier"])
    again = _get(client, "/v1/export/rpz", {**reader, "If-None-Match": etag}, status=304)
    assert again.headers["ETag"] == etag
    added = client.post("/v1/entries", json={"kind": "domain", "value": "new.example.com"}, headers=callers["carrier"])
    after = _get(client, "/v1/export/rpz", {**reader, "If-None-Match": etag})
    assert after.headers["ETag"] != etag and "new.example.com CNAME ." in after.get_data(as_text=True)
    serial = lambda text: dns.zone.from_text(text, origin="blocklist.rpz.").get_rdataset("@", "SOA")[0].serial  # noqa: E731
    assert serial(after.get_data(as_text=True)) > serial(before)
    assert added.status_code == 201


@pytest.mark.skipif(
    shutil.which("named-checkzone") is None and not os.environ.get("CI"),
    reason="named-checkzone is absent here (Debian: apt-get install bind9-utils); CI installs it and never skips",
)
def test_named_checkzone_accepts_the_zone(client, listed, reader, tmp_path):
    path = tmp_path / "rpz.zone"
    path.write_text(_zone_text(client, reader, zone="rpz.blocklist.test"))
    assert shutil.which("named-checkzone"), "CI must have named-checkzone (bind9-utils)"
    result = subprocess.run(
        ["named-checkzone", "-k", "fail", "-n", "fail", "rpz.blocklist.test", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_rpz_zone_name_is_checked(client, reader):
    for zone in ("bad zone", "a..b", "x" * 300, "-bad.example"):
        assert_problem(client.get("/v1/export/rpz", headers=reader, query_string={"zone": zone}), 400)


def test_hosts_file_and_plain_lists(client, listed, reader):
    hosts = _get(client, "/v1/export/hosts", reader).get_data(as_text=True).splitlines()
    assert hosts[0].startswith("#")
    assert hosts[1:] == [
        "0.0.0.0 scam-shop.example.com",
        "0.0.0.0 xn--fsqu00a.example.org",
        "0.0.0.0 login.evil.example.net",
    ]
    assert _get(client, "/v1/export/code.txt", reader).get_data(as_text=True) == "10687415\n"
    assert _get(client, "/v1/export/keyword.txt", reader).get_data(as_text=True) == "安全账户\n"
    urls = _get(client, "/v1/export/url.txt", reader).get_data(as_text=True).splitlines()
    assert urls == [
        "http://login.evil.example.net/bank?id=1",
        "http://login.evil.example.net/other",
        "http://192.0.2.7/x",
    ]
    assert _get(client, "/v1/export/person.txt", reader).get_data(as_text=True) == ""
    assert_problem(client.get("/v1/export/nope.txt", headers=reader), 404)


def test_conditional_get_and_gzip(client, listed, reader):
    first = _get(client, "/v1/export/domain.txt", reader)
    etag = first.headers["ETag"]
    assert _get(client, "/v1/export/domain.txt", {**reader, "If-None-Match": etag}, status=304).get_data() == b""
    assert _get(client, "/v1/export/domain.txt", {**reader, "If-None-Match": "*"}, status=304)
    assert _get(client, "/v1/export/domain.txt", {**reader, "If-None-Match": '"other"'}).get_data() == first.get_data()
    zipped = _get(client, "/v1/export/domain.txt", {**reader, "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["ETag"] != etag
    assert gzip.decompress(zipped.get_data()) == first.get_data()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/export/misp/manifest.json",
        "/v1/export/misp/hashes.csv",
        "/v1/export/rpz",
        "/v1/export/hosts",
        "/v1/export/url.txt",
    ],
)
def test_exports_need_feeds_read_by_basic_or_bearer(client, auth, path):
    consumer = auth.org("consumer")
    basic = "Basic " + base64.b64encode(f"{consumer.client_id}:{consumer.client_secret}".encode()).decode()
    assert _get(client, path, {"Authorization": basic}).status_code == 200
    assert _get(client, path, auth.headers(consumer)).status_code == 200
    wrong = "Basic " + base64.b64encode(f"{consumer.client_id}:nope".encode()).decode()
    for headers in ({}, {"Authorization": wrong}, {"Authorization": "Bearer nope"}):
        response = client.get(path, headers=headers)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"]
    no_feeds = auth.client_for(consumer.org_id, scope="entries:read")
    assert_problem(client.get(path, headers=auth.headers(no_feeds, scope="entries:read")), 403)


def test_manifest_is_json(client, reader):
    body = _get(client, "/v1/export/misp/manifest.json", reader).get_data(as_text=True)
    assert json.loads(body)[misp.event_uuid("url")]["Orgc"]["name"] == "Blocklist exchange"
