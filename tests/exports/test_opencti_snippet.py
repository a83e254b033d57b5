"""The README's OpenCTI settings, read from README.md, work against a live gunicorn the way
OpenCTI's TAXII2 connector (OpenCTI-Platform/connectors, external-import/taxii2) uses them:
`taxii2client.v21.Server(TAXII2_DISCOVERY_URL, user=TAXII2_USERNAME, password=TAXII2_PASSWORD)`,
each `root.collection` of TAXII2_COLLECTIONS chosen as it chooses them (`*` for every API root
or collection, else the root by the last segment of its URL and the collection by its title),
then `get_objects(added_after=...)` following `next` while `more`. OpenCTI itself and the
connector's process (pycti) are not run here: the README says so."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import requests
import taxii2client.v21 as tx21
from conftest import threaded_server

from blocklist.exports import stix

pytestmark = pytest.mark.committed

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_BASE = "https://blocklist.example.org"
BULK = 1_100  # more than one page of the server's default limit (1000)


def readme_settings() -> tuple[dict[str, str], list[str]]:
    """The connector settings the README's OpenCTI section shows: every `TAXII2_X=value` once
    (the first), and every TAXII2_COLLECTIONS value it offers."""
    text = README.read_text()
    section = text[text.index("### Subscribe from OpenCTI") :]
    section = section[: section.index("\n#", 1)]
    pairs = re.findall(r"`(TAXII2_[A-Z0-9_]+)=([^`]+)`", section)
    settings: dict[str, str] = {}
    for key, value in pairs:
        settings.setdefault(key, value)
    return settings, [value for key, value in pairs if key == "TAXII2_COLLECTIONS"]


def _chosen_collections(server: tx21.Server, spec: str) -> list:
    """The collections the connector polls for one TAXII2_COLLECTIONS value."""
    chosen = []
    for item in spec.split(","):
        root_path, title = item.split(".")
        roots = [r for r in server.api_roots if root_path == "*" or r.url.split("/")[-2] == root_path]
        assert roots, f"no API root {root_path!r}"
        for root in roots:
            found = [c for c in root.collections if title == "*" or c.title == title]
            assert found, f"no collection titled {title!r} in {root.url}"
            chosen += found
    return chosen


def _poll(collection, added_after: dt.datetime | None) -> tuple[list[dict], int]:
    """One connector poll of one collection: (objects, requests)."""
    filters: dict = {} if added_after is None else {"added_after": added_after}
    response = collection.get_objects(**filters)
    objects, requests_made = list(response.get("objects", [])), 1
    while response.get("more") is True:
        filters["next"] = response["next"]
        response = collection.get_objects(**filters)
        objects += response.get("objects", [])
        requests_made += 1
    return objects, requests_made


def test_the_readme_settings_poll_every_collection_they_name(app, database_url, auth):
    settings, collection_specs = readme_settings()
    assert settings["TAXII2_DISCOVERY_URL"].startswith(EXAMPLE_BASE + "/")
    assert settings["TAXII2_USERNAME"] == "<client_id>" and settings["TAXII2_PASSWORD"] == "<client_secret>"
    assert settings["TAXII2_V21"] == "true"
    assert "blocklist.all" in collection_specs and "*.*" in collection_specs and len(collection_specs) >= 3

    server = threaded_server(database_url, workers=1, threads=4)
    try:
        carrier = server.bearer(auth.org("carrier"))
        items = [{"kind": "code", "value": f"1069{i:04d}"} for i in range(BULK)]
        items += [{"kind": "domain", "value": "d1.example.com"}, {"kind": "url", "value": "http://u1.example.net/p"}]
        published = requests.post(server.url + "/v1/entries/bulk", json={"items": items}, headers=carrier, timeout=60)
        assert published.status_code == 200, published.text
        listed = {(i["kind"], i["value"]) for i in items}
        reader = auth.org("consumer")
        url = settings["TAXII2_DISCOVERY_URL"].replace(EXAMPLE_BASE, server.url)
        taxii = tx21.Server(url, user=reader.client_id, password=reader.client_secret, verify=True, cert=None)

        for spec in collection_specs:
            expected_ids: set[str] = set()
            polled_ids: set[str] = set()
            for collection in _chosen_collections(taxii, spec):
                kinds = None if collection.title == "all" else {collection.title}
                expected = {stix.indicator_id(k, v) for k, v in listed if kinds is None or k in kinds}
                objects, made = _poll(collection, None)  # the first run, TAXII2_INITIAL_HISTORY unset
                ids = {o["id"] for o in objects if o["type"] == "indicator"}
                assert ids == expected, (spec, collection.title)
                assert made > 1 or len(expected) < 1000  # `next` was followed across pages
                expected_ids |= expected
                polled_ids |= ids
            assert polled_ids == expected_ids and polled_ids, spec

        # A later run: added_after = now - TAXII2_INTERVAL (naive UTC, as the connector sends it).
        before_new = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
        (everything,) = _chosen_collections(taxii, "blocklist.all")
        assert {o["id"] for o in _poll(everything, before_new)[0] if o["type"] == "indicator"} == {
            stix.indicator_id(k, v) for k, v in listed
        }
        mark = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        added = requests.post(
            server.url + "/v1/entries", json={"kind": "domain", "value": "d2.example.com"}, headers=carrier, timeout=30
        )
        assert added.status_code == 201
        later, _ = _poll(everything, mark)
        assert [o["id"] for o in later if o["type"] == "indicator"] == [stix.indicator_id("domain", "d2.example.com")]
        wrong = tx21.Server(url, user=reader.client_id, password="not-the-secret")
        with pytest.raises(requests.exceptions.HTTPError, match="401"):
            wrong.api_roots  # noqa: B018
    finally:
        server.stop()
