"""The whole active set, read in one consistent database snapshot together with the feed head:
streamed snapshots (JSONL or CSV) and checksums.

A writer updates the head row and the entries in one transaction, so the head position read in
the same snapshot as the rows is exactly the cursor after which changes are not yet in them. On
PostgreSQL the read is a REPEATABLE READ transaction and the rows leave the server through
`COPY ... TO STDOUT`: JSON lines kept ready by the writes (`feeds/lines.py`), CSV records built
by PostgreSQL (per-row work in Python is one bytes append); on SQLite a read transaction and
rows formatted here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import zlib
from collections.abc import Iterator

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from ..config import current_settings
from ..db import db
from ..values.trust import tiers_from
from . import changes

log = logging.getLogger(__name__)
FORMATS = ("jsonl", "csv")
APPLICATION_NAME = "blocklist-snapshot"
CSV_COLUMNS = (
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
)
BUFFER_BYTES = 256 * 1024
# Timestamps as PostgreSQL's ISO text (DateStyle is set to ISO in the read) plus the UTC
# offset: much cheaper than to_char for every row.
_PG_TIME = "replace({column}::text, ' ', 'T') || '+00:00'"
# JSONL: the lines kept ready by the writes (`feeds/lines.py`), a plain COPY of stored text.
_PG_JSONL = "SELECT e.line FROM feed_lines e WHERE true {kind_filter}"
# CSV: the tags as the entry row carries them (`entries.feed_tags`, kept by the writes: see
# entries/tagcounts.py), so no aggregation at read time: the JSON array without its brackets,
# quotes and commas (tags are validated to [a-z0-9:._-] and CJK). An entry without tags or
# category has an empty field, as Python's csv writer gives on SQLite (COPY writes NULL as an
# empty field and an empty string as `""`, hence the nullif).
_PG_CSV = f"""
SELECT e.id, e.kind, e.value, e.status, e.category,
    nullif(replace(translate(e.feed_tags, '[]"', ''), ',', ' '), '') AS tags, e.reporters,
    {_PG_TIME.format(column="e.expires_at")} AS expires_at, {_PG_TIME.format(column="e.updated_at")} AS updated_at,
    e.tier, e.score
FROM entries e
WHERE e.status = 'active' {{kind_filter}}"""
_SQLITE_ROWS = """
SELECT e.id, e.kind, e.value, e.category, e.feed_tags, e.reporters, e.expires_at, e.updated_at, e.tier, e.score
FROM entries e WHERE e.status = 'active' {kind_filter}"""
_CHECKSUM = """
SELECT line FROM (SELECT e.kind || {tab} || e.value || {nl} AS line FROM entries e
                  WHERE e.status = 'active' {kind_filter}) lines
