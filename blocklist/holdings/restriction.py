"""Restriction follows the subject: the one mechanism that opens and closes reports *via* a
listed subject on the entries of the resources it holds.

While a subject (an `enterprise` or `person` entry) is active, each of its open reports (by
org O, a direct report) and each open holding H of that subject (valid now) call for one open
report on the held resource's entry: org O, `via_subject_entry_id` the subject's entry,
`via_holding_id` H, `expires_at` the earlier of the subject report's and `H.valid_to`. The
resource's entry is created if nobody listed it, and re-activated if it had expired; a revoked
or allowlisted resource is never restricted this way.

`reconcile(scope)` computes that desired set for the holdings in scope, compares it with the
via reports open now and applies the difference with set-based statements: opens the missing
ones, closes the ones no longer called for, moves changed expiries; then recounts the touched
entries, writes one feed change (`upsert` / `remove`) and one audit record (`entry.via`, before
and after) per entry that changed. Running it twice changes nothing the second time
(idempotent), and it runs in the caller's transaction under the entry-writer lock, so a
failure anywhere rolls back the listing and its restrictions together.

Every path that changes a subject's active reports calls `reconcile_subjects` (publish,
withdraw, expire, PATCH, revoke, a dispute overturned, allowlisting, the sweeper); recording and
ending a holding call `reconcile_holdings`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, func, insert, or_, select, update

from ..audit.actions import Action
from ..audit.services import record_many
from ..config import current_settings
from ..context import Actor
from ..db import allocate_ids, bulk_insert, db, table_of, utcnow
from ..entries.models import Entry, Report
from ..entries.protection import find_protecting
from ..feeds import changes
from ..values.canonical import canonicalise
from ..values.normalise import InvalidValue
from .models import Holding

CHUNK = 5000
Key = tuple[str, str, int, int]  # (resource kind, resource value, org id, holding id)


@dataclass
class Wanted:
    expires_at: dt.datetime | None
    subject_entry_id: int
    subject: str  # "kind value", for the audit reason
    reason: str | None


def _earlier(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _chunks(items: Iterable[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    items = sorted(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def subjects_clause(pairs: Iterable[tuple[str, str]]) -> ColumnElement[bool]:
    """SQL: holdings of these (kind, value) subjects."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, value in pairs:
        by_kind[kind].append(value)
    if not by_kind:
        return false()
    return or_(
        *(
            and_(Holding.subject_kind == kind, Holding.subject_value.in_(sorted(values)))
            for kind, values in sorted(by_kind.items())
        )
    )


def reconcile_subjects(pairs: Iterable[tuple[str, str]], actor: Actor, now: dt.datetime | None = None) -> int:
    """Bring the via reports of every holding of these subjects in line; returns how many
    resource entries changed."""
    pairs = sorted(set(pairs))
    if not pairs:
        return 0
    total = 0
    for chunk in _chunks(pairs, 1000):
        total += reconcile(subjects_clause(chunk), actor, now)
    return total


def reconcile_holdings(ids: Iterable[int], actor: Actor, now: dt.datetime | None = None) -> int:
    """The same for these holdings."""
    ids = sorted(set(ids))
    return reconcile(Holding.id.in_(ids), actor, now) if ids else 0


def _desired(scope: ColumnElement[bool], now: dt.datetime) -> dict[Key, Wanted]:
    stmt = (
        select(
            Holding.id,
            Holding.resource_kind,
            Holding.resource_value,
            Holding.valid_to,
            Holding.subject_kind,
            Holding.subject_value,
            Report.org_id,
            Report.expires_at,
            Report.reason,
            Entry.id.label("subject_entry_id"),
        )
        .join(Entry, (Entry.kind == Holding.subject_kind) & (Entry.value == Holding.subject_value))
        .join(Report, Report.entry_id == Entry.id)
        .where(
            scope,
            Holding.valid_at(now),
            Entry.active_at(now),
            Report.withdrawn_at.is_(None),
            Report.via_holding_id.is_(None),
            or_(Report.expires_at.is_(None), Report.expires_at > now),
        )
    )
    return {
        (row.resource_kind, row.resource_value, row.org_id, row.id): Wanted(
            _earlier(row.expires_at, row.valid_to),
            row.subject_entry_id,
            f"{row.subject_kind} {row.subject_value}",
            row.reason,
        )
        for row in db.session.execute(stmt)
    }


