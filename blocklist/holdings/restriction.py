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
import gc
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, ColumnElement, and_, false, or_, select, update
from sqlalchemy.orm import aliased

from ..audit.actions import Action
from ..audit.services import record_many
from ..auth.models import Org
from ..config import current_settings
from ..context import Actor
from ..db import bulk_insert, db, in_clauses, insert_with_ids, table_of, update_rows, utcnow
from ..entries import tagcounts, trust
from ..entries.models import Entry, Report
from ..entries.protection import find_protecting
from ..feeds import changes
from ..values.ids import entry_uuid
from ..values.normalise import InvalidValue, parse_range
from ..values.trust import Assessment
from ..values.trust import Report as TrustReport
from .models import Holding

CHUNK = 5000
Key = tuple[str, str, int, int]  # (resource kind, resource value, org id, holding id)


class Resource(NamedTuple):
    id: int
    status: str


class Wanted(NamedTuple):
    expires_at: dt.datetime | None
    subject_entry_id: int
    subject: str  # "kind value", for the audit reason
    reason: str | None


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


def _desired(scope: ColumnElement[bool], now: dt.datetime) -> tuple[dict[Key, Wanted], dict[tuple[str, str], Any]]:
    """The via reports the holdings in scope call for now, and the entries of their resources
    that exist ((kind, value) -> row with `id` and `status`), in one read."""
    resource = aliased(Entry)
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
            resource.id.label("resource_id"),
            resource.status.label("resource_status"),
        )
        .join(Entry, (Entry.kind == Holding.subject_kind) & (Entry.value == Holding.subject_value))
        .join(Report, Report.entry_id == Entry.id)
        .outerjoin(resource, (resource.kind == Holding.resource_kind) & (resource.value == Holding.resource_value))
        .where(
            scope,
            Holding.valid_at(now),
            Entry.active_at(now),
            Report.withdrawn_at.is_(None),
            Report.via_holding_id.is_(None),
            or_(Report.expires_at.is_(None), Report.expires_at > now),
        )
    )
    wanted: dict[Key, Wanted] = {}
    resources: dict[tuple[str, str], Any] = {}
    for (
        holding_id,
        kind,
        value,
        valid_to,
        subject_kind,
        subject_value,
        org_id,
        expires_at,
        reason,
        subject_id,
        resource_id,
        resource_status,
    ) in db.session.execute(stmt):
        if resource_id is not None:
            resources[(kind, value)] = Resource(resource_id, resource_status)
        expiry = expires_at if valid_to is None else valid_to if expires_at is None else min(expires_at, valid_to)
        wanted[(kind, value, org_id, holding_id)] = Wanted(
            expiry, subject_id, subject_kind + " " + subject_value, reason
        )
    return wanted, resources


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
        # Spelled out so the partial unique index on open via reports is the probe.
        .where(scope, Report.via_holding_id.is_not(None), Report.withdrawn_at.is_(None))
    )
    return {(row.kind, row.value, row.org_id, row.via_holding_id): row for row in db.session.execute(stmt)}


def _create_entries(
    pairs: list[tuple[str, str]],
    opening: dict[tuple[str, str], list[tuple[int, dt.datetime | None]]],
    org_kinds: dict[int, str],
    now: dt.datetime,
) -> dict[tuple[str, str], tuple[int, Assessment]]:
    """Insert entries for resources nobody listed, already in the state the via reports about
    to be opened on them give (`opening`: (kind, value) -> [(org id, expires_at)]): active,
    their reporter count and expiry, score and tier, so no UPDATE follows; returns their ids
    and assessments."""
    if not pairs:
        return {}
    rows: list[dict[str, Any]] = []
    assessments: list[Assessment] = []
    for kind, value in pairs:
        prefix, length = None, None
        if kind == "range":  # the look-up probes ranges by prefix (numbers and codes need nothing more)
            try:
                prefix, length = parse_range(value)
            except InvalidValue:  # a stored canonical range always parses; be safe anyway
                continue
        reports = opening[(kind, value)]
        expiries = [expires_at for _, expires_at in reports]
        orgs = {org_id: org_kinds[org_id] for org_id, _ in reports}
        assessed = trust.assess_new(kind, orgs, now)
        assessments.append(assessed)
        rows.append(
            {
                "kind": kind,
                "value": value,
                "object_uuid": entry_uuid(kind, value),  # COPY takes no column defaults
                "raw_value": value,
                "status": "active",
                "range_prefix": prefix,
                "range_length": length,
                "reporters": len(orgs),
                "expires_at": None if None in expiries else max(e for e in expiries if e is not None),
                "score": assessed.score,
                "tier": assessed.tier,
                "tier_due_at": assessed.due_at,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "feed_tags": "[]",  # active, no tags yet (entries/tagcounts.py)
            }
        )
    if not rows:
        return {}
    ids = insert_with_ids(table_of(Entry), rows)
    return {
        (row["kind"], row["value"]): (entry_id, assessed)
        for row, entry_id, assessed in zip(rows, ids, assessments, strict=True)
    }


