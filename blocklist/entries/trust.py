"""Stored score and tier: `refresh` re-assesses entries by the rule in `blocklist/values/trust.py`
from their open reports (with their orgs' kinds), unresolved disputes and sightings (carriers'
latest hit, standard orgs' false positives), in a constant number of queries per chunk, and
stores `score`, `tier` and `tier_due_at`.

`feeds.changes.append` calls it for every upsert it writes, so the tier recorded in a change row
is the entry's stored tier at that position: a `min_tier` consumer translates upserts below its
minimum into removes and its copy stays exactly the server's set at or above that tier. The tier
job (`due`, run by the sweeper) re-assesses entries whose tier is due to change as they age.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import attributes

from ..auth.models import Org
from ..config import current_settings
from ..db import IN_CHUNK, db, ids_in, table_of, update_rows
from ..lifecycle.models import Sighting
from ..values.trust import CLASS_OF_ORG_KIND, Assessment, assess
from ..values.trust import Report as TrustReport
from .models import Dispute, Entry, Report

CHUNK = IN_CHUNK
STORED_TYPES = {"score": "integer", "tier": "text", "tier_due_at": "timestamp"}


def refresh(entry_ids: list[int], now: dt.datetime) -> dict[int, tuple[str | None, Assessment]]:
    """Re-assess these entries (the active ones) and store what changed; returns, per entry
    assessed, its tier before and the assessment. The caller has flushed its changes."""
    rules = current_settings().trust
    entries, reports = table_of(Entry), table_of(Report)
    result: dict[int, tuple[str | None, Assessment]] = {}
    ids = sorted(set(entry_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        # The active entries and their open reports (with their orgs' kinds), in one read.
        open_report = (
            (reports.c.entry_id == entries.c.id)
            & reports.c.withdrawn_at.is_(None)
            & (reports.c.expires_at.is_(None) | (reports.c.expires_at > now))
        )
        states: dict[int, Any] = {}
        open_reports: dict[int, list[TrustReport]] = defaultdict(list)
        for r in db.session.execute(
            select(
                entries.c.id,
                entries.c.kind,
                entries.c.score,
                entries.c.tier,
                entries.c.tier_due_at,
                reports.c.org_id,
                Org.kind.label("org_kind"),
                reports.c.created_at,
                reports.c.updated_at,
            )
            .select_from(entries)
            .outerjoin(reports, open_report)
            .outerjoin(Org, Org.id == reports.c.org_id)
            .where(ids_in(entries.c.id, chunk), entries.c.status == "active")
        ):
            states.setdefault(r.id, r)
            if r.org_id is not None:
                open_reports[r.id].append(TrustReport(r.org_id, r.org_kind, fresh_at(r.created_at, r.updated_at)))
        if not states:
            continue
        found = _assess({entry_id: (row.kind, open_reports[entry_id]) for entry_id, row in states.items()}, now, rules)
        changed = []
        for entry_id, a in found.items():
            row = states[entry_id]
            result[entry_id] = (row.tier, a)
            if (row.score, row.tier, row.tier_due_at) != (a.score, a.tier, a.due_at):
                changed.append({"id": entry_id, "score": a.score, "tier": a.tier, "tier_due_at": a.due_at})
        update_rows(entries, changed, STORED_TYPES)
    _sync_loaded(result)
    return result


def fresh_at(created_at: dt.datetime, updated_at: dt.datetime | None) -> dt.datetime:
    """How fresh a report is for the rule's age: when it was made or last changed."""
    return created_at if updated_at is None else max(created_at, updated_at)


def assess_known(entries: dict[int, tuple[str, list[TrustReport]]], now: dt.datetime) -> dict[int, Assessment]:
    """What `refresh` would store for these active entries, given as {id: (kind, their open
    reports as they are in this transaction)} by a writer that has just read them (it reads
    only their disputes and sightings). The writer stores the result with its own UPDATE of
    the entries and hands it to `feeds.changes.append`, which then re-assesses none of them."""
    rules = current_settings().trust
    ids = sorted(entries)
    result: dict[int, Assessment] = {}
    for start in range(0, len(ids), CHUNK):
        result.update(_assess({i: entries[i] for i in ids[start : start + CHUNK]}, now, rules))
    return result


