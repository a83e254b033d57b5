"""`blocklist-sync lookup` answers from the mirror by the server's rules (canonical values,
ranges covering numbers, domains covering subdomains and URLs, folded keywords) and says
listed / not listed in its exit code."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import threaded_server
from sync_support import SYNC, run, secret_env, sync_command

from blocklist.sync.lookup import covering_range_spellings
from blocklist.sync.lookup import lookup as mirror_lookup
from blocklist.sync.mirror import Mirror

PUBLISHED = [
    ("number", "13812345678"),
    ("code", "10687415"),
    ("range", "952750xx"),
    ("keyword", "安全账户"),
    ("domain", "pay-scam.com"),
    ("url", "http://evil.example.net/path/"),
    ("url", "http://short.example.com/x/y?z=1"),
]

# value looked up (kind, or None to let its shape decide) -> listed on the server and the mirror
PROBES = [
    ("+8613812345678", None, True),
    ("138-1234-5678", None, True),
    ("13812345679", None, False),
    ("10687415", "code", True),
    ("1068 7415", None, True),
    ("95275012", None, True),  # the range 952750xx covers it
    ("+86 9527 5099", "number", True),
    ("9527501", None, False),  # one digit short of the range
    ("952750123", None, False),  # one digit too many
    ("安 全 账 户", None, True),  # folded: spaces inserted to evade
    ("安全賬戶", None, True),  # traditional characters fold to simplified
    ("ＰＡＹ-ＳＣＡＭ.ＣＯＭ", None, True),  # full-width, upper case
    ("login.pay-scam.com", None, True),  # a subdomain
    ("https://www.pay-scam.com/login?x=1", None, True),  # a URL on the domain
    ("pay-scam.com.example.org", None, False),
    ("http://evil.example.net/path/deeper/page.html", None, True),  # a path under the listed URL
    ("http://EVIL.example.net:80/path/", "url", True),
    ("http://evil.example.net/other", None, False),
    ("http://short.example.com/x/y?z=1", None, True),
    ("http://short.example.com/x/y", None, False),  # the listed URL has a query
    ("nothing-here", None, False),
]


@pytest.fixture
def synced_mirror(app, database_url, auth, publish, tmp_path):
    for kind, value in PUBLISHED:
        response = publish(kind, value, as_="regulator")
        assert response.status_code == 201, response.json
    creds = auth.org("consumer")
    server = threaded_server(database_url, threads=4)
    try:
        db_path = tmp_path / "mirror.sqlite"
        synced = run(sync_command(server, creds, db_path), secret_env(creds))
        assert synced.returncode == 0, synced.stderr
    finally:
        server.stop()
    return db_path


def test_the_mirror_answers_as_the_server_does(client, callers, synced_mirror):
    mirror = Mirror(str(synced_mirror))
    try:
        for value, kind, listed in PROBES:
            params = {"value": value, **({"kind": kind} if kind else {})}
            server = client.get("/v1/lookup", query_string=params, headers=callers["consumer"])
            assert server.status_code == 200, server.json
            local = mirror_lookup(mirror, value, kind, "CN")
            assert (local["listed"], server.json["listed"]) == (listed, listed), value
            assert [m["id"] for m in local["matches"]] == [m["id"] for m in server.json["matches"]], value
    finally:
        mirror.close()


def test_lookup_exit_codes(synced_mirror, tmp_path):
    def lookup(*args):
        return run([*SYNC, "--db", str(synced_mirror), "lookup", *args])

    range_hit = lookup("95275012")
    assert range_hit.returncode == 0, range_hit.stderr
    verdict = json.loads(range_hit.stdout)
    assert verdict["listed"] is True and [m["value"] for m in verdict["matches"]] == ["952750xx"]
    url_hit = lookup("https://shop.pay-scam.com/pay")
    assert url_hit.returncode == 0 and json.loads(url_hit.stdout)["matches"][0]["value"] == "pay-scam.com"
    keyword_hit = lookup("安 全 账 户")
    assert keyword_hit.returncode == 0 and json.loads(keyword_hit.stdout)["matches"][0]["value"] == "安全账户"

    miss = lookup("13812345679")
    assert miss.returncode == 1 and json.loads(miss.stdout)["listed"] is False
    invalid = lookup("not a number", "--kind", "number")
    assert invalid.returncode == 2 and "not a valid number" in invalid.stderr
    no_mirror = run([*SYNC, "--db", str(tmp_path / "absent.sqlite"), "lookup", "10687415"])
    assert no_mirror.returncode == 2 and "no mirror" in no_mirror.stderr
    assert not (tmp_path / "absent.sqlite").exists()


def test_an_expired_entry_no_longer_matches_before_its_remove_arrives(synced_mirror):
    with sqlite3.connect(synced_mirror) as conn:
        conn.execute(
            "UPDATE entries SET expires_at = '2000-01-01T00:00:00+00:00' WHERE kind = 'code' AND value = '10687415'"
        )
    mirror = Mirror(str(synced_mirror))
    try:
        assert mirror_lookup(mirror, "10687415", "code", "CN")["listed"] is False
        assert mirror_lookup(mirror, "+8613812345678", None, "CN")["listed"] is True
    finally:
        mirror.close()


def test_a_mirror_from_before_match_keys_is_upgraded(synced_mirror):
    """Mirrors written by the previous client have no match_key column: opening one adds it and
    fills it for the URLs, so URL look-ups by expression work without a new snapshot."""
    with sqlite3.connect(synced_mirror) as conn:
        conn.execute("DROP INDEX entries_match_key")
        conn.execute("ALTER TABLE entries DROP COLUMN match_key")
    mirror = Mirror(str(synced_mirror))
    try:
        assert mirror_lookup(mirror, "http://evil.example.net/path/deeper/page.html", None, "CN")["listed"] is True
    finally:
        mirror.close()


def test_covering_range_spellings():
    assert covering_range_spellings("95275012") == [
        "952xxxxx",
        "952*",
        "9527xxxx",
        "9527*",
        "95275xxx",
        "95275*",
        "952750xx",
        "952750*",
        "9527501x",
        "9527501*",
        "95275012*",
    ]
