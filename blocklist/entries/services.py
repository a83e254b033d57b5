"""Publishing and changing entries: the only code that writes them.

Every function here that changes entries first calls `lock_for_write()` (one row lock, held to
commit), then reads what it depends on, then writes the entries, the change log and the audit
trail in the same transaction. Serialising entry writers this way is what makes corroboration
race-free (never two entries for one value), keeps `reporters` exact, and gives the change log
gap-free positions in commit order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Iterable

from flask import current_app
from sqlalchemy import and_, insert, or_, select

from ..audit.services import record, record_many
from ..context import Actor, current_actor
from ..db import allocate_ids, bulk_insert, db, utcnow
from ..errors import abort
from ..feeds import changes
from .allowlist import find_protecting
from .idempotency import IdempotentRequest
from .models import Entry, EntryTag, Report
from .normalise import InvalidValue
from .values import CanonicalValue, canonicalise

CHUNK = 5000  # values per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


def lock_for_write() -> None:
    changes.write_lock()


SNAPSHOT_FIELDS = ("id", "kind", "value", "status", "status_reason", "category", "reporters",
                   "expires_at")


def entry_snapshot(entry: Entry | Any, tags: Iterable[str] | None = None) -> dict[str, Any]:
    """What the audit trail keeps of an entry (or anything with its fields) before and after
    a change."""
    snapshot = {name: getattr(entry, name) for name in SNAPSHOT_FIELDS}
    snapshot["tags"] = sorted(tags if tags is not None else entry.tags)
    return snapshot


def get_entry(entry_id: int) -> Entry:
    """The entry or a 404 problem."""
    entry = db.session.get(Entry, entry_id)
    if entry is None:
        abort(404, f"No entry with id {entry_id}.")
    return entry


def fresh(entry_id: int) -> Entry:
    """The entry as it now is in this transaction (reports and tags reloaded)."""
    return db.session.scalars(select(Entry).where(Entry.id == entry_id)
                              .execution_options(populate_existing=True)).one()


def default_expiry(kind: str, now: dt.datetime) -> dt.datetime | None:
    ttl = current_app.config["ENTRY_TTL"].get(kind, 0)
    return now + dt.timedelta(seconds=ttl) if ttl else None


def _later(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    """The later of two expiries, None meaning never."""
    if a is None or b is None:
        return None
    return max(a, b)


# --- publishing -----------------------------------------------------------------------------

@dataclass
class PublishItem:
    index: int
    value: CanonicalValue
    raw_value: str
    reason: str | None
    evidence: str | None
    category: str | None
    tags: tuple[str, ...]
    expires_at: dt.datetime | None


@dataclass
class Outcome:
    index: int
    entry_id: int
    kind: str
    value: str
    result: str  # created | relisted | corroborated | refreshed

    @property
    def listed_anew(self) -> bool:
        return self.result in ("created", "relisted")


def _item_errors(errors: dict[int, dict[str, list[str]]], single: bool) -> dict:
    if single:
        return next(iter(errors.values()))
    return {"items": {str(i): e for i, e in sorted(errors.items())}}


def prepare(items: list[dict], *, single: bool) -> list[PublishItem]:
    """Canonicalise every item; a 422 problem naming each bad item and field otherwise."""
    region = current_app.config["DEFAULT_REGION"]
    now = utcnow()
    prepared, errors = [], {}
    for index, item in enumerate(items):
        try:
            value = canonicalise(item["kind"], item["value"], item.get("region") or region)
        except InvalidValue as error:
            errors[index] = {"value": [str(error)]}
            continue
        expires_at = item.get("expires_at")
        if expires_at is not None and expires_at <= now:
            errors[index] = {"expires_at": ["Must be in the future; use /expire to expire now."]}
            continue
        prepared.append(PublishItem(index, value, item["value"], item.get("reason"),
                                    item.get("evidence"), item.get("category"),
                                    tuple(item.get("tags") or ()), expires_at))
    if errors:
        abort(422, "Some values cannot be listed; see errors." if not single else
              next(iter(next(iter(errors.values())).values()))[0],
              errors=_item_errors(errors, single))
    return prepared


def _refuse_allowlisted(items: list[PublishItem], single: bool) -> None:
    region = current_app.config["DEFAULT_REGION"]
    protected = find_protecting({(i.value.kind, i.value.value) for i in items}, region)
    if not protected:
        return
    errors, first = {}, None
    for item in items:
        hit = protected.get((item.value.kind, item.value.value))
        if hit is not None:
            first = first or hit
            errors[item.index] = {"value": [f"On the allowlist ({hit.kind} {hit.value}): {hit.reason}"]}
    abort(409, f"{first.kind} {first.value!r} is on the allowlist: {first.reason}",
          errors=_item_errors(errors, single), allowlist_reason=first.reason)


def kind_value_in(pairs: Iterable[tuple[str, str]]):
    """A WHERE clause for (kind, value) in `pairs` that probes the unique (kind, value) index:
    `kind = k AND value IN (...)` for each kind, OR-ed (value alone would scan the table)."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in pairs:
        by_kind.setdefault(kind, []).append(value)
    return or_(*(and_(Entry.kind == kind, Entry.value.in_(values)) for kind, values in sorted(by_kind.items())))