class Open(NamedTuple):
    """An open report on a touched entry, as the trust rule reads it."""

    org_id: int
    expires_at: dt.datetime | None
    org_kind: str
    fresh_at: dt.datetime  # when it was made or last changed


def _states_and_reports(
    entry_ids: Iterable[int],
) -> tuple[dict[int, dict[str, Any]], dict[int, dict[int, Open]]]:
    """For these entries, in one read: entry id -> {status, status_reason, expires_at, tier,
    feed_tags} as the entry is now, and entry id -> {report id: Open} of its open reports."""
    states: dict[int, dict[str, Any]] = {}
    reports: dict[int, dict[int, Open]] = defaultdict(dict)
    for clause in in_clauses(Entry.id, entry_ids, BigInteger):
        stmt = (
            select(
                Entry.id,
                Entry.status,
                Entry.status_reason,
                Entry.expires_at,
                Entry.tier,
                Entry.feed_tags,
                Report.id.label("report_id"),
                Report.org_id,
                Report.expires_at.label("report_expires_at"),
                Report.created_at,
                Report.updated_at,
                Org.kind.label("org_kind"),
            )
            .outerjoin(Report, (Report.entry_id == Entry.id) & Report.withdrawn_at.is_(None))
            .outerjoin(Org, Org.id == Report.org_id)
            .where(clause)
        )
        for (
            entry_id,
            status,
            status_reason,
            expires_at,
            tier,
            feed_tags,
            report_id,
            org_id,
            report_expires_at,
            created_at,
            updated_at,
            org_kind,
        ) in db.session.execute(stmt):
            if entry_id not in states:
                states[entry_id] = {
                    "status": status,
                    "status_reason": status_reason,
                    "expires_at": expires_at,
                    "tier": tier,
                    "feed_tags": feed_tags,
                }
            if report_id is not None:
                fresh = trust.fresh_at(created_at, updated_at)
                reports[entry_id][report_id] = Open(org_id, report_expires_at, org_kind, fresh)
    return states, reports


def _update_by_id(model: Any, ids: Iterable[int], **values: Any) -> None:
    for clause in in_clauses(model.id, ids, BigInteger):
        db.session.execute(update(model).where(clause).values(**values).execution_options(synchronize_session=False))


def _forget(entry_ids: set[int]) -> None:
    """Entries and reports this session holds for the touched entries are stale after the
    set-based writes: expire them so the next read reloads."""
    session = db.session
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, Entry) and obj.id in entry_ids) or (isinstance(obj, Report) and obj.entry_id in entry_ids):
            session.expire(obj)


# The entry columns a reconcile sets, by SQL type (`db.update_rows`).
ENTRY_TYPES = {
    "status": "text",
    "status_reason": "text",
    "reporters": "integer",
    "expires_at": "timestamp",
    "feed_tags": "text",
    "updated_at": "timestamp",
}

HOLDING_ENDED = "holding ended"
DELISTED = "subject no longer listed"


