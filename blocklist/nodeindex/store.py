"""The node index file: one SQLite database in WAL mode per node, written by its one follower
and read by every worker (the OS page cache is the one shared copy; WAL readers never block the
writer, and each reader sees a consistent snapshot per statement).

Tables:

* ``entries``: every active entry, by id, with what matching needs (kind, value, range prefix
  and length, Safe Browsing ``match_key``, status, expiry as epoch seconds, tier, score,
  category) and ``doc``: the entry as `/v1/lookup` shows it (``EntrySchema`` dumped for a caller
  who sees no evidence, as JSON text). ``evidence``: its reports' (org id, evidence), in the
  order of ``doc``'s reports, as JSON (empty for none): a report's evidence is shown to its own
  org and to regulators (`Row.doc_for` puts it back for them).
* ``held``: every (resource kind, value) that has ever had a holding recorded (holdings are
  ended, never deleted, so the set only grows): a check's sender that is not here has no
  holder, and its `sender_status` needs no database query.
* ``state``: ``position`` (the feed position the index reflects) and ``holdings_through`` (the
  highest holding id read into ``held``).

Flask- and SQLAlchemy-free: the server's follower (`follow`) fills it, `reader` reads it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL, status TEXT NOT NULL,
    expires REAL, range_prefix TEXT, range_length INTEGER, match_key TEXT,
    category TEXT, tier TEXT, score INTEGER, evidence TEXT NOT NULL DEFAULT '', doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS held (kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, value)) WITHOUT ROWID;
"""
# The entries' indexes: dropped while a build fills the table and made again after (one sort
# each instead of ten million random inserts into each B-tree).
INDEXES = {
    "entries_kind_value": "CREATE UNIQUE INDEX IF NOT EXISTS entries_kind_value ON entries (kind, value)",
    "entries_range_prefix": "CREATE INDEX IF NOT EXISTS entries_range_prefix ON entries (range_prefix) "
    "WHERE range_prefix IS NOT NULL",
    "entries_match_key": "CREATE INDEX IF NOT EXISTS entries_match_key ON entries (match_key) "
    "WHERE match_key IS NOT NULL",
}
BUILD_CACHE_KIB = 512 * 1024  # the writer's page cache while it builds (index sorts)
COLUMNS = (
    "id",
    "kind",
    "value",
    "status",
    "expires",
    "range_prefix",
    "range_length",
    "match_key",
    "category",
    "tier",
    "score",
    "evidence",
    "doc",
)
_UPSERT = f"INSERT OR REPLACE INTO entries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


@dataclass(frozen=True, slots=True)
class Row:
    """One active entry as the node index holds it (the attributes `matcher.index` and
    `matcher.rules` read, plus the look-up document)."""

    id: int
    kind: str
    value: str
    status: str
    expires: float | None
    range_prefix: str | None
    range_length: int | None
    match_key: str | None
    category: str | None
    tier: str | None
    score: int | None
    evidence: str
    doc: str

    def live(self, now: float) -> bool:
        return self.status == "active" and (self.expires is None or self.expires > now)

    def doc_for(self, org_id: int | None, is_regulator: bool) -> str:
        """`doc` as this caller sees it: a regulator sees every report's evidence (null when it
        has none), an org that of its own reports (`entries.schemas.ReportSchema`). The evidence
        goes in before each report's ``"has_evidence":`` key: in JSON text that sequence can
        only be a key (a quote inside a string is escaped), one per report, in report order."""
        if not self.evidence:
            return self.doc
        reports = json.loads(self.evidence)
        if not is_regulator and all(org != org_id for org, _ in reports):
            return self.doc
        parts = self.doc.split(_HAS_EVIDENCE)
        out = [parts[0]]
        for (org, evidence), rest in zip(reports, parts[1:], strict=True):
            if is_regulator or org == org_id:
                out.append(f'"evidence":{json.dumps(evidence, ensure_ascii=False)},')
            out.append(_HAS_EVIDENCE + rest)
        return "".join(out)


_HAS_EVIDENCE = '"has_evidence":'


def connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection to the node index at `path` (created, with its schema, by a writer)."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        return conn
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # a crash loses at most the last commits: rebuilt by position
    conn.executescript(SCHEMA)
    for create in INDEXES.values():
        conn.execute(create)
    return conn


def position(conn: sqlite3.Connection) -> int | None:
    """The feed position the index reflects; None before its first build."""
    row = conn.execute("SELECT value FROM state WHERE key = 'position'").fetchone()
    return int(row[0]) if row else None


def replace_all(conn: sqlite3.Connection, batches: Iterable[Sequence[tuple]], at: int) -> int:
    """Replace everything with the rows of `batches` (tuples in `COLUMNS` order) as of feed
    position `at`, in one transaction (readers see the old index until it commits)."""
    conn.execute("BEGIN IMMEDIATE")
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{BUILD_CACHE_KIB}")
    try:
        for name in INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.execute("DELETE FROM entries")
        count = 0
        for batch in batches:
            conn.executemany(_UPSERT, batch)
            count += len(batch)
        for create in INDEXES.values():
            conn.execute(create)
        _set_position(conn, at)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute(f"PRAGMA cache_size = {cache}")
    # The whole index went through the WAL (as large as the file itself at 10 M): copy it into
    # the file now and give the disk back, instead of keeping a WAL file of that size around.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return count


def apply(conn: sqlite3.Connection, upserts: Sequence[tuple], removed_ids: Iterable[int], at: int) -> None:
    """Write the current rows of entries that changed, drop those no longer active, and move to
    `at`, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("DELETE FROM entries WHERE id = ?", [(i,) for i in removed_ids])
        for row in upserts:  # a new id may take an old one's (kind, value): REPLACE drops the old
            conn.execute(_UPSERT, row)
        _set_position(conn, at)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _set_position(conn: sqlite3.Connection, at: int) -> None:
    conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES ('position', ?)", (str(at),))


def holdings_through(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT value FROM state WHERE key = 'holdings_through'").fetchone()
    return int(row[0]) if row else None


def add_held(conn: sqlite3.Connection, resources: Sequence[tuple[str, str]], through: int) -> None:
    """Add held (kind, value) resources and record the highest holding id read, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("INSERT OR IGNORE INTO held (kind, value) VALUES (?, ?)", resources)
        conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES ('holdings_through', ?)", (str(through),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
