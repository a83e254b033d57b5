"""The local SQLite mirror: the active set keyed by (kind, value) and the feed cursor, always
changed together in one local transaction, so a crash never loses or double-applies a page.
URL entries also store their Safe Browsing expression (`match_key`), the key `lookup` probes;
every entry its `tier` and `score`, which a check's verdict is made of.

For matchers that keep the mirror in memory (`local.LocalMatcher`) the mirror also says what
changed: the `generation` state counts snapshot loads (each replaces everything), and the
`journal` table lists the (kind, value) of every change applied since, by a growing `seq`
(the last JOURNAL_KEEP changes are kept; a reader further behind loads everything again)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from typing import Any

from ..values.urls import url_expression

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    kind TEXT NOT NULL, value TEXT NOT NULL, id INTEGER NOT NULL, status TEXT, category TEXT,
    tags TEXT, reporters INTEGER, expires_at TEXT, updated_at TEXT, match_key TEXT,
    tier TEXT, score INTEGER,
    PRIMARY KEY (kind, value)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, value TEXT NOT NULL);
"""
JOURNAL_KEEP = 100_000  # changes the journal keeps for in-memory matchers catching up
_MATCH_KEY_INDEX = "CREATE INDEX IF NOT EXISTS entries_match_key ON entries (match_key) WHERE match_key IS NOT NULL"
_UPSERT = (
    "INSERT OR REPLACE INTO entries (kind, value, id, status, category, tags, reporters, expires_at, "
    "updated_at, match_key, tier, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
COLUMNS = (
    "kind",
    "value",
    "id",
    "status",
    "category",
    "tags",
    "reporters",
    "expires_at",
    "updated_at",
    "tier",
    "score",
)


def _row(entry: dict[str, Any]) -> tuple:
    return (
        entry["kind"],
        entry["value"],
        entry["id"],
        entry.get("status"),
        entry.get("category"),
        " ".join(entry.get("tags") or []),
        entry.get("reporters"),
        entry.get("expires_at"),
        entry.get("updated_at"),
        url_expression(entry["value"]) if entry["kind"] == "url" else None,
        entry.get("tier"),
        entry.get("score"),
    )


class Mirror:
    def __init__(self, path: str):
        self.db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit here
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self._upgrade()
        self.db.execute(_MATCH_KEY_INDEX)

    def _upgrade(self) -> None:
        """A mirror written before `match_key` existed gets the column, filled for its URLs; one
        written before `tier` and `score` were kept gets the columns and forgets its cursor, so
        the next sync loads a snapshot that carries them (until then it has no answer)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(entries)")}
        if "match_key" in columns and "tier" in columns:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if "match_key" not in columns:
                self.db.execute("ALTER TABLE entries ADD COLUMN match_key TEXT")
                urls = [row[0] for row in self.db.execute("SELECT value FROM entries WHERE kind = 'url'")]
                self.db.executemany(
                    "UPDATE entries SET match_key = ? WHERE kind = 'url' AND value = ?",
                    [(url_expression(url), url) for url in urls],
                )
            if "tier" not in columns:
                self.db.execute("ALTER TABLE entries ADD COLUMN tier TEXT")
                self.db.execute("ALTER TABLE entries ADD COLUMN score INTEGER")
                self.db.execute("DELETE FROM state WHERE key = 'cursor'")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    def state(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set(self, key: str, value: str | None) -> None:
        self.db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))

    def load_snapshot(
        self, cursor: str, kind: str | None, rows: Iterable[dict[str, Any]], progress=None, batch: int = 10_000
    ) -> int:
        """Replace everything with a snapshot and its cursor, in one transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM entries")
            self.db.execute("DELETE FROM journal")
            generation = int(self.state("generation") or 0) + 1
            count, pending = 0, []
            for entry in rows:
                pending.append(_row(entry))
                if len(pending) >= batch:
                    self.db.executemany(_UPSERT, pending)
                    count += len(pending)
                    pending = []
                    if progress:
                        progress(count)
            self.db.executemany(_UPSERT, pending)
            count += len(pending)
            self._set("cursor", cursor)
            self._set("kind", kind or "")
            self._set("generation", str(generation))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return count

    def apply(self, changes: list[dict[str, Any]], next_cursor: str) -> None:
        """Apply one page of changes and store its cursor, in one transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for change in changes:
                entry = change["entry"]
                if change["op"] == "upsert":
                    self.db.execute(_UPSERT, _row(entry))
                else:
                    self.db.execute("DELETE FROM entries WHERE kind = ? AND value = ?", (entry["kind"], entry["value"]))
                self.db.execute("INSERT INTO journal (kind, value) VALUES (?, ?)", (entry["kind"], entry["value"]))
            if changes:
                self.db.execute("DELETE FROM journal WHERE seq <= (SELECT max(seq) FROM journal) - ?", (JOURNAL_KEEP,))
            self._set("cursor", next_cursor)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def checksum(self) -> tuple[int, str]:
        """(count, SHA-256) exactly as the server's /v1/feed/checksum defines it."""
        digest, count = hashlib.sha256(), 0
        # BINARY collation compares UTF-8 bytes, the order the server uses (COLLATE "C").
        cursor = self.db.execute("SELECT kind || char(9) || value || char(10) AS line FROM entries ORDER BY line")
        while rows := cursor.fetchmany(10_000):
            digest.update("".join(row[0] for row in rows).encode())
            count += len(rows)
        return count, digest.hexdigest()

    def find(self, pairs: Iterable[tuple[str, str]], url_keys: Iterable[str]) -> list[dict[str, Any]]:
        """The rows with one of the exact (kind, value) `pairs` or one of the URL expressions
        `url_keys`: the index probes behind a look-up (`lookup.py` decides what matches)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        select = f"SELECT {', '.join(COLUMNS)} FROM entries WHERE "
        queries: list[tuple[str, tuple[str, ...]]] = [(select + "kind = ? AND value = ?", pair) for pair in set(pairs)]
        queries += [(select + "match_key = ? AND kind = 'url'", (key,)) for key in set(url_keys)]
        for sql, params in queries:
            for row in self.db.execute(sql, params):
                entry = dict(zip(COLUMNS, row, strict=True))
                entry["tags"] = entry["tags"].split() if entry["tags"] else []
                found[(entry["kind"], entry["value"])] = entry
        return sorted(found.values(), key=lambda entry: entry["id"])

    def keyword_rows(self) -> list[dict[str, Any]]:
        """Every keyword entry (id, kind, value, tier, score, category, expires_at)."""
        columns = ("id", "kind", "value", "tier", "score", "category", "expires_at")
        sql = f"SELECT {', '.join(columns)} FROM entries WHERE kind = 'keyword'"
        return [dict(zip(columns, row, strict=True)) for row in self.db.execute(sql)]