def chunks(items: Iterable, size: int = CHUNK) -> Iterable[list]:
    items = sorted(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _load_existing(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Entry]:
    found: dict[tuple[str, str], Entry] = {}
    for chunk in chunks(pairs):
        stmt = select(Entry).where(kind_value_in(chunk)).execution_options(populate_existing=True)
        for entry in db.session.scalars(stmt):
            found[(entry.kind, entry.value)] = entry
    return found


def _merge_duplicates(items: list[PublishItem]) -> list[PublishItem]:
    """One item per (kind, value) in a batch: the first, with every item's tags."""
    merged: dict[tuple[str, str], PublishItem] = {}
    for item in items:
        key = (item.value.kind, item.value.value)
        if key in merged:
            first = merged[key]
            first.tags = tuple(dict.fromkeys(first.tags + item.tags))
            # None here means "not given" (the default TTL applies), so the later given one wins.
            first.expires_at = max(filter(None, (first.expires_at, item.expires_at)), default=None)
        else:
            merged[key] = item
    return list(merged.values())


def publish(items: list[dict], *, single: bool = False, idempotent: IdempotentRequest | None = None,
            render: Callable[[list[Outcome]], tuple[int, Any]] | None = None) -> list[Outcome]:
    """Publish values for the current actor's org, all or nothing.

    A value nobody listed becomes a new active entry; a listed one gains (or refreshes) this
    org's report — corroboration — and is re-activated if it had expired. A revoked entry can be
    listed again only by a regulator. Allowlisted values are refused (409).

    With `idempotent`, a request whose key was answered raises `Replayed` (checked under the
    lock), and `render(outcomes)` -> (status, body) is stored as the answer before commit.
    """
    actor = current_actor()
    prepared = _merge_duplicates(prepare(items, single=single))
    now = utcnow()

    lock_for_write()
    if idempotent is not None:
        idempotent.check()
    # Under the lock: an allowlist entry committed a moment ago is seen (allowlisting takes it too).
    _refuse_allowlisted(prepared, single)
    existing = _load_existing({(i.value.kind, i.value.value) for i in prepared})
    refused = {i.index: {"value": ["Revoked by a regulator; only a regulator can list it again."]}
               for i in prepared
               if (e := existing.get((i.value.kind, i.value.value))) is not None
               and e.status == "revoked" and not actor.is_regulator}
    if refused:
        db.session.rollback()
        abort(409, "Revoked by a regulator; only a regulator can list it again.",
              errors=_item_errors(refused, single))

    new_items = [i for i in prepared if (i.value.kind, i.value.value) not in existing]
    old_items = [i for i in prepared if (i.value.kind, i.value.value) in existing]
    outcomes: list[Outcome] = []
    feed: list[tuple[str, int, str, str]] = []
    audit: list[dict[str, Any]] = []

    if new_items:
        new_ids = _insert_new(new_items, actor, now)
        for item, entry_id in zip(new_items, new_ids):
            outcomes.append(Outcome(item.index, entry_id, item.value.kind, item.value.value, "created"))
            feed.append((changes.UPSERT, entry_id, item.value.kind, item.value.value))
            audit.append({"action": "entry.publish", "target_type": "entry", "target_id": entry_id,
                          "after": _new_snapshot(entry_id, item), "reason": item.reason})
    for item in old_items:
        entry = existing[(item.value.kind, item.value.value)]
        outcome, change = _report_existing(entry, item, actor, now)
        outcomes.append(outcome)
        feed.append((changes.UPSERT, entry.id, entry.kind, entry.value))
        audit.append(change)
    db.session.flush()
    changes.append(feed)
    record_many(audit)
    outcomes.sort(key=lambda o: o.index)
    if idempotent is not None and render is not None:
        idempotent.store(*render(outcomes))
    db.session.commit()
    return outcomes


def _new_snapshot(entry_id: int, item: PublishItem) -> dict[str, Any]:
    new = SimpleNamespace(id=entry_id, kind=item.value.kind, value=item.value.value, status="active",
                          status_reason=None, category=item.category, reporters=1,
                          expires_at=item.expires_at)
    return entry_snapshot(new, item.tags)


def _insert_new(items: list[PublishItem], actor: Actor, now: dt.datetime) -> list[int]:
    """Set-based inserts of new entries, their first reports and tags; returns the new ids."""
    for item in items:
        if item.expires_at is None:
            item.expires_at = default_expiry(item.value.kind, now)
    rows = [{"kind": i.value.kind, "value": i.value.value, "raw_value": i.raw_value,
             "status": "active", "category": i.category, "range_prefix": i.value.range_prefix,
             "range_length": i.value.range_length, "match_key": i.value.match_key,
             "reporters": 1, "version": 1, "expires_at": i.expires_at, "created_at": now,
             "updated_at": now} for i in items]
    entries = Entry.__table__
    ids = allocate_ids(entries, len(rows))
    if ids is None:
        ids = list(db.session.scalars(insert(entries).returning(entries.c.id, sort_by_parameter_order=True), rows))
    else:
        bulk_insert(entries, [{"id": entry_id, **row} for entry_id, row in zip(ids, rows)])
    bulk_insert(Report.__table__, [
        {"entry_id": entry_id, "org_id": actor.org_id, "client_id": actor.client_id,
         "raw_value": i.raw_value, "reason": i.reason, "evidence": i.evidence,
         "created_at": now, "updated_at": now}
        for i, entry_id in zip(items, ids)])
    tag_rows = [{"entry_id": entry_id, "tag": tag} for i, entry_id in zip(items, ids) for tag in i.tags]
    if tag_rows:
        bulk_insert(EntryTag.__table__, tag_rows)
    return ids


def _report_existing(entry: Entry, item: PublishItem, actor: Actor,
                     now: dt.datetime) -> tuple[Outcome, dict[str, Any]]:
    """Add or refresh this org's report on a listed entry; re-activate it if it was not active."""
    before = entry_snapshot(entry)
    was_active = entry.effective_status(now) == "active"
    report = next((r for r in entry.reports if r.org_id == actor.org_id), None)
    if report is None:
        report = Report(entry_id=entry.id, org_id=actor.org_id, created_at=now, raw_value=item.raw_value)
        db.session.add(report)
        entry.reports.append(report)
        counted_before = False
    else:
        counted_before = report.withdrawn_at is None
    report.client_id, report.raw_value, report.updated_at = actor.client_id, item.raw_value, now
    report.withdrawn_at = None
    report.reason = item.reason or report.reason
    report.evidence = item.evidence or report.evidence

    candidate = item.expires_at or default_expiry(entry.kind, now)
    if was_active:
        entry.expires_at = _later(entry.expires_at, candidate)
        result = "refreshed" if counted_before else "corroborated"
    else:
        if entry.status == "active":  # its time ran out but the sweeper has not marked it yet
            _close_reports(entry, now, keep=report)
        entry.status, entry.status_reason, entry.expires_at = "active", None, candidate
        result = "relisted"
    entry.reporters = sum(1 for r in entry.reports if r.withdrawn_at is None)
    entry.category = item.category or entry.category
    new_tags = [t for t in item.tags if t not in entry.tags]
    for tag in new_tags:
        entry.tag_rows.append(EntryTag(entry_id=entry.id, tag=tag))
    entry.version += 1
    entry.updated_at = now
    action = {"created": "entry.publish", "relisted": "entry.relist",
              "corroborated": "entry.corroborate", "refreshed": "entry.corroborate"}[result]
    return (Outcome(item.index, entry.id, entry.kind, entry.value, result),
            {"action": action, "target_type": "entry", "target_id": entry.id, "before": before,
             "after": entry_snapshot(entry), "reason": item.reason})


# --- changing one entry ----------------------------------------------------------------------

def own_report(entry: Entry, org_id: int | None) -> Report | None:
    return next((r for r in entry.reports if r.org_id == org_id and r.withdrawn_at is None), None)


def check_may_change(entry: Entry, actor: Actor) -> None:
    """An org changes only entries it reports; a regulator changes anything (else 403)."""
    if actor.is_regulator or own_report(entry, actor.org_id) is not None:
        return
    abort(403, "Only an organisation that reports this entry, or a regulator, may change it.")


def check_if_match(entry: Entry, if_match: str | None) -> None:
    """`If-Match` is optional; when sent it must carry the entry's current ETag (else 412)."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",")]
    if "*" not in tags and entry.etag not in tags and f"W/{entry.etag}" not in tags:
        abort(412, "The entry has changed since you read it; GET it again and retry with its ETag.")


def _close_reports(entry: Entry, now: dt.datetime, keep: Report | None = None) -> None:
    for report in entry.reports:
        if report is not keep and report.withdrawn_at is None:
            report.withdrawn_at = now


def deactivate(entry: Entry, status: str, reason: str, now: dt.datetime) -> None:
    """Take the entry out of the active set. Its open reports close with it, so `reporters`
    counts 0 and a later re-listing starts from the report that re-lists it."""
    entry.status, entry.status_reason = status, reason
    _close_reports(entry, now)
    entry.reporters = 0


def _locked_entry(entry_id: int) -> Entry:
    lock_for_write()
    entry = get_entry(entry_id)
    db.session.refresh(entry)
    return entry


def _after_change(entry: Entry, before: dict[str, Any], action: str, reason: str | None,
                  feed_op: str | None, now: dt.datetime) -> Entry:
    entry.version += 1
    entry.updated_at = now
    db.session.flush()
    if feed_op is not None:
        changes.append([(feed_op, entry.id, entry.kind, entry.value)])
    record(action, "entry", entry.id, before=before, after=entry_snapshot(entry), reason=reason)
    db.session.commit()
    return fresh(entry.id)


def update(entry_id: int, data: dict[str, Any], if_match: str | None) -> Entry:
    """PATCH: tags (replace, or add/remove), category, expires_at."""
    actor = current_actor()
    now = utcnow()
    entry = _locked_entry(entry_id)
    check_may_change(entry, actor)
    check_if_match(entry, if_match)
    before = entry_snapshot(entry)
    # The tag lists arrive without repeats (schemas.UniqueList).
    removed = set(data.get("remove_tags") or ())
    tags = [t for t in dict.fromkeys(data.get("tags", entry.tags) + (data.get("add_tags") or []))
            if t not in removed]
    if tags != entry.tags:
        entry.tag_rows[:] = [next((row for row in entry.tag_rows if row.tag == t), None)
                             or EntryTag(entry_id=entry.id, tag=t) for t in tags]
    if "category" in data:
        entry.category = data["category"]
    if "expires_at" in data:
        if data["expires_at"] is not None and data["expires_at"] <= now:
            abort(422, "expires_at must be in the future; use /expire to expire now.",
                  errors={"expires_at": ["Must be in the future."]})
        entry.expires_at = data["expires_at"]
    if entry_snapshot(entry, tags) == before:
        db.session.rollback()
        return fresh(entry.id)
    feed_op = changes.UPSERT if entry.in_feed else None
    return _after_change(entry, before, "entry.update", data.get("reason"), feed_op, now)


def withdraw(entry_id: int, reason: str | None) -> Entry:
    """The caller's org withdraws its report; with no report left the entry expires."""
    actor = current_actor()
    now = utcnow()
    entry = _locked_entry(entry_id)
    report = own_report(entry, actor.org_id)
    if report is None:
        abort(409, "Your organisation has no active report on this entry to withdraw.")
    before = entry_snapshot(entry)
    in_feed = entry.in_feed
    report.withdrawn_at = now
    entry.reporters = sum(1 for r in entry.reports if r.withdrawn_at is None)
    feed_op = changes.UPSERT if in_feed else None
    if entry.reporters == 0 and in_feed:
        deactivate(entry, "expired", "withdrawn", now)
        feed_op = changes.REMOVE
    return _after_change(entry, before, "entry.withdraw", reason, feed_op, now)


def expire(entry_id: int, reason: str) -> Entry:
    """Expire now (e.g. `recycled`: the number went to a new subscriber).

    Allowed to the entry's reporters, regulators, and any carrier for a number with reason
    `recycled` (carriers are the authority on whom their numbers are assigned to).
    """
    actor = current_actor()
    now = utcnow()
    entry = _locked_entry(entry_id)
    carrier_recycling = actor.org_kind == "carrier" and entry.kind == "number" and reason == "recycled"
    if not carrier_recycling:
        check_may_change(entry, actor)
    if entry.effective_status(now) != "active":
        abort(409, f"The entry is not active (it is {entry.effective_status(now)}).")
    before = entry_snapshot(entry)
    deactivate(entry, "expired", reason, now)
    entry.expires_at = now
    return _after_change(entry, before, "entry.expire", reason, changes.REMOVE, now)


def revoke(entry_id: int, reason: str, *, status_reason: str | None = None) -> Entry:
    """A regulator overturns the entry; only a regulator can list it again. `status_reason`
    (default: `reason`) is what the entry shows, `reason` what the audit trail keeps."""
    now = utcnow()
    entry = _locked_entry(entry_id)
    if entry.status == "revoked":
        abort(409, "The entry is already revoked.")
    before = entry_snapshot(entry)
    feed_op = changes.REMOVE if entry.in_feed else None
    deactivate(entry, "revoked", status_reason or reason, now)
    return _after_change(entry, before, "entry.revoke", reason, feed_op, now)


def expire_due(now: dt.datetime | None = None, limit: int = 10000) -> int:
    """Mark entries whose `expires_at` has passed as expired, each with a `remove` change, so
    consumers hear of time-based expiry without anyone writing. Returns how many."""
    now = now or utcnow()
    due_stmt = (select(Entry.id).where(Entry.status == "active", Entry.expires_at <= now)
                .order_by(Entry.id).limit(limit))
    if db.session.scalar(due_stmt.limit(1)) is None:
        db.session.rollback()
        return 0
    lock_for_write()
    due = list(db.session.scalars(select(Entry).where(Entry.id.in_(list(db.session.scalars(due_stmt))))
                                  .execution_options(populate_existing=True)))
    feed, audit = [], []
    for entry in due:
        before = entry_snapshot(entry)
        deactivate(entry, "expired", "ttl", now)
        entry.version += 1
        entry.updated_at = now
        feed.append((changes.REMOVE, entry.id, entry.kind, entry.value))
        audit.append({"action": "entry.expire", "target_type": "entry", "target_id": entry.id,
                      "before": before, "after": entry_snapshot(entry), "reason": "ttl"})
    db.session.flush()
    changes.append(feed)
    record_many(audit)
    db.session.commit()
    return len(due)