def _assess(entries: dict[int, tuple[str, list[TrustReport]]], now: dt.datetime, rules: Any) -> dict[int, Assessment]:
    """The assessments of at most CHUNK entries ({id: (kind, open reports)}), with their
    unresolved disputes and sightings read in two queries."""
    found = list(entries)
    disputes = dict(
        db.session.execute(
            select(Dispute.entry_id, func.count())
            .where(ids_in(Dispute.entry_id, found), Dispute.status.in_(("open", "acknowledged")))
            .group_by(Dispute.entry_id)
        ).all()
    )
    hits, fps = _sightings(found, {entry_id: reports for entry_id, (_, reports) in entries.items()})
    return {
        entry_id: _settled(
            assess(
                kind,
                reports,
                now,
                open_disputes=disputes.get(entry_id, 0),
                hit_at=hits.get(entry_id),
                fp_orgs=fps.get(entry_id, 0),
                rules=rules,
            ),
            now,
        )
        for entry_id, (kind, reports) in entries.items()
    }


def _settled(a: Assessment, now: dt.datetime) -> Assessment:
    """`a`, looked at again soon when rounding puts its tier change at or before now."""
    if a.due_at is not None and a.due_at <= now:
        return Assessment(a.score, a.tier, now + dt.timedelta(seconds=1))
    return a


def assess_new(kind: str, reporters: dict[int, str], now: dt.datetime) -> Assessment:
    """What `refresh` stores for an entry created now whose only open reports are these orgs'
    ({org id: org kind}), made now: no disputes or sightings can name it yet. A writer that
    inserts entries with it saves `refresh` an UPDATE of each."""
    reports = [TrustReport(org_id, org_kind, now) for org_id, org_kind in reporters.items()]
    return _settled(assess(kind, reports, now, rules=current_settings().trust), now)


def _sightings(
    entry_ids: list[int], open_reports: dict[int, list[TrustReport]]
) -> tuple[dict[int, dt.datetime], dict[int, int]]:
    """Per entry: the start (UTC) of the day of the latest carrier `hit`, and how many distinct
    standard orgs reported a `false_positive` on or after the day of its oldest open report."""
    hits: dict[int, dt.datetime] = {}
    fps: dict[int, int] = defaultdict(int)
    rows = db.session.execute(
        select(Sighting.entry_id, Sighting.org_id, Sighting.type, Org.kind, func.max(Sighting.day))
        .join(Org, Org.id == Sighting.org_id)
        .where(ids_in(Sighting.entry_id, entry_ids), Sighting.type.in_(("hit", "false_positive")), Sighting.count > 0)
        .group_by(Sighting.entry_id, Sighting.org_id, Sighting.type, Org.kind)
    ).all()
    for entry_id, _, type_, org_kind, day in rows:
        if type_ == "hit" and org_kind == "carrier":
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            hits[entry_id] = max(start, hits.get(entry_id, start))
        elif type_ == "false_positive" and CLASS_OF_ORG_KIND.get(org_kind) == "standard":
            reports = open_reports.get(entry_id)
            if reports and day >= min(r.fresh_at for r in reports).date():
                fps[entry_id] += 1
    return hits, fps


def _sync_loaded(result: dict[int, tuple[str | None, Assessment]]) -> None:
    """Entries this session has loaded get the stored values without a reload."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Entry) and obj.id in result:
            a = result[obj.id][1]
            attributes.set_committed_value(obj, "score", a.score)
            attributes.set_committed_value(obj, "tier", a.tier)
            attributes.set_committed_value(obj, "tier_due_at", a.due_at)


def due(now: dt.datetime, limit: int) -> list[tuple[int, str, str]]:
    """(id, kind, value) of up to `limit` active entries whose tier is due to be re-assessed."""
    return [
        (r.id, r.kind, r.value)
        for r in db.session.execute(
            select(Entry.id, Entry.kind, Entry.value)
            .where(Entry.tier_due_at <= now, Entry.status == "active")
            .order_by(Entry.tier_due_at, Entry.id)
            .limit(limit)
        )
    ]
