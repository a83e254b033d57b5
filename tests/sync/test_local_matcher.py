"""`LocalMatcher` follows its mirror file (changes applied in place, a new snapshot reloaded, a
journal it fell behind reloaded) and `blocklist-sync check` answers from the file with the
verdict in its exit code. The mirror is written through `Mirror`, the code the sync client
writes it with (the server-to-mirror path is tests/sync/test_verdicts_server_vs_mirror.py)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from sync_support import SYNC, run

from blocklist.sync import LocalMatcher, NoMirror
from blocklist.sync import mirror as mirror_module
from blocklist.sync.mirror import Mirror


def _row(id_, kind, value, tier="block", expires_at=None):
    return {
        "id": id_,
        "kind": kind,
        "value": value,
        "status": "active",
        "category": "fraud",
        "tags": [],
        "reporters": 1,
        "expires_at": expires_at,
        "updated_at": "2026-01-01T00:00:00+00:00",
        "tier": tier,
        "score": 80 if tier == "block" else 50,
    }


ROWS = [
    _row(1, "number", "+8613812345678"),
    _row(2, "range", "952750xx"),
    _row(3, "keyword", "安全账户"),
    _row(4, "domain", "pay-scam.com"),
    _row(5, "url", "http://evil.example.net/path/", tier="label"),
    _row(6, "keyword", "刷单返利", tier="label"),
    _row(7, "code", "10690001", expires_at="2001-01-01T00:00:00+00:00"),  # past: matches nothing
]


@pytest.fixture
def mirror_path(tmp_path):
    path = str(tmp_path / "mirror.sqlite")
    mirror = Mirror(path)
    mirror.load_snapshot("c1", None, ROWS)
    mirror.close()
    return path


def _verdict(matcher, sender, text):
    return matcher.check(sender, text)["verdict"]


def test_answers_as_the_server_rules_say(mirror_path):
    with LocalMatcher.open(mirror_path) as matcher:
        answer = matcher.check("138-1234-5678", "请转入安 全 账 户 https://login.pay-scam.com/x")
        assert answer["verdict"] == "block"
        assert [(m["kind"], m["field"], m["span"]) for m in answer["matches"]] == [
            ("number", "sender", [0, 13]),
            ("keyword", "text", [3, 10]),
            ("domain", "text", [11, 39]),
        ]
        assert answer["matches"][0] == {
            "kind": "number",
            "entry_id": 1,
            "value": "+8613812345678",
            "field": "sender",
            "span": [0, 13],
            "tier": "block",
            "score": 80,
            "category": "fraud",
            "dispute_path": "/v1/entries/1/disputes",
        }
        assert _verdict(matcher, "95275012", "hi") == "block"  # under the range 952750xx
        assert _verdict(matcher, None, "see http://evil.example.net/path/deeper") == "label"
        assert _verdict(matcher, None, "刷 单 返 利") == "label"
        assert _verdict(matcher, "10690001", "hello") == "allow"  # its entry expired
        assert matcher.check(None, "刷单返利", min_tier="block") == {"verdict": "allow", "matches": []}
        assert matcher.lookup("+86 138 1234 5678")["listed"] is True
        assert matcher.lookup("9527501")["listed"] is False  # one digit short of the range
        assert matcher.lookup("a.b.pay-scam.com")["matches"][0]["id"] == 4
        assert matcher.lookup("10690001")["listed"] is False
        assert "error" in matcher.lookup("not a number", kind="number")


def test_follows_changes_in_place_and_reloads_a_new_snapshot(mirror_path, monkeypatch):
    matcher = LocalMatcher.open(mirror_path, poll_interval=0)
    writer = Mirror(mirror_path)
    try:
        writer.apply(
            [
                {"op": "upsert", "entry": _row(8, "keyword", "公检法通缉")},
                {"op": "remove", "entry": {"kind": "keyword", "value": "安全账户"}},
                {"op": "upsert", "entry": _row(5, "url", "http://evil.example.net/path/", tier="block")},
                {"op": "remove", "entry": {"kind": "range", "value": "952750xx"}},
            ],
            "c2",
        )
        assert _verdict(matcher, None, "公 检 法 通 缉") == "block"  # the next answer sees it
        assert _verdict(matcher, None, "安全账户") == "allow"
        assert _verdict(matcher, None, "http://evil.example.net/path/") == "block"  # tier moved
        assert _verdict(matcher, "95275012", "hi") == "allow"
        assert (matcher.loads, matcher.cursor) == (1, "c2")  # applied, not reloaded

        writer.load_snapshot("c3", None, [_row(9, "number", "+8613900000000")])
        assert matcher.lookup("13900000000")["listed"] is True
        assert _verdict(matcher, None, "公检法通缉") == "allow"
        assert (matcher.loads, len(matcher)) == (2, 1)

        # Further behind than the journal keeps: everything again.
        monkeypatch.setattr(mirror_module, "JOURNAL_KEEP", 2)
        matcher.poll_interval = 3600
        matcher.lookup("13900000000")  # polls, and the next poll is an hour away
        for n in range(5):
            writer.apply([{"op": "upsert", "entry": _row(20 + n, "code", f"9558{n}")}], f"c{4 + n}")
        assert matcher.lookup("95584")["listed"] is False  # not polled yet
        assert matcher.refresh() is True and matcher.loads == 3
        assert all(matcher.lookup(f"9558{n}")["listed"] for n in range(5))
        assert matcher.refresh() is False
    finally:
        writer.close()
        matcher.close()


def test_no_mirror_is_no_answer(tmp_path):
    missing = tmp_path / "missing.sqlite"
    with pytest.raises(NoMirror):
        LocalMatcher.open(str(missing))
    assert not missing.exists()  # not created by asking
    empty = tmp_path / "empty.sqlite"
    Mirror(str(empty)).close()
    with pytest.raises(NoMirror, match="no snapshot"):
        LocalMatcher.open(str(empty))


def test_a_mirror_from_before_tiers_is_snapshotted_again(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE entries (kind TEXT NOT NULL, value TEXT NOT NULL, id INTEGER NOT NULL, status TEXT, "
            "category TEXT, tags TEXT, reporters INTEGER, expires_at TEXT, updated_at TEXT, match_key TEXT, "
            "PRIMARY KEY (kind, value)) WITHOUT ROWID; CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT);"
            "INSERT INTO entries (kind, value, id) VALUES ('code', '10690001', 1);"
            "INSERT INTO state VALUES ('cursor', 'old'), ('kind', '');"
        )
    mirror = Mirror(str(path))
    assert mirror.state("cursor") is None  # the next sync loads a snapshot with tiers
    assert "tier" in {row[1] for row in mirror.db.execute("PRAGMA table_info(entries)")}
    mirror.close()


def _cli_check(path, *args, stdin=None):
    result = run([*SYNC, "--db", str(path), "check", *args], input=stdin)
    return result.returncode, (json.loads(result.stdout) if result.stdout else None), result.stderr


def test_the_check_command_says_the_verdict_in_its_exit_code(mirror_path, tmp_path):
    code, answer, _ = _cli_check(mirror_path, "--sender", "+86 138 1234 5678", "--text", "hello")
    assert code == 0 and answer["verdict"] == "block" and answer["matches"][0]["entry_id"] == 1
    code, answer, _ = _cli_check(mirror_path, "--text", "-", stdin="速来 刷单返利 群")
    assert code == 3 and answer["verdict"] == "label"  # label: warn, do not block
    code, answer, _ = _cli_check(mirror_path, "--min-tier", "block", "--text", "刷单返利")
    assert code == 1 and answer == {"verdict": "allow", "matches": []}
    code, answer, _ = _cli_check(mirror_path, "--sender", "10690002", "--text", "您的验证码是1234")
    assert code == 1 and answer["verdict"] == "allow"
    code, answer, stderr = _cli_check(tmp_path / "none.sqlite", "--text", "x")
    assert code == 2 and answer is None and "no mirror" in stderr
    code, _, stderr = _cli_check(mirror_path, "--sender", "1")  # --text is required
    assert code == 2 and "--text" in stderr
