"""Reading the change log: pages of changes after a cursor, each upsert with its entry as it now is.

Consistency: a page reads the head position H first, then the changes in (since, H]. Every
change at or below a committed head is committed with it (writers update the head and append
their changes in one transaction), so the page never skips a change that commits late, and the
next cursor may safely advance to H even when a kind filter matched nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from ..auth.models import Org
from ..db import db, table_of
from ..entries.models import Entry, EntryTag, Report
from ..entries.schemas import EntrySchema
from ..exceptions import BadRequest, Gone
from ..values.trust import at_least
from . import changes
from .models import FeedChange

CHUNK = 5000  # ids per IN (...) list


@dataclass
class ChangesPage:
    since: int
    head: int
    changes: list[dict[str, Any]] = field(default_factory=list)
    next_position: int = 0
    has_more: bool = False


def _gone(since: int, horizon: int):
    raise Gone(
        f"Changes after this cursor were pruned (the retained log starts after position "
        f"{horizon}); load a new snapshot and follow from its X-Blocklist-Cursor.",
        errors={"since": ["Cursor older than the retained change log."]},
    )


class _Loaded(SimpleNamespace):
    """An entry read with plain Core queries, shaped like `Entry` for `EntrySchema`."""

    effective_status = Entry.effective_status


def _entries_by_id(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Upserted entries as they now are, dumped by `EntrySchema` (the one definition of the
    shape). Three Core queries per chunk of ids (entries, reports with their orgs, tags): no
    ORM identity map or relationship loading, which dominated the cost of a 10,000-change page."""
    found: dict[int, dict[str, Any]] = {}
    entries, reports, tags = table_of(Entry), table_of(Report), table_of(EntryTag)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        loaded = {
            row.id: _Loaded(**row._mapping, tags=[], reports=[])
            for row in db.session.execute(select(entries).where(entries.c.id.in_(chunk)))
        }
        org_columns = (Org.id.label("org_id_"), Org.name.label("org_name"), Org.kind.label("org_kind"))
        for row in db.session.execute(
            select(reports, *org_columns)
            .join(Org, Org.id == reports.c.org_id)
            .where(reports.c.entry_id.in_(chunk))
            .order_by(reports.c.id)
        ):
            loaded[row.entry_id].reports.append(
                SimpleNamespace(
                    **row._mapping, org=SimpleNamespace(id=row.org_id_, name=row.org_name, kind=row.org_kind)
                )
            )
        for row in db.session.execute(
            select(tags.c.entry_id, tags.c.tag).where(tags.c.entry_id.in_(chunk)).order_by(tags.c.tag)
        ):
            loaded[row.entry_id].tags.append(row.tag)
        for entry_id, entry in zip(loaded, EntrySchema(many=True).dump(list(loaded.values())), strict=True):
            found[entry_id] = entry
    return found


def changes_after(since: int | None, kind: str | None, limit: int, min_tier: str | None = None) -> ChangesPage:
    """The changes after position `since` (None: the start of the retained log), in position
    order, at most `limit`; 400 past the head, 410 before the retention horizon.

    With `min_tier`, an upsert whose recorded tier is below it reads as a remove: every tier
    change of an active entry is an upsert recording its new tier, so a copy that applies these
    pages holds exactly the entries at or above `min_tier` at each cursor."""
    head, horizon = changes.head_and_horizon()
    start = horizon if since is None else since
    if start > head:
        raise BadRequest(
            "The cursor is ahead of the feed; use a cursor the feed returned.",
            errors={"since": ["Cursor ahead of the head."]},
        )
    if start < horizon:
        _gone(start, horizon)
    stmt = (
        select(
            FeedChange.position, FeedChange.entry_id, FeedChange.op, FeedChange.kind, FeedChange.value, FeedChange.tier
        )
        .where(changes.in_window(start, head))
        .order_by(FeedChange.position)
        .limit(limit + 1)
    )
    if kind is not None:
        stmt = stmt.where(FeedChange.kind == kind)
    rows = db.session.execute(stmt).all()
    # Read the horizon again: pruning that ran meanwhile may have removed rows we needed.
    horizon = changes.head_and_horizon()[1]
    if start < horizon:
        _gone(start, horizon)
    page = ChangesPage(since=start, head=head, has_more=len(rows) > limit)
    rows = rows[:limit]
    page.next_position = rows[-1].position if page.has_more else head
    ops = ["remove" if row.op == "upsert" and not at_least(row.tier, min_tier) else row.op for row in rows]
    entries = _entries_by_id(sorted({r.entry_id for r, op in zip(rows, ops, strict=True) if op == "upsert"}))
    for row, op in zip(rows, ops, strict=True):
        entry = entries.get(row.entry_id) if op == "upsert" else None
        if entry is None:
            entry = {"id": row.entry_id, "kind": row.kind, "value": row.value}
        page.changes.append({"op": op, "position": row.position, "entry": entry})
    return page
