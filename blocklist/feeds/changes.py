"""The change log and its head: the one module that writes them, and the one place that says
how the head is read (`HEAD`, `head_position`) and which changes lie in a window
(`in_window`) — for the entry services, the feed pages, the snapshot, the long-poll watcher and
the matching engine alike. Entry services call `write_lock` first in every transaction that
changes entries, and `append` for each change to the active set, in that same transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update

from ..config import current_settings
from ..db import bulk_insert, db, execute_count, table_of, utcnow
from ..entries import tagcounts, trust
from ..listener import FEED_CHANNEL as NOTIFY_CHANNEL
from ..reads import note_feed_position
from . import lines
from .models import FeedChange, FeedHead

UPSERT = "upsert"
REMOVE = "remove"
# Changes' times strictly increase with their positions, by at least this (see `_next_stamp`).
STAMP_STEP = dt.timedelta(microseconds=1)

# The last position handed out (the listener's raw connection reads it as `listener.HEAD_SQL`).
HEAD = select(FeedHead.position).where(FeedHead.id == 1)


def write_lock() -> None:
    """Serialise entry writers: take the feed head's row lock (PostgreSQL) or the database write
    lock (SQLite) until commit. Call before reading anything the change depends on."""
    db.session.execute(update(FeedHead).where(FeedHead.id == 1).values(position=FeedHead.position))


def head_position(connection=None) -> int:
    """The last position handed out (committed, when read outside a writing transaction), on
    `connection` (a SQLAlchemy connection) or the session."""
    return (connection or db.session).scalar(HEAD) or 0


def in_window(after: int, through: int) -> ColumnElement[bool]:
    """SQL: a change at a position after `after` and at most `through`."""
    return (FeedChange.position > after) & (FeedChange.position <= through)


def append(
    changes: Iterable[tuple[str, int, str, str]],
    assessed: dict[int, Any] | None = None,
    created: Collection[int] = (),
    feed_tags: Mapping[int, tuple[str | None, str | None]] | None = None,
) -> int:
    """Append (op, entry_id, kind, value) changes in order; returns the last position written
    (0 for none). The caller holds `write_lock` and has flushed its changes: every upserted
    entry is re-assessed here (`entries.trust.refresh`) and its tier recorded in the row, and
    every entry's snapshot tags and the tag counts are settled (`entries.tagcounts.settle`) and
    its snapshot line rebuilt (`lines.refresh`). A writer that has just assessed and stored
    some upserted entries itself (`entries.trust.assess_known`) gives them as `assessed`
    ({entry id: (tier before, assessment)}): they are not re-assessed. `created` names entries
    the writer inserted in this transaction already in their final state, with `feed_tags`
    rendered and counted (`tagcounts.inserted`): their tags are not settled again and their
    lines are inserted without looking for old ones. `feed_tags` names entries whose
    `feed_tags` the writer set in its own UPDATE ({id: (before, written)},
    `tagcounts.rendered`): only their counters move (`tagcounts.settle`)."""
    rows = list(changes)
    if not rows:
        return 0
    session = db.session
    now = utcnow()
    given = assessed or {}
    assessed = {
        **given,
        **trust.refresh([entry_id for op, entry_id, _, _ in rows if op == UPSERT and entry_id not in given], now),
    }
    created = set(created)
    tagcounts.settle((entry_id for _, entry_id, _, _ in rows if entry_id not in created), feed_tags)
    lines.refresh((entry_id for _, entry_id, _, _ in rows), created)
    session.execute(update(FeedHead).where(FeedHead.id == 1).values(position=FeedHead.position + len(rows)))
    last = session.scalar(HEAD) or 0
    first = last - len(rows) + 1
    start = _next_stamp(first - 1)
    bulk_insert(
        table_of(FeedChange),
        [
            {
                "position": first + i,
                "entry_id": entry_id,
                "op": op,
                "kind": kind,
                "value": value,
                "tier": assessed[entry_id][1].tier if op == UPSERT and entry_id in assessed else None,
                "created_at": start + i * STAMP_STEP,
            }
            for i, (op, entry_id, kind, value) in enumerate(rows)
        ],
    )
    if session.get_bind().dialect.name == "postgresql":
        # Delivered at commit (and dropped on rollback): wakes every process's long-poll watcher.
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, str(last))))
    note_feed_position(last)  # the write's answer carries it as X-Blocklist-Cursor
    return last


def _next_stamp(previous_position: int) -> dt.datetime:
    """The time for the change after `previous_position`: now, or one microsecond after the
    previous change's time if that is not earlier. Changes' times therefore strictly increase
    with their positions (also within one bulk, and if the clock steps back), so a time names
    one place in the log: TAXII's `added_after` (a time) cannot skip or repeat a change that
    shares its time with another (cti-taxii2 issue 50). The caller holds `write_lock`."""
    now = utcnow()
    previous = db.session.scalar(select(FeedChange.created_at).where(FeedChange.position == previous_position))
    return now if previous is None or previous < now else previous + STAMP_STEP


def head_and_horizon() -> tuple[int, int]:
    """(last committed position, highest pruned position)."""
    row = db.session.execute(select(FeedHead.position, FeedHead.pruned_through).where(FeedHead.id == 1)).one()
    return row.position or 0, row.pruned_through or 0


def prune(now: dt.datetime | None = None) -> int:
    """Delete changes older than the retention and record the horizon; returns how many (the
    caller commits)."""
    days = current_settings().feed_retention_days
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    through = db.session.scalar(select(func.max(FeedChange.position)).where(FeedChange.created_at < cutoff))
    if through is None:
        return 0
    db.session.execute(
        update(FeedHead).where(FeedHead.id == 1, FeedHead.pruned_through < through).values(pruned_through=through)
    )
    return execute_count(delete(FeedChange).where(FeedChange.position <= through))