def _existing(scope: ColumnElement[bool], now: dt.datetime) -> dict[Key, Any]:
    stmt = (
        select(
            Report.id,
            Report.entry_id,
            Report.org_id,
            Report.via_holding_id,
            Report.via_subject_entry_id,
            Report.expires_at,
            Entry.kind,
            Entry.value,
            Holding.valid_at(now).label("holding_open"),
        )
        .join(Holding, Holding.id == Report.via_holding_id)
        .join(Entry, Entry.id == Report.entry_id)
        .where(scope, Report.withdrawn_at.is_(None))
    )
    return {(row.kind, row.value, row.org_id, row.via_holding_id): row for row in db.session.execute(stmt)}


def _resource_entries(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, value in pairs:
        by_kind[kind].append(value)
    for kind, values in by_kind.items():
        for chunk in _chunks(values):
            stmt = select(Entry.id, Entry.kind, Entry.value, Entry.status).where(
                Entry.kind == kind, Entry.value.in_(chunk)
            )
            found.update({(row.kind, row.value): row for row in db.session.execute(stmt)})
    return found


def _create_entries(pairs: list[tuple[str, str]], now: dt.datetime) -> dict[tuple[str, str], int]:
    """Insert entries for resources nobody listed (active, no report yet: the caller adds the via
    reports and recounts); returns their ids."""
    region = current_settings().default_region
    rows: list[dict[str, Any]] = []
    for kind, value in pairs:
        try:
            canonical = canonicalise(kind, value, region)
        except InvalidValue:  # stored canonical values always re-canonicalise; be safe anyway
            continue
        rows.append(
            {
                "kind": kind,
                "value": value,
                "raw_value": value,
                "status": "active",
                "range_prefix": canonical.range_prefix,
                "range_length": canonical.range_length,
                "match_key": canonical.match_key,
                "reporters": 0,
                "version": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    if not rows:
        return {}
    entries = table_of(Entry)
    ids = allocate_ids(entries, len(rows))
    if ids is None:
        ids = list(db.session.scalars(insert(entries).returning(entries.c.id, sort_by_parameter_order=True), rows))
    else:
        bulk_insert(entries, [{"id": entry_id, **row} for entry_id, row in zip(ids, rows, strict=True)])
    return {(row["kind"], row["value"]): entry_id for row, entry_id in zip(rows, ids, strict=True)}


STATE = ("id", "kind", "value", "status", "status_reason", "reporters", "expires_at")


def _states(entry_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    found = {}
    for chunk in _chunks(entry_ids):
        stmt = select(*(getattr(Entry, name) for name in STATE)).where(Entry.id.in_(chunk))
        found.update({row.id: dict(row._mapping) for row in db.session.execute(stmt)})
    return found


def _recount(entry_ids: list[int], reason: str, now: dt.datetime) -> None:
    """Derive `reporters` and `expires_at` from the open reports (set-based), then the status:
    active with a report open, expired (now, with `reason`) with none."""
    open_report = (Report.entry_id == Entry.id) & Report.withdrawn_at.is_(None)
    count = select(func.count(Report.org_id.distinct())).where(open_report).scalar_subquery()
    latest = select(func.max(Report.expires_at)).where(open_report).scalar_subquery()
    never = exists().where(open_report, Report.expires_at.is_(None))
    for chunk in _chunks(entry_ids):
        db.session.execute(
            update(Entry)
            .where(Entry.id.in_(chunk))
            .values(
                reporters=count,
                expires_at=case((never, None), else_=func.coalesce(latest, Entry.expires_at)),
                version=Entry.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(Entry)
            .where(Entry.id.in_(chunk), Entry.reporters > 0, Entry.status == "expired")
            .values(status="active", status_reason=None)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(Entry)
            .where(Entry.id.in_(chunk), Entry.reporters == 0, Entry.status == "active")
            .values(status="expired", status_reason=reason, expires_at=now)
            .execution_options(synchronize_session=False)
        )


def _forget(entry_ids: set[int]) -> None:
    """Entries and reports this session holds for the touched entries are stale after the
    set-based writes: expire them so the next read reloads."""
    session = db.session
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, Entry) and obj.id in entry_ids) or (isinstance(obj, Report) and obj.entry_id in entry_ids):
            session.expire(obj)


def reconcile(scope: ColumnElement[bool], actor: Actor, now: dt.datetime | None = None) -> int:
    """Apply the difference between the via reports the holdings in `scope` call for and those
    open now (see the module's docstring). Returns how many resource entries changed."""
    now = now or utcnow()
    changes.write_lock()
    db.session.flush()
    desired = _desired(scope, now)
    existing = _existing(scope, now)

    to_close = [row for key, row in existing.items() if key not in desired]
    to_move: dict[dt.datetime | None, list[int]] = defaultdict(list)
    for key, row in existing.items():
        wanted = desired.get(key)
        if wanted is not None and wanted.expires_at != row.expires_at:
            to_move[wanted.expires_at].append(row.id)
    to_open = {key: wanted for key, wanted in desired.items() if key not in existing}

    entries: dict[tuple[str, str], int] = {}
    created: set[int] = set()
    if to_open:
        region = current_settings().default_region
        pairs = {(key[0], key[1]) for key in to_open}
        protected = find_protecting(pairs, region)
        found = _resource_entries(pairs)
        entries = {pair: row.id for pair, row in found.items() if row.status != "revoked"}
        missing = sorted(pair for pair in pairs if pair not in found and pair not in protected)
        made = _create_entries(missing, now)
        created = set(made.values())
        entries.update(made)
        to_open = {
            key: w for key, w in to_open.items() if (key[0], key[1]) in entries and (key[0], key[1]) not in protected
        }

    touched = {row.entry_id for row in to_close}
    touched |= {
        row.entry_id for key, row in existing.items() if key in desired and desired[key].expires_at != row.expires_at
    }
    touched |= {entries[(key[0], key[1])] for key in to_open}
    if not touched:
        return 0
    before = _states(touched - created)
    why: dict[int, dict[str, list[list[Any]]]] = defaultdict(lambda: {"opened": [], "closed": [], "changed": []})
    reasons: dict[int, str] = {}

    for chunk in _chunks([row.id for row in to_close]):
        db.session.execute(
            update(Report)
            .where(Report.id.in_(chunk))
            .values(withdrawn_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    for row in to_close:
        # Why it closed: the holding ended, or the subject's listing (by this org) did.
        closed = "holding ended" if not row.holding_open else "subject no longer listed"
        why[row.entry_id]["closed"].append([row.org_id, row.via_holding_id, row.via_subject_entry_id, closed])
        reasons.setdefault(row.entry_id, f"via holding {row.via_holding_id}: {closed}")
    for reason in ("holding ended", "subject no longer listed"):
        ids = [row.id for row in to_close if (reason == "holding ended") == (not row.holding_open)]
        for chunk in _chunks(ids):
            db.session.execute(
                update(Report)
                .where(Report.id.in_(chunk))
                .values(close_reason=reason)
                .execution_options(synchronize_session=False)
            )
    for expires_at, ids in to_move.items():
        for chunk in _chunks(ids):
            db.session.execute(
                update(Report)
                .where(Report.id.in_(chunk))
                .values(expires_at=expires_at, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    for key, row in existing.items():
        wanted = desired.get(key)
        if wanted is not None and wanted.expires_at != row.expires_at:
            why[row.entry_id]["changed"].append(
                [row.org_id, row.via_holding_id, row.via_subject_entry_id, wanted.expires_at]
            )
            reasons.setdefault(row.entry_id, f"via {wanted.subject}, holding {row.via_holding_id}: expiry follows")
    rows = []
    for key, wanted in to_open.items():
        kind, value, org_id, holding_id = key
        entry_id = entries[(kind, value)]
        rows.append(
            {
                "entry_id": entry_id,
                "org_id": org_id,
                "client_id": None,
                "raw_value": value,
                "reason": wanted.reason,
                "evidence": None,
                "expires_at": wanted.expires_at,
                "created_at": now,
                "updated_at": now,
                "withdrawn_at": None,
                "close_reason": None,
                "via_subject_entry_id": wanted.subject_entry_id,
                "via_holding_id": holding_id,
            }
        )
        why[entry_id]["opened"].append([org_id, holding_id, wanted.subject_entry_id, wanted.expires_at])
        reasons.setdefault(entry_id, f"via {wanted.subject} (entry {wanted.subject_entry_id}), holding {holding_id}")
    bulk_insert(table_of(Report), rows)

    ordered = sorted(touched)
    _recount(ordered, "subject no longer listed", now)
    after = _states(ordered)
    _forget(touched)

    feed: list[tuple[str, int, str, str]] = []
    audit: list[dict[str, Any]] = []
    for entry_id in ordered:
        old, new = before.get(entry_id), after[entry_id]
        if new["status"] == "active":
            feed.append((changes.UPSERT, entry_id, new["kind"], new["value"]))
        elif old is not None and old["status"] == "active":
            feed.append((changes.REMOVE, entry_id, new["kind"], new["value"]))
        audit.append(
            {
                "action": Action.ENTRY_VIA,
                "target_type": "entry",
                "target_id": entry_id,
                "before": old,
                "after": {**new, **{k: v for k, v in why[entry_id].items() if v}},
                "reason": reasons.get(entry_id),
            }
        )
    changes.append(feed)
    record_many(audit, actor)
    return len(ordered)