ORDER BY line {collate}"""


class ConsistentRead:
    """One read-only transaction over the entries and the feed head; `position` is the head in
    the same snapshot as every row read through it. Close it when done (idempotent).

    On PostgreSQL the server itself ends the session when the transaction sits idle for
    `idle_timeout` seconds, and cancels a statement (failing the transaction) that runs
    `statement_timeout` seconds (0: no limit): a reader that stops reading cannot hold a
    snapshot open (and vacuum back) for ever. The session shows as
    `application_name = 'blocklist-snapshot'` in `pg_stat_activity` while the read is open."""

    def __init__(self, engine: Engine, *, idle_timeout: int = 0, statement_timeout: int = 0):
        self.postgres = engine.dialect.name == "postgresql"
        self.closed = False
        self.conn: Connection = engine.connect()
        try:
            if self.postgres:
                self.conn.execution_options(isolation_level="REPEATABLE READ")
                self.conn.begin()
                # Transaction-local settings: they end with the transaction, before the pool reuses it.
                self.conn.execute(
                    text(
                        "SELECT set_config('DateStyle', 'ISO', true), set_config('application_name', :name, true),"
                        " set_config('idle_in_transaction_session_timeout', :idle, true),"
                        " set_config('statement_timeout', :statement, true)"
                    ),
                    {
                        "name": APPLICATION_NAME,
                        "idle": f"{max(0, idle_timeout) * 1000}",
                        "statement": f"{max(0, statement_timeout) * 1000}",
                    },
                )
            else:
                self.conn.exec_driver_sql("BEGIN")  # pysqlite would not begin before a SELECT
            self.position: int = changes.head_position(self.conn)
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        """End the transaction and give the connection back to the pool; a connection whose
        session the server ended (a timeout above) is discarded instead, so none leaks."""
        if not self.closed:
            self.closed = True
            try:
                self.conn.rollback()
            except DBAPIError:
                log.info("snapshot read ended by the server (timeout); its connection is discarded")
                self.conn.invalidate()
            finally:
                self.conn.close()


def consistent_read() -> ConsistentRead:
    """A snapshot read on its own connection (the session's is given back first), with the
    server-side timeouts from the settings."""
    engine = db.engine
    db.session.remove()
    settings = current_settings()
    return ConsistentRead(
        engine, idle_timeout=settings.snapshot_idle_timeout, statement_timeout=settings.snapshot_statement_timeout
    )


def _tier_filter(min_tier: str | None) -> str:
    """SQL: the entry's stored tier is at least `min_tier` (not yet assessed counts as `block`).
    The tiers are the rule's own constants, never the caller's text."""
    if min_tier is None:
        return ""
    return "AND coalesce(e.tier, 'block') IN (" + ", ".join(f"'{t}'" for t in tiers_from(min_tier)) + ")"


def _kind_filter(kind: str | None, min_tier: str | None = None) -> str:
    return ("AND e.kind = :kind " if kind else "") + _tier_filter(min_tier)


def _pg_copy(
    read: ConsistentRead, select_sql: str, options: str, kind: str | None, min_tier: str | None
) -> Iterator[bytes]:
    """Stream `COPY (select) TO STDOUT` through psycopg 3, in buffers of ~BUFFER_BYTES."""
    select_sql = select_sql.replace(
        "{kind_filter}", ("AND e.kind = %(kind)s " if kind else "") + _tier_filter(min_tier)
    )
    driver = read.conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    buffer = bytearray()
    with cursor.copy(f"COPY ({select_sql}) TO STDOUT WITH ({options})", {"kind": kind}) as copy:
        for data in copy:
            buffer += data
            if len(buffer) >= BUFFER_BYTES:
                yield bytes(buffer)
                buffer.clear()
    if buffer:
        yield bytes(buffer)


def _iso(value) -> str | None:
    """SQLite keeps naive UTC text (always six digits of microseconds); write it exactly as the
    PostgreSQL query does: `T`, microseconds without trailing zeros (none when zero), `+00:00`."""
    if value is None:
        return None
    stamp = str(value).replace(" ", "T")
    if "." in stamp:
        stamp = stamp.rstrip("0").rstrip(".")
    return stamp + "+00:00"


def _sqlite_rows(read: ConsistentRead, kind: str | None, min_tier: str | None) -> Iterator[tuple]:
    """(id, kind, value, category, tags as a list, reporters, expires_at, updated_at, tier,
    score) of each active entry, times in the snapshot's text."""
    result = read.conn.execute(text(_SQLITE_ROWS.format(kind_filter=_kind_filter(kind, min_tier))), {"kind": kind})
    for id_, kind_, value, category, tags, reporters, expires_at, updated_at, tier, score in result:
        yield (
            id_,
            kind_,
            value,
            category,
            json.loads(tags) if tags else [],
            reporters,
            _iso(expires_at),
            _iso(updated_at),
            tier,
            score,
        )


def _buffered(lines: Iterator[str]) -> Iterator[bytes]:
    buffer: list[str] = []
    size = 0
    for line in lines:
        buffer.append(line)
        size += len(line)
        if size >= BUFFER_BYTES:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()


def _sqlite_jsonl(read: ConsistentRead, kind: str | None, min_tier: str | None) -> Iterator[bytes]:
    """The JSON lines the PostgreSQL query builds, field by field (no dict per row)."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def lines() -> Iterator[str]:
        for id_, kind_, value, category, tags, reporters, expires_at, updated_at, tier, score in _sqlite_rows(
            read, kind, min_tier
        ):
            yield (
                f'{{"id":{id_},"kind":{dumps(kind_)},"value":{dumps(value)},"status":"active",'
                f'"category":{dumps(category)},"tags":{dumps(tags)},"reporters":{reporters},'
                f'"expires_at":{dumps(expires_at)},"updated_at":{dumps(updated_at)},'
                f'"tier":{dumps(tier)},"score":{dumps(score)}}}\n'
            )

    return _buffered(lines())


def _sqlite_csv(read: ConsistentRead, kind: str | None, min_tier: str | None) -> Iterator[bytes]:
    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for id_, kind_, value, category, tags, reporters, expires_at, updated_at, tier, score in _sqlite_rows(
            read, kind, min_tier
        ):
            writer.writerow(
                [id_, kind_, value, "active", category, " ".join(tags), reporters, expires_at, updated_at, tier, score]
            )
            if out.tell() >= BUFFER_BYTES:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return _buffered(lines())


def stream(read: ConsistentRead, kind: str | None, fmt: str, min_tier: str | None = None) -> Iterator[bytes]:
    """The snapshot's bytes (entries at or above `min_tier` if given); closes `read` when done
    or abandoned."""
    try:
        if read.postgres and fmt == "jsonl":
            # One text column; CSV quoting with control characters JSON never contains raw
            # passes each line through untouched (text format would escape backslashes).
            yield from _pg_copy(read, _PG_JSONL, "FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01'", kind, min_tier)
        elif read.postgres:
            yield from _pg_copy(read, _PG_CSV, "FORMAT csv, HEADER true", kind, min_tier)
        elif fmt == "jsonl":
            yield from _sqlite_jsonl(read, kind, min_tier)
        else:
            yield from _sqlite_csv(read, kind, min_tier)
    finally:
        read.close()


def gzipped(chunks: Iterator[bytes], level: int = 6) -> Iterator[bytes]:
    """Gzip a byte stream on the fly (one gzip member)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    try:
        for chunk in chunks:
            out = compressor.compress(chunk)
            if out:
                yield out
        yield compressor.flush()
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


def checksum(read: ConsistentRead, kind: str | None, min_tier: str | None = None) -> tuple[int, str]:
    """(count, hex SHA-256) over `kind\\tvalue\\n` of every active entry (at or above `min_tier` if
    given), sorted by those bytes."""
    where = _kind_filter(kind, min_tier)
    if read.postgres:
        sql = _CHECKSUM.format(tab="E'\\t'", nl="E'\\n'", kind_filter=where, collate='COLLATE "C"')
    else:
        sql = _CHECKSUM.format(tab="char(9)", nl="char(10)", kind_filter=where, collate="")
    digest = hashlib.sha256()
    count = 0
    result = read.conn.execute(text(sql).execution_options(yield_per=10000), {"kind": kind})
    for rows in result.partitions():
        digest.update("".join(row[0] for row in rows).encode())
        count += len(rows)
    return count, digest.hexdigest()
