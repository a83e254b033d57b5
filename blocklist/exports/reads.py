"""The reads every export makes, on one consistent read (`feeds.snapshot.ConsistentRead`): the
rows and the feed head come from the same database snapshot, so an export (or a TAXII page)
is exactly the state at its position.

TAXII pages walk the change log: the objects of a page are the entries whose *latest* change
at or before the head lies in the page's window of positions. A later page reads a later head;
an entry changed again since is then emitted at its new position with its new version. So a
client that follows `next` gets every entry's latest version once, and a newer version again
only when there is one: nothing skipped, nothing repeated, under any concurrent writes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, exists, func, select
from sqlalchemy.orm import aliased

from ..auth.models import Org
from ..db import UTCDateTime, table_of
from ..entries.models import Entry, EntryTag, Report
from ..feeds.models import FeedChange
from . import stix

STREAM_ROWS = 10_000  # rows fetched at a time from a server-side cursor
_changes = table_of(FeedChange)
_entries = table_of(Entry)
_reports = table_of(Report)
_tags = table_of(EntryTag)
_orgs = table_of(Org)
_TIME = UTCDateTime()


@dataclass(frozen=True)
class Change:
    """An entry's change as TAXII serves it: its place, its time (the object's version and
    `date_added`) and the tier recorded with it (None: a remove, or an upsert from before tiers)."""

    position: int
    entry_id: int
    created_at: dt.datetime
    tier: str | None = None


_CHANGE_COLUMNS = (_changes.c.position, _changes.c.entry_id, _changes.c.created_at, _changes.c.tier)


def _change(row) -> Change:
    return Change(row.position, row.entry_id, aware(row.created_at), row.tier)


def aware(value) -> dt.datetime:
    """A timestamp read through Core text or a raw row: aware UTC on every database."""
    return _TIME.process_result_value(value, None)  # type: ignore[return-value]


def latest_changes(
    conn: Connection,
    *,
    after: int,
    head: int,
    kind: str | None,
    limit: int,
    entry_ids: Iterable[int] | None = None,
) -> list[Change]:
    """Up to `limit` changes at positions in (`after`, `head`] that are their entry's latest at
    or before `head`, in position order (restricted to `kind` and to `entry_ids` if given)."""
    later = aliased(_changes)
    stmt = (
        select(*_CHANGE_COLUMNS)
        .where(_changes.c.position > after, _changes.c.position <= head)
        .where(
            ~exists().where(
                and_(
                    later.c.entry_id == _changes.c.entry_id,
                    later.c.position > _changes.c.position,
                    later.c.position <= head,
                )
            )
        )
        .order_by(_changes.c.position)
        .limit(limit)
    )
    if kind is not None:
        stmt = stmt.where(_changes.c.kind == kind)
    if entry_ids is not None:
        stmt = stmt.where(_changes.c.entry_id.in_(list(entry_ids)))
    return [_change(row) for row in conn.execute(stmt)]


def change_time(conn: Connection, position: int) -> dt.datetime | None:
    value = conn.scalar(select(_changes.c.created_at).where(_changes.c.position == position))
    return None if value is None else aware(value)


def last_position_at_or_before(conn: Connection, when: dt.datetime, low: int, high: int) -> int:
    """The last position in [`low`, `high`] whose change time is at or before `when` (`low` if
    none): a binary search on the primary key, since change times increase with positions."""
    while low < high:
        middle = (low + high + 1) // 2
        stamp = change_time(conn, middle)
        if stamp is not None and stamp <= when:
            low = middle
        else:
            high = middle - 1
    return low


def entry_states(conn: Connection, changes: list[Change]) -> dict[int, stix.EntryState]:
    """The entries of `changes` as they are in this read, with their reporters (first report
    first), tags and the tier recorded with the change: three queries."""
    ids = [c.entry_id for c in changes]
    changed = {c.entry_id: c for c in changes}
    reporters: dict[int, list[stix.Reporter]] = {i: [] for i in ids}
    tags: dict[int, list[str]] = {i: [] for i in ids}
    report_rows = conn.execute(
        select(
            _reports.c.entry_id,
            _orgs.c.id,
            _orgs.c.name,
            _orgs.c.kind,
            _orgs.c.created_at,
        )
        .join(_orgs, _orgs.c.id == _reports.c.org_id)
        .where(_reports.c.entry_id.in_(ids))
        .order_by(_reports.c.id)
    )
    for row in report_rows:
        reporters[row.entry_id].append(stix.Reporter(row.id, row.name, row.kind, aware(row.created_at)))
    tag_rows = conn.execute(
        select(_tags.c.entry_id, _tags.c.tag).where(_tags.c.entry_id.in_(ids)).order_by(_tags.c.tag)
    )
    for entry_id, tag in tag_rows:
        tags[entry_id].append(tag)
    states = {}
    for row in conn.execute(select(_entries).where(_entries.c.id.in_(ids))):
        states[row.id] = stix.EntryState(
            id=row.id,
            kind=row.kind,
            value=row.value,
            status=row.status,
            category=row.category,
            tags=tags[row.id],
            created_at=aware(row.created_at),
            expires_at=None if row.expires_at is None else aware(row.expires_at),
            changed_at=changed[row.id].created_at,
            tier=changed[row.id].tier,
            reporters=reporters[row.id],
        )
    return states


def entry_ids_for_uuids(conn: Connection, kind: str | None, wanted: Iterable[uuid.UUID]) -> list[int]:
    """Ids of the entries (of `kind`, if given) whose `object_uuid` is in `wanted` (the caller
    bounds how many): one probe of its index, whatever the number of entries."""
    stmt = select(_entries.c.id).where(_entries.c.object_uuid.in_(list(wanted))).order_by(_entries.c.id)
    if kind is not None:
        stmt = stmt.where(_entries.c.kind == kind)
    return list(conn.scalars(stmt))


def latest_change_of(conn: Connection, entry_id: int, head: int) -> Change | None:
    row = conn.execute(
        select(*_CHANGE_COLUMNS)
        .where(_changes.c.entry_id == entry_id, _changes.c.position <= head)
        .order_by(_changes.c.position.desc())
        .limit(1)
    ).first()
    return None if row is None else _change(row)


def changes_of(conn: Connection, entry_id: int, *, after: int, head: int, since, limit: int) -> list[Change]:
    """Up to `limit` retained changes of one entry at positions in (`after`, `head`] (and, if
    `since` is given, with times after it), in position order: its versions, via the index on
    the change log's entry id."""
    stmt = (
        select(*_CHANGE_COLUMNS)
        .where(_changes.c.entry_id == entry_id, _changes.c.position > after, _changes.c.position <= head)
        .order_by(_changes.c.position)
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(_changes.c.created_at > since)
    return [_change(row) for row in conn.execute(stmt)]


def last_change_time(conn: Connection, kind: str, head: int) -> dt.datetime | None:
    """When the active set of `kind` last changed (at or before `head`)."""
    position = conn.scalar(
        select(func.max(_changes.c.position)).where(_changes.c.kind == kind, _changes.c.position <= head)
    )
    return None if position is None else change_time(conn, position)


class ActiveRow(NamedTuple):
    kind: str
    value: str
    updated: int  # updated_at, in whole seconds since the epoch
    tags: str  # space-separated ("" for none, or when not asked for)
    # The stored `object_uuid` ("" when not asked for, or not filled in yet: see
    # entries/object_ids.py); `uuid_of` falls back to deriving it.
    uuid: str = ""


def uuid_of(row: ActiveRow) -> str:
    """The row's object uuid: the stored one, or (a row a node of the previous release wrote,
    not yet filled in by the sweeper) the same UUIDv5 derived from its kind and value."""
    return row.uuid or str(stix.object_uuid(row.kind, row.value))


_PG_ACTIVE = """SELECT e.kind, e.value, extract(epoch FROM e.updated_at)::bigint,
    {tags}, {uuid} FROM entries e WHERE e.status = 'active' AND e.kind = %(kind)s ORDER BY e.id"""
_PG_TAGS = "(SELECT string_agg(t.tag, ' ') FROM entry_tags t WHERE t.entry_id = e.id)"


def active_entries(
    conn: Connection, kinds: Iterable[str], *, with_tags: bool = False, with_uuid: bool = False
) -> Iterator[ActiveRow]:
    """Every active entry of `kinds`, kind by kind in id order, streamed (PostgreSQL: through
    COPY; elsewhere a server-side cursor `STREAM_ROWS` at a time): bounded memory at any size.
    `with_tags`: each row's tags; `with_uuid`: its stored object_uuid."""
    if is_postgres(conn):
        sql = _PG_ACTIVE.format(tags=_PG_TAGS if with_tags else "''", uuid="e.object_uuid" if with_uuid else "''")
        for kind in kinds:
            for kind_, value, epoch, tags, object_uuid in copy_rows(conn, sql, {"kind": kind}):
                yield ActiveRow(kind_, value, int(epoch), tags, object_uuid)
        return
    tag_list = select(func.group_concat(_tags.c.tag, " ")).where(_tags.c.entry_id == _entries.c.id).scalar_subquery()
    columns: list[Any] = [_entries.c.kind, _entries.c.value, _entries.c.updated_at, _entries.c.object_uuid]
    if with_tags:
        columns.append(tag_list)
    for kind in kinds:
        stmt = select(*columns).where(_entries.c.status == "active", _entries.c.kind == kind).order_by(_entries.c.id)
        result = conn.execute(stmt.execution_options(yield_per=STREAM_ROWS))
        try:
            for rows in result.partitions():
                for row in rows:
                    updated = int(aware(row[2]).timestamp())
                    tags = (row[4] or "") if with_tags else ""
                    object_uuid = str(row[3]) if with_uuid and row[3] is not None else ""
                    yield ActiveRow(row[0], row[1], updated, tags, object_uuid)
        finally:
            result.close()


def last_position(conn: Connection, kinds: Iterable[str], head: int) -> int:
    """The last position at or before `head` that changed an entry of `kinds` (0: none): what
    an export of those kinds is a function of."""
    return max(
        (
            conn.scalar(select(func.max(_changes.c.position)).where(_changes.c.kind == k, _changes.c.position <= head))
            or 0
        )
        for k in kinds
    )


# --- PostgreSQL: rows leave the server through COPY (as the snapshot's do) -------------------

# One text column passed through untouched: CSV with quote and delimiter characters that
# canonical values never hold (text format would escape backslashes).
_PASS_THROUGH = "FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01'"


def _copy(conn: Connection, select_sql: str, options: str, params: dict) -> Iterator[bytes]:
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"COPY ({select_sql}) TO STDOUT WITH ({options})", params) as copy:
        yield from (bytes(data) for data in copy)


def copy_lines(conn: Connection, select_sql: str, params: dict) -> Iterator[bytes]:
    """PostgreSQL: the one text column `select_sql` yields, a line each, as raw bytes."""
    return _copy(conn, select_sql, _PASS_THROUGH, params)


def copy_rows(conn: Connection, select_sql: str, params: dict) -> Iterator[list[str]]:
    """PostgreSQL: the rows of `select_sql` as lists of text (NULL as ""), parsed from COPY's CSV
    (canonical values hold no line breaks, so a row never spans two chunks' boundary)."""
    pending = b""
    for chunk in _copy(conn, select_sql, "FORMAT csv", params):
        pending += chunk
        cut = pending.rfind(b"\n") + 1
        if cut:
            yield from csv.reader(io.StringIO(pending[:cut].decode()))
            pending = pending[cut:]
    if pending:
        yield from csv.reader(io.StringIO(pending.decode()))


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"
