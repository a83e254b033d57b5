"""Subjects reach every mirror and no log (PRODUCT.md "One violation, restricted everywhere"):
the feed, snapshot and checksum carry enterprise and person entries; a live gunicorn with its
access and error logs to files serves look-ups and publishes of a raw ID number (in bodies) and
a refused one in a URL; `blocklist-sync` mirrors the subjects and answers a person by its hash
only. The ID number appears in no response, log line, sync output or stored row."""

from __future__ import annotations

import gzip
import json

import pytest
import requests
from conftest import threaded_server
from support.subjects import OTHER_RIC, RIC, USCC, assert_no_raw_id, person_hash, stored_text
from sync_support import run, secret_env, sync_command

from blocklist.db import db
from blocklist.sync.lookup import lookup as mirror_lookup
from blocklist.sync.mirror import Mirror


@pytest.mark.committed
def test_feeds_snapshots_checksums_and_a_mirror_carry_subjects_and_logs_never_see_an_id(
    app, database_url, auth, client, callers, publish, tmp_path
):
    hashed = person_hash(RIC)
    enterprise = publish("enterprise", USCC, as_="regulator", tags=["list:bad-operator"]).json
    person = publish("person", RIC, as_="regulator", tags=["list:joint-punishment"]).json

    changes = client.get("/v1/feed/changes", query_string={"kind": "person"}, headers=callers["consumer"]).json
    assert [(c["op"], c["entry"]["value"]) for c in changes["changes"]] == [("upsert", hashed)]
    snapshot = client.get("/v1/feed/snapshot", headers=callers["consumer"])
    assert snapshot.status_code == 200
    body = snapshot.get_data()
    lines = [
        json.loads(line)
        for line in (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).decode().splitlines()
        if line
    ]
    rows = {(row.get("kind"), row.get("value")) for row in lines}
    assert {("enterprise", USCC), ("person", hashed)} <= rows
    for kind in ("enterprise", "person"):
        checksum = client.get("/v1/feed/checksum", query_string={"kind": kind}, headers=callers["consumer"]).json
        assert checksum["count"] == 1

    access_log, error_log = tmp_path / "access.log", tmp_path / "error.log"
    creds = auth.org("carrier", name="mirroring-carrier")
    server = threaded_server(
        database_url,
        production_settings=True,
        BLOCKLIST_ACCESS_LOG=str(access_log),
        GUNICORN_CMD_ARGS=f"-c deploy/gunicorn.conf.py --threads 4 --error-logfile {error_log}",
    )
    try:
        headers = server.bearer(creds)
        found = requests.post(
            server.url + "/v1/lookup", json={"values": [{"kind": "person", "value": RIC}]}, headers=headers, timeout=10
        )
        assert found.status_code == 200 and found.json()["results"][0]["matches"][0]["id"] == person["id"]
        refused = requests.get(
            server.url + "/v1/lookup", params={"kind": "person", "value": RIC}, headers=headers, timeout=10
        )
        assert refused.status_code == 422
        listed = requests.post(
            server.url + "/v1/entries", json={"kind": "person", "value": OTHER_RIC}, headers=headers, timeout=10
        )
        assert listed.status_code == 201 and listed.json()["value"] == person_hash(OTHER_RIC)
        for response in (found, refused, listed):
            assert_no_raw_id(response.text, "a live response")
        mirror_path = tmp_path / "mirror.sqlite"
        synced = run(sync_command(server, creds, mirror_path), secret_env(creds))
        assert synced.returncode == 0, synced.stderr
        assert_no_raw_id(synced.stdout + synced.stderr, "the sync client's output")
    finally:
        server.stop()
    log_text = access_log.read_text()
    assert "/v1/lookup" in log_text and "/v1/entries" in log_text  # the requests were logged
    assert_no_raw_id(log_text, "the access log")
    assert_no_raw_id(error_log.read_text(), "the error log")

    mirror = Mirror(str(mirror_path))
    try:
        local = mirror_lookup(mirror, hashed, "person", "CN")
        assert local["listed"] and [m["id"] for m in local["matches"]] == [person["id"]]
        assert mirror_lookup(mirror, USCC.lower(), "enterprise", "CN")["matches"][0]["id"] == enterprise["id"]
        # The mirror has no pepper: an ID number is refused there, and not echoed.
        raw = mirror_lookup(mirror, RIC, "person", "CN")
        assert raw["listed"] is False and raw["value"] is None and "hashed value" in raw["error"]
    finally:
        mirror.close()
    with app.app_context():
        stored = stored_text()
        db.session.remove()
    assert hashed in stored and person_hash(OTHER_RIC) in stored
    assert_no_raw_id(stored, "the database")