def reconcile(scope: ColumnElement[bool], actor: Actor, now: dt.datetime | None = None) -> int:
    """`_reconcile` with the cyclic garbage collector paused: it builds tens of thousands of
    short-lived rows (freed by reference counting), and collections triggered by those
    allocations, walking every live object of the process, cost more than the work itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _reconcile(scope, actor, now)
    finally:
        if enabled:
            gc.enable()


def _reconcile(scope: ColumnElement[bool], actor: Actor, now: dt.datetime | None = None) -> int:
    """Apply the difference between the via reports the holdings in `scope` call for and those
    open now (see the module's docstring). Returns how many resource entries changed.

    Set-based throughout: a fixed number of statements whatever the number of holdings (reads
    of the desired and open via reports, of the resource entries and of their open reports;
    one COPY each for new entries, new reports and the feed; one UPDATE per distinct outcome),
    and one audit record for the whole change (`entry.via`, target the subject's entry or the
    holding), listing every report opened, moved or closed and every entry whose status changed.
    """
    now = now or utcnow()
    changes.write_lock()
    db.session.flush()
    desired, resources = _desired(scope, now)
    existing = _existing(scope, now)

    to_close = {
        row.id: (row, HOLDING_ENDED if not row.holding_open else DELISTED)
        for key, row in existing.items()
        if key not in desired
    }
    to_move = {
        row.id: (row, desired[key])
        for key, row in existing.items()
        if key in desired and desired[key].expires_at != row.expires_at
    }
    to_open = {key: wanted for key, wanted in desired.items() if key not in existing}

    entries: dict[tuple[str, str], int] = {}
    created: set[int] = set()
    created_assessed: dict[int, Assessment] = {}
    orgs_opening = {key[2] for key in to_open}
    org_kinds: dict[int, str] = {}
    if orgs_opening:
        org_kinds = dict(db.session.execute(select(Org.id, Org.kind).where(Org.id.in_(orgs_opening))).all())
    if to_open:
        pairs = {(key[0], key[1]) for key in to_open}
        protected = find_protecting(pairs, current_settings().default_region)
        found = {pair: resources[pair] for pair in pairs if pair in resources}
        entries = {pair: row.id for pair, row in found.items() if row.status != "revoked" and pair not in protected}
        missing = sorted(pair for pair in pairs if pair not in found and pair not in protected)
        opening: dict[tuple[str, str], list[tuple[int, dt.datetime | None]]] = defaultdict(list)
        for key, wanted in to_open.items():
            opening[(key[0], key[1])].append((key[2], wanted.expires_at))
        made = _create_entries(missing, opening, org_kinds, now)
        created_assessed = {entry_id: assessed for entry_id, assessed in made.values()}
        created = set(created_assessed)
        entries.update({pair: entry_id for pair, (entry_id, _) in made.items()})
        to_open = {key: w for key, w in to_open.items() if (key[0], key[1]) in entries}

    touched = {row.entry_id for row, _ in to_close.values()} | {row.entry_id for row, _ in to_move.values()}
    touched |= {entries[(key[0], key[1])] for key in to_open}
    if not touched:
        return 0

    values_of = {entry_id: pair for pair, entry_id in entries.items()}
    values_of.update({row.entry_id: (row.kind, row.value) for row, _ in (*to_close.values(), *to_move.values())})

    # The entries as they are, and their open reports as they will be.
    before, reports = _states_and_reports(touched - created)  # a created entry has no report yet
    lapsed: dict[dt.datetime, list[int]] = defaultdict(list)
    for entry_id in touched:
        for report_id, report in list(reports[entry_id].items()):
            expires_at = report.expires_at
            if report_id in to_close:
                del reports[entry_id][report_id]
            elif report_id in to_move:  # updated now
                reports[entry_id][report_id] = report._replace(
                    expires_at=to_move[report_id][1].expires_at, fresh_at=now
                )
            elif expires_at is not None and expires_at <= now:  # ran out, not yet swept: closes as ttl
                del reports[entry_id][report_id]
                lapsed[expires_at].append(report_id)
    rows: list[dict[str, Any]] = []
    for key, wanted in to_open.items():
        kind, value, org_id, holding_id = key
        entry_id = entries[(kind, value)]
        reports[entry_id][-len(rows) - 1] = Open(org_id, wanted.expires_at, org_kinds[org_id], now)
        rows.append(
            {
                "entry_id": entry_id,
                "org_id": org_id,
                "raw_value": value,
                "reason": wanted.reason,
                "expires_at": wanted.expires_at,
                "created_at": now,
                "updated_at": now,
                "via_subject_entry_id": wanted.subject_entry_id,
                "via_holding_id": holding_id,
            }
        )

    # Reports: close, move, close what lapsed, open.
    for reason in (HOLDING_ENDED, DELISTED):
        ids = [report_id for report_id, (_, why) in to_close.items() if why == reason]
        _update_by_id(Report, ids, withdrawn_at=now, close_reason=reason, updated_at=now)
    by_expiry: dict[dt.datetime | None, list[int]] = defaultdict(list)
    for report_id, (_, wanted) in to_move.items():
        by_expiry[wanted.expires_at].append(report_id)
    for expires_at, ids in by_expiry.items():
        _update_by_id(Report, ids, expires_at=expires_at, updated_at=now)
    for expires_at, ids in lapsed.items():
        _update_by_id(Report, ids, withdrawn_at=expires_at, close_reason="ttl", updated_at=now)
    bulk_insert(table_of(Report), rows)

    # Entries: counts, expiry and status derived from their open reports; the trust rule's
    # score and tier for those in the active set (`feeds.changes.append` then re-assesses none
    # of them); one UPDATE for those that stay or become active, one for the rest.
    order = sorted(touched)
    was_active = {entry_id for entry_id, state in before.items() if state["status"] == "active"}
    after: dict[int, dict[str, Any]] = {}
    for entry_id in order:
        old = before.get(entry_id) or {"status": "active", "status_reason": None, "expires_at": None}
        open_reports = reports[entry_id].values()
        state: tuple[str, str | None, int, dt.datetime | None]
        reporters = len({r.org_id for r in open_reports})
        if reporters:
            expiries = [r.expires_at for r in open_reports]
            state = ("active", None, reporters, None if None in expiries else max(e for e in expiries if e is not None))
        elif old["status"] == "active":
            state = ("expired", DELISTED, 0, now)
        else:
            state = (old["status"], old["status_reason"], 0, old["expires_at"])
        after[entry_id] = dict(zip(("status", "status_reason", "reporters", "expires_at"), state, strict=True))
    assessed = trust.assess_known(
        {
            entry_id: (
                values_of[entry_id][0],
                [TrustReport(r.org_id, r.org_kind, r.fresh_at) for r in reports[entry_id].values()],
            )
            for entry_id in order
            if after[entry_id]["status"] == "active" and entry_id not in created  # created: assessed as inserted
        },
        now,
    )
    # The snapshot's tags go in the same UPDATE (`tagcounts.rendered`): the feed then only
    # moves the counters, with no second write of each row.
    tags = tagcounts.tags_of(assessed)
    feed_tags = {
        entry_id: (before[entry_id]["feed_tags"], tagcounts.rendered(after[entry_id]["status"], tags[entry_id]))
        for entry_id in order
        if entry_id not in created
    }
    stays = [
        {
            "id": entry_id,
            **after[entry_id],
            "score": a.score,
            "tier": a.tier,
            "tier_due_at": a.due_at,
            "feed_tags": feed_tags[entry_id][1],
            "updated_at": now,
        }
        for entry_id, a in sorted(assessed.items())
    ]
    update_rows(table_of(Entry), stays, {**ENTRY_TYPES, **trust.STORED_TYPES}, increment=("version",))
    goes = [
        {"id": entry_id, **after[entry_id], "feed_tags": None, "updated_at": now}
        for entry_id in order
        if after[entry_id]["status"] != "active"
    ]
    update_rows(table_of(Entry), goes, ENTRY_TYPES, increment=("version",))
    _forget(touched)

    # The feed: an upsert for each entry in the active set, a remove for each that left it.
    feed: list[tuple[str, int, str, str]] = []
    entered: list[int] = []
    left: list[int] = []
    for entry_id in order:
        kind, value = values_of[entry_id]
        if after[entry_id]["status"] == "active":
            feed.append((changes.UPSERT, entry_id, kind, value))
            if entry_id not in was_active:
                entered.append(entry_id)
        elif entry_id in was_active:
            feed.append((changes.REMOVE, entry_id, kind, value))
            left.append(entry_id)
    changes.append(
        feed,
        {
            **{entry_id: (before[entry_id]["tier"], a) for entry_id, a in assessed.items()},
            **{entry_id: (a.tier, a) for entry_id, a in created_assessed.items()},
        },
        created=created,  # inserted with their (no) tags rendered: nothing to count
        feed_tags=feed_tags,
    )

    opened = [[entries[(k[0], k[1])], k[2], k[3], w.subject_entry_id, w.expires_at] for k, w in to_open.items()]
    record_many(
        [
            {
                "action": Action.ENTRY_VIA,
                "target_type": "entry",
                "target_id": _target(desired, existing),
                "before": {"open_via_reports": len(existing)},
                "after": {
                    "open_via_reports": len(existing) - len(to_close) + len(to_open),
                    # [entry id, org id, holding id, subject entry id, expires_at]
                    "opened": sorted(opened),
                    # [entry id, org id, holding id, expires_at]
                    "moved": sorted(
                        [r.entry_id, r.org_id, r.via_holding_id, w.expires_at] for r, w in to_move.values()
                    ),
                    # [entry id, org id, holding id, why]
                    "closed": sorted([r.entry_id, r.org_id, r.via_holding_id, why] for r, why in to_close.values()),
                    "created_entries": sorted(created),
                    "entered_active_set": entered,
                    "left_active_set": left,
                },
                "reason": _reason(to_open, to_close, to_move),
            }
        ],
        actor,
    )
    return len(touched)


def _target(desired: dict[Key, Wanted], existing: dict[Key, Any]) -> int | None:
    """The subject entry the change follows, when there is one."""
    subjects = {w.subject_entry_id for w in desired.values()} | {r.via_subject_entry_id for r in existing.values()}
    return next(iter(subjects)) if len(subjects) == 1 else None


def _reason(to_open: dict[Key, Wanted], to_close: dict[int, Any], to_move: dict[int, Any]) -> str:
    parts = []
    subjects = sorted({f"{w.subject} (entry {w.subject_entry_id})" for w in to_open.values()})
    if to_open:
        parts.append(f"{len(to_open)} held resource(s) restricted via {', '.join(subjects[:3])}")
    closed_by = sorted({why for _, why in to_close.values()})
    if to_close:
        parts.append(f"{len(to_close)} via report(s) closed: {', '.join(closed_by)}")
    if to_move:
        parts.append(f"{len(to_move)} via report(s) follow the listing's new expiry")
    return "; ".join(parts)
