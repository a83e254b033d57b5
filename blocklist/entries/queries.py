"""Reading entries, tags, disputes and the allowlist for the list endpoints: the filters as SQL,
one page at a time (the routes stay thin; writes are in `services`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select

from ..context import Actor
from ..db import db, utcnow
from ..pagination import Page, paginate
from . import tagcounts
from .models import AllowlistItem, Dispute, Entry, EntryTag, Report, TagCount


def list_entries(args: dict[str, Any]) -> Page:
    """Entries filtered by kind, status (as it restricts now), tag, active reporter, last change
    and canonical-value prefix, oldest first."""
    now = utcnow()
    stmt = select(Entry)
    if "kind" in args:
        stmt = stmt.where(Entry.kind == args["kind"])
    status = args.get("status")
    if status == "active":
        stmt = stmt.where(Entry.active_at(now))
    elif status == "expired":
        stmt = stmt.where(or_(Entry.status == "expired", (Entry.status == "active") & ~Entry.unexpired(now)))
    elif status == "revoked":
        stmt = stmt.where(Entry.status == "revoked")
    if "tag" in args:
        stmt = stmt.where(exists().where(EntryTag.entry_id == Entry.id, EntryTag.tag == args["tag"]))
    if "reporter" in args:
        stmt = stmt.where(
            exists().where(
                Report.entry_id == Entry.id, Report.org_id == args["reporter"], Report.withdrawn_at.is_(None)
            )
        )
    if "updated_since" in args:
        stmt = stmt.where(Entry.updated_at >= args["updated_since"])
    if "q" in args:
        stmt = stmt.where(Entry.value.startswith(args["q"], autoescape=True))
    return paginate(stmt, [Entry.id], cursor=args["cursor"], limit=args["limit"])


def list_tags(args: dict[str, Any]) -> Page:
    """Tags with the number of active entries carrying each, by tag name (from the counters
    the writes keep: `tagcounts.counts`)."""
    stmt = tagcounts.counts(utcnow(), args.get("namespace"))
    page = paginate(stmt, [TagCount.tag], cursor=args["cursor"], limit=args["limit"], rows=True)
    return Page([{"tag": row.tag, "count": row.count} for row in page.items], page.next_cursor)


def visible(stmt: Select, actor: Actor) -> Select:
    """Regulators see every dispute; an org sees those it filed and those on entries it
    actively reports (not after it withdrew its report or its report ran out)."""
    if actor.is_regulator:
        return stmt
    now = utcnow()
    reports_it = exists().where(
        Report.entry_id == Dispute.entry_id,
        Report.org_id == actor.org_id,
        Report.withdrawn_at.is_(None),
        (Report.expires_at.is_(None)) | (Report.expires_at > now),
    )
    return stmt.where((Dispute.org_id == actor.org_id) | reports_it)


def list_disputes(args: dict[str, Any], actor: Actor) -> Page:
    """Disputes the actor may see (`visible`), filtered by status, entry and being overdue."""
    stmt = visible(select(Dispute), actor)
    if "status" in args:
        stmt = stmt.where(Dispute.status == args["status"])
    if "entry_id" in args:
        stmt = stmt.where(Dispute.entry_id == args["entry_id"])
    if args.get("overdue") is not None:
        clause = Dispute.overdue_at(utcnow())
        stmt = stmt.where(clause if args["overdue"] else ~clause)
    return paginate(stmt, [Dispute.id], cursor=args["cursor"], limit=args["limit"])


def list_allowlist(args: dict[str, Any]) -> Page:
    stmt = select(AllowlistItem)
    if "kind" in args:
        stmt = stmt.where(AllowlistItem.kind == args["kind"])
    return paginate(stmt, [AllowlistItem.id], cursor=args["cursor"], limit=args["limit"])


def entries_to_recanonicalise(batch: int = 5000) -> Iterator[tuple[int, str, str, str, str]]:
    """(id, kind, status, value, raw_value) of every entry but subjects, in id order, read in
    batches by keyset (bounded memory on millions of entries)."""
    after = 0
    while True:
        rows = db.session.execute(
            select(Entry.id, Entry.kind, Entry.status, Entry.value, Entry.raw_value)
            .where(Entry.id > after, Entry.kind.not_in(("person", "enterprise")))
            .order_by(Entry.id)
            .limit(batch)
        ).all()
        yield from (tuple(row) for row in rows)  # type: ignore[misc]
        if len(rows) < batch:
            return
        after = rows[-1][0]


def entry_ids_by_value(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The id of the entry listed under each (kind, value) that has one."""
    if not pairs:
        return {}
    by_kind: dict[str, list[str]] = {}
    for kind, value in pairs:
        by_kind.setdefault(kind, []).append(value)
    where = or_(*(and_(Entry.kind == kind, Entry.value.in_(values)) for kind, values in sorted(by_kind.items())))
    rows = db.session.execute(select(Entry.kind, Entry.value, Entry.id).where(where)).all()
    return {(kind, value): entry_id for kind, value, entry_id in rows}
