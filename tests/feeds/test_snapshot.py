"""Snapshots (JSONL, CSV, gzip, ETag) and checksums over HTTP, and the `expire` command."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json

import pytest
from sqlalchemy import text
from support.problems import assert_problem

from blocklist.db import db, utcnow
from blocklist.feeds import cursors

# Snapshots and checksums read on a connection of their own (feeds.snapshot.consistent_read).
pytestmark = pytest.mark.committed


def _seed(client, callers, publish):
    publish("number", "138 1234 5678", tags=["fraud:ticket-scam", "channel:voice"], category="fraud")
    publish("code", "10687415")
    publish("keyword", "刷单返利")
    gone = publish("domain", "gone-scam.com").json["id"]
    client.post(f"/v1/entries/{gone}/withdraw", headers=callers["carrier"])


def _snapshot(client, headers, **params):
    response = client.get("/v1/feed/snapshot", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def _jsonl(response) -> list[dict]:
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def test_jsonl_snapshot_holds_exactly_the_active_set_with_its_cursor(client, callers, publish):
    _seed(client, callers, publish)
    response = _snapshot(client, callers["consumer"])
    assert response.mimetype == "application/x-ndjson"
    rows = sorted(_jsonl(response), key=lambda r: r["kind"])
    assert [(r["kind"], r["value"]) for r in rows] == [
        ("code", "10687415"),
        ("keyword", "刷单返利"),
        ("number", "+8613812345678"),
    ]
    number = rows[2]
    assert set(number) == {
        *("id", "kind", "value", "status", "category", "tags", "reporters", "expires_at", "updated_at"),
        *("tier", "score"),
    }
    assert (number["tier"], number["score"]) == ("block", 80)  # one carrier's fresh report
    assert number["tags"] == ["channel:voice", "fraud:ticket-scam"]
    assert (number["status"], number["category"], number["reporters"]) == ("active", "fraud", 1)
    entry = client.get(f"/v1/entries/{number['id']}", headers=callers["carrier"]).json
    for field in ("expires_at", "updated_at"):
        assert dt.datetime.fromisoformat(number[field]) == dt.datetime.fromisoformat(entry[field])
    assert rows[0]["tags"] == [] and rows[0]["category"] is None
    cursor = response.headers["X-Blocklist-Cursor"]
    assert cursors.decode(cursor) == 5  # four publishes and a withdrawal
    after = client.get("/v1/feed/changes", query_string={"since": cursor}, headers=callers["consumer"])
    assert after.json["changes"] == []


def test_kind_filter_and_csv(client, callers, publish):
    _seed(client, callers, publish)
    only_codes = _jsonl(_snapshot(client, callers["consumer"], kind="code"))
    assert [(r["kind"], r["value"]) for r in only_codes] == [("code", "10687415")]
    response = _snapshot(client, callers["consumer"], format="csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0]) == [
        "id",
        "kind",
        "value",
        "status",
        "category",
        "tags",
        "reporters",
        "expires_at",
        "updated_at",
        "tier",
        "score",
    ]
    by_kind = {r["kind"]: r for r in rows}
    assert set(by_kind) == {"number", "code", "keyword"}
    assert by_kind["keyword"]["value"] == "刷单返利"
    assert by_kind["number"]["tags"] == "channel:voice fraud:ticket-scam"
    assert by_kind["number"]["reporters"] == "1" and by_kind["number"]["status"] == "active"
    assert_problem(client.get("/v1/feed/snapshot", query_string={"format": "xml"}, headers=callers["consumer"]), 422)


def test_gzip_when_asked_and_etag_answers_304_until_the_list_changes(client, callers, publish):
    _seed(client, callers, publish)
    plain = _snapshot(client, callers["consumer"])
    zipped = client.get("/v1/feed/snapshot", headers={**callers["consumer"], "Accept-Encoding": "gzip"})
    assert zipped.status_code == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]

    etag = plain.headers["ETag"]
    again = client.get("/v1/feed/snapshot", headers={**callers["consumer"], "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["X-Blocklist-Cursor"] == plain.headers["X-Blocklist-Cursor"]
    other_kind = client.get(
        "/v1/feed/snapshot", query_string={"kind": "code"}, headers={**callers["consumer"], "If-None-Match": etag}
    )
    assert other_kind.status_code == 200 and len(_jsonl(other_kind)) == 1  # read it: ends its transaction
    publish("code", "10680000")
    changed = client.get("/v1/feed/snapshot", headers={**callers["consumer"], "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert len(_jsonl(changed)) == 4


def _local_checksum(pairs) -> tuple[int, str]:
    lines = sorted(f"{kind}\t{value}\n".encode() for kind, value in pairs)
    return len(lines), hashlib.sha256(b"".join(lines)).hexdigest()


def test_checksum_agrees_with_one_computed_from_the_snapshot(client, callers, publish):
    _seed(client, callers, publish)
    publish("url", "http://evil.example.com/Pay")
    publish("range", "952750xx")
    snapshot = _snapshot(client, callers["consumer"])
    pairs = [(r["kind"], r["value"]) for r in _jsonl(snapshot)]
    body = client.get("/v1/feed/checksum", headers=callers["consumer"]).json
    assert body["cursor"] == snapshot.headers["X-Blocklist-Cursor"]
    assert (body["count"], body["sha256"]) == _local_checksum(pairs)
    codes = client.get("/v1/feed/checksum", query_string={"kind": "code"}, headers=callers["consumer"]).json
    assert (codes["count"], codes["sha256"]) == _local_checksum([p for p in pairs if p[0] == "code"])
    empty = client.get("/v1/feed/checksum", query_string={"kind": "domain"}, headers=callers["consumer"]).json
    assert (empty["count"], empty["sha256"]) == (0, hashlib.sha256(b"").hexdigest())


def test_expire_command_sweeps_due_entries_into_the_feed(app, runner, client, callers, publish, clock):
    publish("url", "http://bad.example/a", expires_at=(utcnow() + dt.timedelta(minutes=10)).isoformat())
    publish("url", "http://bad.example/b")
    clock.advance(601)
    result = runner.invoke(args=["expire"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "expired": 1,
        "retiered": 0,
        "ids_filled": 0,
        "feed_pruned": 0,
        "idempotency_purged": 0,
    }
    changes = client.get("/v1/feed/changes", headers=callers["consumer"]).json["changes"]
    assert [(c["op"], c["entry"]["value"]) for c in changes][-1] == ("remove", "http://bad.example/a")
    assert [(r["value"]) for r in _jsonl(_snapshot(client, callers["consumer"]))] == ["http://bad.example/b"]


def test_csv_snapshot_bytes_are_the_same_on_both_databases(app, client, callers, publish):
    """The exact CSV text, asserted as written here on SQLite and on PostgreSQL alike: no tags is
    an empty field (not `""`), no category an empty field, fields holding a comma or a quote are
    quoted, timestamps are ISO with the UTC offset and microseconds without trailing zeros."""
    bare = publish("code", "10687415", expires_at="2030-01-02T03:04:05+00:00").json["id"]
    tagged = publish(
        "url",
        'http://scam.example/pay,now?q="x"',
        tags=["fraud:ticket-scam", "channel:sms"],
        category="fraud",
        expires_at="2030-01-02T03:04:05.120000+00:00",
    ).json["id"]
    with app.app_context():
        # Fixed change times, so the expected bytes can be written down.
        db.session.execute(text("UPDATE entries SET updated_at = '2026-05-06 07:08:09.123450'"))
        db.session.commit()
    url_value = client.get(f"/v1/entries/{tagged}", headers=callers["carrier"]).json["value"]
    assert "," in url_value and '"' in url_value
    quoted_url = '"' + url_value.replace('"', '""') + '"'
    body = _snapshot(client, callers["consumer"], format="csv").get_data()
    header, *rows = body.decode().split("\n")
    assert header == "id,kind,value,status,category,tags,reporters,expires_at,updated_at,tier,score"
    assert rows[-1] == ""  # the last record ends with a newline
    assert sorted(rows[:-1]) == sorted(
        [
            f"{bare},code,10687415,active,,,1,2030-01-02T03:04:05+00:00,2026-05-06T07:08:09.12345+00:00,block,80",
            f"{tagged},url,{quoted_url},active,fraud,channel:sms fraud:ticket-scam,1,"
            "2030-01-02T03:04:05.12+00:00,2026-05-06T07:08:09.12345+00:00,block,80",
        ]
    )
