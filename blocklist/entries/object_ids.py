"""Entries written without `object_uuid` get it here: during a rolling upgrade past migration
0011, nodes of the previous release still insert entries without one, and TAXII could not find
those by id. The sweeper calls `fill_missing` on every run; its probe is a look-up of the
object_uuid index (which holds NULLs too), so it costs one index probe when nothing is missing.
Once no release older than 0011 can be serving, a later migration can make the column NOT NULL
and this module can go."""

from __future__ import annotations

from sqlalchemy import select, update

from ..db import db
from ..values.ids import entry_uuid
from .models import Entry

BATCH = 10_000


def fill_missing(limit: int = BATCH) -> int:
    """Give up to `limit` entries without one their object_uuid (the caller commits); returns
    how many. Not a change consumers see (the id is a function of kind and value): no feed
    change, no audit record, no version bump."""
    rows = db.session.execute(
        select(Entry.id, Entry.kind, Entry.value).where(Entry.object_uuid.is_(None)).limit(limit)
    ).all()
    if rows:
        db.session.execute(update(Entry), [{"id": r.id, "object_uuid": entry_uuid(r.kind, r.value)} for r in rows])
    return len(rows)
