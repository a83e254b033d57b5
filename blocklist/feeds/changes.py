"""Appending to the change log. Entry services call `write_lock` first in every transaction that
changes entries, and `append` for each change to the active set, in that same transaction."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import func, select, update

from ..db import bulk_insert, db, utcnow
from .models import FeedChange, FeedHead

UPSERT = "upsert"
NOTIFY_CHANNEL = "blocklist_feed"
REMOVE = "remove"


def write_lock() -> None:
    """Serialise entry writers: take the feed head's row lock (PostgreSQL) or the database write
    lock (SQLite) until commit. Call before reading anything the change depends on."""
    db.session.execute(update(FeedHead).where(FeedHead.id == 1).values(position=FeedHead.position))


def head_position() -> int:
    """The last position handed out (committed, when read outside a writing transaction)."""
    return db.session.scalar(select(FeedHead.position).where(FeedHead.id == 1)) or 0


def append(changes: Iterable[tuple[str, int, str, str]]) -> int:
    """Append (op, entry_id, kind, value) changes in order; returns the last position written
    (0 for none). The caller holds `write_lock`."""
    rows = list(changes)
    if not rows:
        return 0
    session = db.session
    session.execute(update(FeedHead).where(FeedHead.id == 1)
                    .values(position=FeedHead.position + len(rows)))
    last = session.scalar(select(FeedHead.position).where(FeedHead.id == 1))
    first = last - len(rows) + 1
    now = utcnow()
    bulk_insert(FeedChange.__table__, [
        {"position": first + i, "entry_id": entry_id, "op": op, "kind": kind, "value": value,
         "created_at": now}
        for i, (op, entry_id, kind, value) in enumerate(rows)
    ])
    if session.get_bind().dialect.name == "postgresql":
        # Delivered at commit (and dropped on rollback): wakes every process's long-poll watcher.
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, str(last))))
    return last
