"""Publishing and changing entries: the only code that writes them.

Every function here that changes entries first calls `lock_for_write()` (one row lock, held to
commit), then reads what it depends on, then writes the entries, the change log and the audit
trail in the same transaction. Serialising entry writers this way is what makes corroboration
race-free (never two entries for one value), keeps `reporters` exact, and gives the change log
gap-free positions in commit order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, and_, any_, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import undefer
from werkzeug.datastructures import ETags

from ..audit.actions import Action
from ..audit.services import record, record_many
from ..auth.models import Org
from ..config import current_settings
from ..context import Actor
from ..db import bulk_insert, db, insert_with_ids, is_postgres, table_of, utcnow
from ..exceptions import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from ..feeds import changes, lines
from ..holdings.restriction import reconcile_subjects
from ..values.canonical import CanonicalValue, canonicalise
from ..values.coverage import shape_errors
from ..values.ids import entry_uuid
from ..values.normalise import InvalidValue
from ..values.subjects import SUBJECT_KINDS
from ..values.trust import Assessment
from . import breadth, tagcounts, trust
from .models import Entry, EntryTag, Report, TagClaim
from .protection import find_protecting

CHUNK = 5000  # values per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


def lock_for_write() -> None:
    changes.write_lock()


SNAPSHOT_FIELDS = ("id", "kind", "value", "status", "status_reason", "category", "reporters", "expires_at")


def entry_snapshot(
    entry: Entry | Any, tags: Iterable[str] | None = None, reports: list[list[Any]] | None = None
) -> dict[str, Any]:
    """What the audit trail keeps of an entry (or anything with its fields) before and after
    a change: its fields, tags, and each open report's org and expiry (reports are each org's
    own, so a change to one org's report shows in the record)."""
    snapshot = {name: getattr(entry, name) for name in SNAPSHOT_FIELDS}
    if getattr(entry, "display_name", None) is not None:  # subjects only
        snapshot["display_name"] = entry.display_name
    snapshot["tags"] = sorted(tags if tags is not None else entry.tags)
    snapshot["reports"] = (
        reports
        if reports is not None
        else [
            [r.org_id, r.expires_at, *([] if r.is_direct else [{"via_holding_id": r.via_holding_id}])]
            for r in sorted(entry.reports, key=lambda r: (r.org_id, r.via_holding_id or 0))
            if r.withdrawn_at is None
        ]
    )
    return snapshot


def get_entry(entry_id: int) -> Entry:
    """The entry or a 404 problem."""
    entry = db.session.get(Entry, entry_id)
    if entry is None:
        raise NotFound(f"No entry with id {entry_id}.")
    return entry


def fresh(entry_id: int) -> Entry:
    """The entry as it now is in this transaction (reports and tags reloaded)."""
    return db.session.scalars(select(Entry).where(Entry.id == entry_id).execution_options(populate_existing=True)).one()


def default_expiry(kind: str, now: dt.datetime) -> dt.datetime | None:
    ttl = current_settings().entry_ttl.get(kind, 0)
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
    display_name: str | None = None


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


def stored_raw_value(value: CanonicalValue, raw: str) -> str:
    """What is kept as published: the value as sent, except a person's identifier, which is
    never stored (its canonical hash stands in)."""
    return value.value if value.kind == "person" else raw


def _resolve_rotated(items: list[PublishItem]) -> None:
    """A person listed under a retired pepper's hash is corroborated there, not listed again
    under the current one (PRODUCT.md: old hashes stay matchable after a rotation)."""
    rotated = [item for item in items if item.value.alternates]
    if not rotated:
        return
    listed: set[str] = set()
    pairs = {("person", v) for item in rotated for v in (item.value.value, *item.value.alternates)}
    for chunk in chunks(pairs):
        listed.update(db.session.scalars(select(Entry.value).where(kind_value_in(chunk))))
    for item in rotated:
        if item.value.value in listed:
            continue
        old = next((alt for alt in item.value.alternates if alt in listed), None)
        if old is not None:
            others = tuple(v for v in (item.value.value, *item.value.alternates) if v != old)
            item.value, item.raw_value = CanonicalValue("person", old, alternates=others), old


def prepare(items: list[dict], actor: Actor, *, single: bool) -> list[PublishItem]:
    """Canonicalise every item, and hold a non-regulator to the breadth limits of its shape
    (`breadth.shape_errors`); a 422 problem naming each bad item and field otherwise."""
    settings = current_settings()
    region = settings.default_region
    now = utcnow()
    prepared, errors = [], {}
    for index, item in enumerate(items):
        try:
            value = canonicalise(item["kind"], item["value"], item.get("region") or region, settings.subject_peppers)
        except InvalidValue as error:
            errors[index] = {"value": [str(error)]}
            continue
        too_wide = (
            None
            if actor.is_regulator
            else shape_errors(value, max_span=settings.max_range_span, min_keyword_chars=settings.min_keyword_chars)
        )
        if too_wide is not None:
            errors[index] = {"value": [too_wide]}
            continue
        expires_at = item.get("expires_at")
        if expires_at is not None and expires_at <= now:
            errors[index] = {"expires_at": ["Must be in the future; use /expire to expire now."]}
            continue
        prepared.append(
            PublishItem(
                index,
                value,
                stored_raw_value(value, item["value"]),
                item.get("reason"),
                item.get("evidence"),
                item.get("category"),
                tuple(item.get("tags") or ()),
                expires_at,
                item.get("display_name"),
            )
        )
    if errors:
        raise Invalid(
            "Some values cannot be listed; see errors."
            if not single
            else next(iter(next(iter(errors.values())).values()))[0],
            errors=_item_errors(errors, single),
        )
    return prepared


def _refuse_allowlisted(items: list[PublishItem], actor: Actor, single: bool) -> None:
    """409 for a value on the allowlist (or under an allowlisted domain), and for a
    non-regulator's range or keyword that covers an allowlisted value."""
    region = current_settings().default_region
    # A person allowlisted under a retired pepper's hash is protected too.
    keys = [[(i.value.kind, v) for v in (i.value.value, *i.value.alternates)] for i in items]
    protected = find_protecting({key for pairs in keys for key in pairs}, region)
    covered = {} if actor.is_regulator else breadth.covered_allowlisted(i.value for i in items)
    if not protected and not covered:
        return
    errors, first, detail = {}, None, None
    for position, item in enumerate(items):
        hit = next((protected[key] for key in keys[position] if key in protected), None)
        if hit is not None:
            message = f"On the allowlist ({hit.kind} {hit.value}): {hit.reason}"
        elif (hit := covered.get(item.value)) is not None:
            message = (
                f"Covers the allowlisted {hit.kind} {hit.value} ({hit.reason}); only a "
                "regulator may publish a range or keyword that covers an allowlisted value."
            )
        else:
            continue
        if first is None:
            first, detail = hit, message
        errors[item.index] = {"value": [message]}
    assert first is not None and detail is not None  # some item was refused
    raise Conflict(detail, errors=_item_errors(errors, single), allowlist_reason=first.reason)


def _refuse_revoked(
    items: list[PublishItem], existing: dict[tuple[str, str], Entry], actor: Actor, single: bool
) -> None:
    """409 when a non-regulator lists again what a regulator revoked: the value itself, or a
    range, keyword or domain that covers a revoked entry."""
    if actor.is_regulator:
        return
    message = "Revoked by a regulator; only a regulator can list it again."
    refused = {
        i.index: {"value": [message]}
        for i in items
        if (e := existing.get((i.value.kind, i.value.value))) is not None and e.status == "revoked"
    }
    covered = breadth.covered_revoked(
        (i.value for i in items if i.index not in refused), current_settings().default_region
    )
    for item in items:
        hit = covered.get(item.value)
        if hit is not None:
            refused[item.index] = {
                "value": [
                    f"Covers {hit.kind} {hit.value} (entry {hit.id}), which a regulator revoked; only a "
                    "regulator may list it again."
                ]
            }
    if refused:
        raise Conflict(
            next(iter(refused.values()))["value"][0] if single else message + " See errors.",
            errors=_item_errors(refused, single),
        )


def kind_value_in(pairs: Iterable[tuple[str, str]]):
    """A WHERE clause for (kind, value) in `pairs` that probes the unique (kind, value) index:
    `kind = k AND value IN (...)` for each kind, OR-ed (value alone would scan the table)."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in pairs:
        by_kind.setdefault(kind, []).append(value)
    if is_postgres():  # one array parameter per kind: no IN list of thousands to render and parse
        return or_(
            *(
                and_(Entry.kind == kind, Entry.value == any_(literal(sorted(values), ARRAY(String))))
                for kind, values in sorted(by_kind.items())
            )
        )
    return or_(*(and_(Entry.kind == kind, Entry.value.in_(values)) for kind, values in sorted(by_kind.items())))


def chunks(items: Iterable, size: int = CHUNK) -> Iterable[list]:
    items = sorted(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _load_existing(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Entry]:
    found: dict[tuple[str, str], Entry] = {}
    for chunk in chunks(pairs):
        stmt = (
            select(Entry)
            .where(kind_value_in(chunk))
            .options(undefer(Entry.feed_tags))  # the publish sets it with the row's own UPDATE
            .execution_options(populate_existing=True)
        )
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
            first.display_name = item.display_name or first.display_name
        else:
            merged[key] = item
    return list(merged.values())


def publish(items: list[dict], actor: Actor, *, single: bool = False) -> list[Outcome]:
    """Publish values for the current actor's org, all or nothing.

    A value nobody listed becomes a new active entry; a listed one gains (or refreshes) this
    org's report — corroboration — and is re-activated if it had expired. A revoked entry can be
    listed again only by a regulator. Allowlisted values are refused (409).

    """
    prepared = _merge_duplicates(prepare(items, actor, single=single))
    now = utcnow()

    lock_for_write()
    # Under the lock: an allowlist entry or a revocation committed a moment ago is seen (both
    # take the lock too).
    _resolve_rotated(prepared)
    prepared = _merge_duplicates(prepared)
    _refuse_allowlisted(prepared, actor, single)
    existing = _load_existing({(i.value.kind, i.value.value) for i in prepared})
    _refuse_revoked(prepared, existing, actor, single)

    new_items = [i for i in prepared if (i.value.kind, i.value.value) not in existing]
    old_items = [i for i in prepared if (i.value.kind, i.value.value) in existing]
    outcomes: list[Outcome] = []
    feed: list[tuple[str, int, str, str]] = []
    audit: list[dict[str, Any]] = []

    assessed: dict[int, tuple[str | None, Assessment]] = {}
    if new_items:
        new_ids, fresh = _insert_new(new_items, actor, now)
        assessed = {
            entry_id: (fresh[item.value.kind].tier, fresh[item.value.kind])
            for item, entry_id in zip(new_items, new_ids, strict=True)
        }
        for item, entry_id in zip(new_items, new_ids, strict=True):
            outcomes.append(Outcome(item.index, entry_id, item.value.kind, item.value.value, "created"))
            feed.append((changes.UPSERT, entry_id, item.value.kind, item.value.value))
            audit.append(
                {
                    "action": Action.ENTRY_PUBLISH,
                    "target_type": "entry",
                    "target_id": entry_id,
                    "after": _new_snapshot(entry_id, item, actor),
                    "reason": item.reason,
                }
            )
    claimed = _claims_of(actor.org_id, [existing[(i.value.kind, i.value.value)].id for i in old_items if i.tags])
    feed_tags: dict[int, tuple[str | None, str | None]] = {}
    for item in old_items:
        entry = existing[(item.value.kind, item.value.value)]
        outcome, change = _report_existing(entry, item, actor, now, claimed)
        feed_tags[entry.id] = tagcounts.write_with(entry)  # in the UPDATE the flush writes anyway
        outcomes.append(outcome)
        feed.append((changes.UPSERT, entry.id, entry.kind, entry.value))
        audit.append(change)
    db.session.flush()
    changes.append(feed, assessed, created=assessed, feed_tags=feed_tags)  # created: with score, tier, feed_tags
    record_many(audit, actor)
    # A subject listed (or its report refreshed): what it holds is restricted via it.
    reconcile_subjects(((o.kind, o.value) for o in outcomes if o.kind in SUBJECT_KINDS), actor, now)
    outcomes.sort(key=lambda o: o.index)
    return outcomes


def _new_snapshot(entry_id: int, item: PublishItem, actor: Actor) -> dict[str, Any]:
    new = SimpleNamespace(
        id=entry_id,
        kind=item.value.kind,
        value=item.value.value,
        status="active",
        status_reason=None,
        category=item.category,
        reporters=1,
        expires_at=item.expires_at,
        display_name=item.display_name,
    )
    return entry_snapshot(new, item.tags, [[actor.org_id, item.expires_at]])


def _fresh_assessments(kinds: set[str], actor: Actor, now: dt.datetime) -> dict[str, Assessment]:
    """Per kind, the score and tier of an entry created now with this org's report as its only
    one (`trust.assess_new`: the same for every such entry of a kind)."""
    reporters: dict[int, str] = {}
    if actor.org_id is not None:
        org_kind = db.session.scalar(select(Org.kind).where(Org.id == actor.org_id))
        reporters = {actor.org_id: org_kind} if org_kind is not None else {}
    return {kind: trust.assess_new(kind, reporters, now) for kind in sorted(kinds)}


def _insert_new(items: list[PublishItem], actor: Actor, now: dt.datetime) -> tuple[list[int], dict[str, Assessment]]:
    """Set-based inserts (COPY on PostgreSQL) of new entries, with their score and tier, their
    first reports and tags; returns the new ids and the assessment of each kind."""
    for item in items:
        if item.expires_at is None:
            item.expires_at = default_expiry(item.value.kind, now)
    fresh = _fresh_assessments({i.value.kind for i in items}, actor, now)
    rows = [
        {
            "kind": i.value.kind,
            "value": i.value.value,
            "object_uuid": entry_uuid(i.value.kind, i.value.value),  # COPY takes no column defaults
            "raw_value": i.raw_value,
            "status": "active",
            "category": i.category,
            "display_name": i.display_name,
            "range_prefix": i.value.range_prefix,
            "range_length": i.value.range_length,
            "match_key": i.value.match_key,
            "reporters": 1,
            "version": 1,
            "expires_at": i.expires_at,
            "created_at": now,
            "updated_at": now,
            "feed_tags": tagcounts.render(i.tags),
            "score": fresh[i.value.kind].score,
            "tier": fresh[i.value.kind].tier,
            "tier_due_at": fresh[i.value.kind].due_at,
        }
        for i in items
    ]
    ids = insert_with_ids(table_of(Entry), rows)
    tagcounts.inserted(i.tags for i in items)
    bulk_insert(
        table_of(Report),
        [
            {
                "entry_id": entry_id,
                "org_id": actor.org_id,
                "client_id": actor.client_id,
                "raw_value": i.raw_value,
                "reason": i.reason,
                "evidence": i.evidence,
                "expires_at": i.expires_at,
                "created_at": now,
                "updated_at": now,
            }
            for i, entry_id in zip(items, ids, strict=True)
        ],
    )
    tag_rows = [{"entry_id": entry_id, "tag": tag} for i, entry_id in zip(items, ids, strict=True) for tag in i.tags]
    if tag_rows:
        bulk_insert(table_of(EntryTag), tag_rows)
        bulk_insert(table_of(TagClaim), [{**row, "org_id": actor.org_id} for row in tag_rows])
    return ids, fresh


def _claims_of(org_id: int | None, entry_ids: list[int]) -> set[tuple[int, str]]:
    """The (entry id, tag) pairs this org has claimed among these entries."""
    found: set[tuple[int, str]] = set()
    for chunk in chunks(entry_ids):
        found.update(
            (row.entry_id, row.tag)
            for row in db.session.execute(
                select(TagClaim.entry_id, TagClaim.tag).where(TagClaim.org_id == org_id, TagClaim.entry_id.in_(chunk))
            )
        )
    return found


def _claim_tags(entry: Entry, tags: Iterable[str], org_id: int | None, claimed: set[tuple[int, str]]) -> None:
    """This org claims these tags on the entry; tags new to the entry join its tag set."""
    for tag in tags:
        if (entry.id, tag) not in claimed:
            db.session.add(TagClaim(entry_id=entry.id, tag=tag, org_id=org_id))
            claimed.add((entry.id, tag))
        if tag not in entry.tags:
            entry.tag_rows.append(EntryTag(entry_id=entry.id, tag=tag))


def _drop_tags(entry: Entry, tags: set[str], org_id: int | None) -> None:
    """Drop this org's claims on these tags (every org's when `org_id` is None); a tag no org
    claims any more leaves the entry."""
    if not tags:
        return
    stmt = table_of(TagClaim).delete().where(TagClaim.entry_id == entry.id, TagClaim.tag.in_(sorted(tags)))
    if org_id is not None:
        stmt = stmt.where(TagClaim.org_id == org_id)
    db.session.execute(stmt)
    still = set(
        db.session.scalars(select(TagClaim.tag).where(TagClaim.entry_id == entry.id, TagClaim.tag.in_(sorted(tags))))
    )
    entry.tag_rows[:] = [row for row in entry.tag_rows if row.tag not in tags or row.tag in still]


def _report_existing(
    entry: Entry, item: PublishItem, actor: Actor, now: dt.datetime, claimed: set[tuple[int, str]]
) -> tuple[Outcome, dict[str, Any]]:
    """Add or refresh this org's report on a listed entry; re-activate it if it was not active.
    The report's expiry is the one given, else the later of its current one and the default."""
    before = entry_snapshot(entry)
    was_active = entry.effective_status(now) == "active"
    report = next((r for r in entry.reports if r.org_id == actor.org_id and r.is_direct), None)
    if report is None:
        report = Report(entry_id=entry.id, org_id=actor.org_id, created_at=now, raw_value=item.raw_value)
        db.session.add(report)
        entry.reports.append(report)
        counted_before = False
    else:
        counted_before = report.is_active(now)
    report.expires_at = item.expires_at or (
        _later(report.expires_at, default_expiry(entry.kind, now))
        if counted_before
        else default_expiry(entry.kind, now)
    )
    report.client_id, report.raw_value, report.updated_at = actor.client_id, item.raw_value, now
    report.withdrawn_at, report.close_reason = None, None
    report.reason = item.reason or report.reason
    report.evidence = item.evidence or report.evidence

    if was_active:
        result = "refreshed" if counted_before else "corroborated"
    else:
        # Reports still open on an entry whose time ran out (not yet swept) close as lapsed.
        entry.status, entry.status_reason = "active", None
        result = "relisted"
    recount(entry, now)
    entry.category = item.category or entry.category
    entry.display_name = item.display_name or entry.display_name
    _claim_tags(entry, item.tags, actor.org_id, claimed)
    entry.version += 1
    entry.updated_at = now
    action = {
        "created": Action.ENTRY_PUBLISH,
        "relisted": Action.ENTRY_RELIST,
        "corroborated": Action.ENTRY_CORROBORATE,
        "refreshed": Action.ENTRY_CORROBORATE,
    }[result]
    return (
        Outcome(item.index, entry.id, entry.kind, entry.value, result),
        {
            "action": action,
            "target_type": "entry",
            "target_id": entry.id,
            "before": before,
            "after": entry_snapshot(entry),
            "reason": item.reason,
        },
    )


# --- changing one entry ----------------------------------------------------------------------


def own_report(entry: Entry, org_id: int | None, now: dt.datetime) -> Report | None:
    """This org's active direct report on the entry, if any (not one via a listed subject,
    which follows the subject and its holding, never a call on the resource)."""
    return next((r for r in entry.reports if r.org_id == org_id and r.is_direct and r.is_active(now)), None)


def via_only(entry: Entry, org_id: int | None, now: dt.datetime) -> Report | None:
    """The org's active report via a listed subject, when it has no direct one."""
    return next((r for r in entry.reports if r.org_id == org_id and not r.is_direct and r.is_active(now)), None)


VIA_DETAIL = (
    "Your organisation's report on this entry comes via subject entry {subject} (holding {holding}): it follows "
    "the subject's listing and the holding. Withdraw or expire the subject's listing, or end the holding "
    "(POST /v1/holdings/{holding}/end), instead."
)


def _refuse_via(entry: Entry, actor: Actor, now: dt.datetime, error: type[Exception]) -> None:
    via = via_only(entry, actor.org_id, now)
    if via is not None:
        raise error(VIA_DETAIL.format(subject=via.via_subject_entry_id, holding=via.via_holding_id))


def check_may_change(entry: Entry, actor: Actor, now: dt.datetime) -> Report | None:
    """An org changes only entries it actively reports (and then only its own report); a
    regulator changes anything (else 403). Returns the actor's own active report."""
    report = own_report(entry, actor.org_id, now)
    if actor.is_regulator or report is not None:
        return report
    _refuse_via(entry, actor, now, Forbidden)
    raise Forbidden("Only an organisation with an active report on this entry, or a regulator, may change it.")


def recount(entry: Entry, now: dt.datetime) -> None:
    """Close the open reports whose own time ran out (as `ttl`, at that time), then derive the
    entry's `reporters` and `expires_at` (the latest of its open reports') from its reports.
    With no open report left, `expires_at` is kept: the caller deactivates the entry."""
    for report in entry.reports:
        if report.withdrawn_at is None and report.expires_at is not None and report.expires_at <= now:
            report.withdrawn_at, report.close_reason = report.expires_at, "ttl"
    open_reports = [r for r in entry.reports if r.withdrawn_at is None]
    # Distinct orgs: an org may report directly and via a listed subject's holdings too.
    entry.reporters = len({r.org_id for r in open_reports})
    if open_reports:
        expiries = [r.expires_at for r in open_reports if r.expires_at is not None]
        entry.expires_at = max(expiries) if len(expiries) == len(open_reports) else None


def check_if_match(entry: Entry, if_match: ETags | None) -> None:
    """`If-Match` is optional (None: not sent); when sent it must name the entry's current ETag
    by the strong comparison (RFC 9110 13.1.1: a weak `W/"…"` tag never matches), or be `*`;
    else 412. `if_match` is the header as Werkzeug parses it (`request.if_match`)."""
    if if_match is None:
        return
    if not if_match.contains(entry.etag.strip('"')):
        raise PreconditionFailed("The entry has changed since you read it; GET it again and retry with its ETag.")


def deactivate(entry: Entry, status: str, reason: str, now: dt.datetime) -> None:
    """Take the entry out of the active set. Its open reports close with it, so `reporters`
    counts 0 and a later re-listing starts from the report that re-lists it."""
    entry.status, entry.status_reason = status, reason
    for report in entry.reports:
        if report.withdrawn_at is None:
            report.withdrawn_at, report.close_reason = now, reason
    entry.reporters = 0


def _expire_now(entry: Entry, reason: str, now: dt.datetime) -> None:
    """Take the entry out of the active set as expired now (its `expires_at` says when)."""
    deactivate(entry, "expired", reason, now)
    entry.expires_at = now


def _locked_entry(entry_id: int) -> Entry:
    lock_for_write()
    entry = get_entry(entry_id)
    db.session.refresh(entry)
    return entry


def _after_change(
    entry: Entry,
    actor: Actor,
    before: dict[str, Any],
    action: Action,
    reason: str | None,
    feed_op: str | None,
    now: dt.datetime,
    after: dict[str, Any] | None = None,
) -> Entry:
    entry.version += 1
    entry.updated_at = now
    # Its snapshot tags in the UPDATE the flush writes anyway (no second UPDATE in the feed's settle).
    feed_tags = {entry.id: tagcounts.write_with(entry)} if feed_op is not None else {}
    db.session.flush()
    if feed_op is not None:
        changes.append([(feed_op, entry.id, entry.kind, entry.value)], feed_tags=feed_tags)
    record(action, "entry", entry.id, actor=actor, before=before, after=after or entry_snapshot(entry), reason=reason)
    if entry.kind in SUBJECT_KINDS:
        reconcile_subjects([(entry.kind, entry.value)], actor, now)
    return entry


def _tag_changes(entry: Entry, data: dict[str, Any], actor: Actor) -> tuple[set[str], set[str]]:
    """(tags the actor claims anew, tags whose claims it drops) for a PATCH. A regulator edits
    the entry's tag set (dropping a tag drops every org's claim on it); any other org edits only
    the tags it claims: `tags` replaces its own, and removing a tag only another org added is 403."""
    added = set(data.get("add_tags") or ())
    removed = set(data.get("remove_tags") or ())  # the lists arrive without repeats
    if actor.is_regulator:
        current = set(entry.tags)
    else:
        current = set(claimed_tags(entry.id, actor.org_id))
        others = sorted(
            t for t in removed | (current - set(data.get("tags", current))) if t in entry.tags and t not in current
        )
        if others:
            raise Forbidden(
                "You can remove only tags your organisation added; "
                f"{', '.join(others)} {'was' if len(others) == 1 else 'were'} added by another.",
                errors={"remove_tags": [f"Not added by your organisation: {', '.join(others)}."]},
            )
    wanted = (set(data.get("tags", current)) | added) - removed
    return wanted - current, current - wanted


def claimed_tags(entry_id: int, org_id: int | None) -> list[str]:
    """The tags this org has claimed on the entry, in order."""
    return sorted(
        db.session.scalars(select(TagClaim.tag).where(TagClaim.entry_id == entry_id, TagClaim.org_id == org_id))
    )


def update(entry_id: int, data: dict[str, Any], if_match: ETags | None, actor: Actor) -> Entry:
    """PATCH: tags (replace, or add/remove), category, expires_at. A non-regulator changes its
    own tags and its own report's expiry; a regulator changes any tag and every open report's
    expiry (the entry's)."""
    now = utcnow()
    entry = _locked_entry(entry_id)
    report = check_may_change(entry, actor, now)
    check_if_match(entry, if_match)
    if "expires_at" in data and data["expires_at"] is not None and data["expires_at"] <= now:
        raise Invalid(
            "expires_at must be in the future; use /expire to expire now.",
            errors={"expires_at": ["Must be in the future."]},
        )
    before = {**entry_snapshot(entry), "claimed_by_actor": claimed_tags(entry.id, actor.org_id)}
    claim, drop = _tag_changes(entry, data, actor)
    _drop_tags(entry, drop, None if actor.is_regulator else actor.org_id)
    _claim_tags(entry, sorted(claim), actor.org_id, set())
    if "category" in data:
        entry.category = data["category"]
    if "expires_at" in data:
        # Reports via a listed subject keep the subject's and the holding's time.
        targets = [r for r in entry.reports if r.is_direct and r.is_active(now)] if actor.is_regulator else [report]
        for target in targets:
            if target is not None:
                target.expires_at = data["expires_at"]
    recount(entry, now)
    db.session.flush()
    after = {**entry_snapshot(entry), "claimed_by_actor": claimed_tags(entry.id, actor.org_id)}
    if after == before:
        return entry
    feed_op = changes.UPSERT if entry.in_feed else None
    return _after_change(entry, actor, before, Action.ENTRY_UPDATE, data.get("reason"), feed_op, now, after=after)


def _close_own(entry: Entry, report: Report, reason: str, now: dt.datetime) -> str | None:
    """Close one org's report; the entry expires with `reason` if no open report is left.
    Returns the feed operation."""
    in_feed = entry.in_feed
    report.withdrawn_at, report.close_reason = now, reason
    recount(entry, now)
    if entry.reporters == 0 and in_feed:
        _expire_now(entry, reason, now)
        return changes.REMOVE
    return changes.UPSERT if in_feed else None


def withdraw(entry_id: int, reason: str | None, actor: Actor) -> Entry:
    """The actor's org withdraws its report; with no report left the entry expires."""
    now = utcnow()
    entry = _locked_entry(entry_id)
    report = own_report(entry, actor.org_id, now)
    if report is None:
        _refuse_via(entry, actor, now, Conflict)
        raise Conflict("Your organisation has no active report on this entry to withdraw.")
    before = entry_snapshot(entry)
    feed_op = _close_own(entry, report, "withdrawn", now)
    return _after_change(entry, actor, before, Action.ENTRY_WITHDRAW, reason, feed_op, now)


def expire(entry_id: int, reason: str, actor: Actor) -> Entry:
    """Expire now with a reason. A regulator expires the whole entry (every org's report); any
    other org expires its own report only, and the entry with it only if no other org's report
    is left (a carrier's `recycled` too: the dated number-lifecycle event is what closes other
    orgs' reports on a reassigned number)."""
    now = utcnow()
    entry = _locked_entry(entry_id)
    if entry.effective_status(now) != "active":
        raise Conflict(f"The entry is not active (it is {entry.effective_status(now)}).")
    report = own_report(entry, actor.org_id, now)
    if not actor.is_regulator and report is None:
        _refuse_via(entry, actor, now, Forbidden)
        raise Forbidden(
            "Your organisation has no active report on this entry: an organisation "
            "expires only its own report (a regulator can expire the whole entry)."
        )
    before = entry_snapshot(entry)
    feed_op: str | None
    if actor.is_regulator:
        _expire_now(entry, reason, now)
        feed_op = changes.REMOVE
    else:
        assert report is not None  # refused above without one
        feed_op = _close_own(entry, report, reason, now)
    return _after_change(entry, actor, before, Action.ENTRY_EXPIRE, reason, feed_op, now)


def revoke(entry_id: int, reason: str, actor: Actor, *, status_reason: str | None = None) -> Entry:
    """A regulator overturns the entry; only a regulator can list it again. `status_reason`
    (default: `reason`) is what the entry shows, `reason` what the audit trail keeps."""
    now = utcnow()
    entry = _locked_entry(entry_id)
    if entry.status == "revoked":
        raise Conflict("The entry is already revoked.")
    before = entry_snapshot(entry)
    feed_op = changes.REMOVE if entry.in_feed else None
    deactivate(entry, "revoked", status_reason or reason, now)
    return _after_change(entry, actor, before, Action.ENTRY_REVOKE, reason, feed_op, now)


def _sweep(entries: list[Entry], actor: Actor, now: dt.datetime) -> None:
    """Close what time ended on these entries: the whole entry when its `expires_at` passed
    (`remove`), else the reports whose own `expires_at` passed (`upsert`: fewer reporters)."""
    feed, audit = [], []
    feed_tags: dict[int, tuple[str | None, str | None]] = {}
    for entry in entries:
        before = entry_snapshot(entry)
        if entry.expires_at is not None and entry.expires_at <= now:
            deactivate(entry, "expired", "ttl", now)
            op, action = changes.REMOVE, Action.ENTRY_EXPIRE
        else:
            recount(entry, now)
            op, action = changes.UPSERT, Action.ENTRY_REPORT_EXPIRE
            if entry.reporters == 0:  # no open report left (data older than per-report expiry)
                deactivate(entry, "expired", "ttl", now)
                op, action = changes.REMOVE, Action.ENTRY_EXPIRE
        entry.version += 1
        entry.updated_at = now
        feed_tags[entry.id] = tagcounts.write_with(entry)
        feed.append((op, entry.id, entry.kind, entry.value))
        audit.append(
            {
                "action": action,
                "target_type": "entry",
                "target_id": entry.id,
                "before": before,
                "after": entry_snapshot(entry),
                "reason": "ttl",
            }
        )
    db.session.flush()
    changes.append(feed, feed_tags=feed_tags)
    record_many(audit, actor)
    reconcile_subjects(((e.kind, e.value) for e in entries if e.kind in SUBJECT_KINDS), actor, now)


def expire_due(actor: Actor, now: dt.datetime | None = None, limit: int = 10000) -> int:
    """Mark entries whose `expires_at` has passed as expired, each with a `remove` change, and
    close reports whose own `expires_at` passed on entries that stay active (an `upsert`), so
    consumers hear of time-based expiry without anyone writing. Returns how many entries
    changed (at most `limit` of each sort per call)."""
    now = now or utcnow()
    due_stmt = select(Entry.id).where(Entry.status == "active", Entry.expires_at <= now).order_by(Entry.id).limit(limit)
    lapsed_stmt = (
        select(Report.entry_id)
        .join(Entry, Entry.id == Report.entry_id)
        .where(Report.withdrawn_at.is_(None), Report.expires_at <= now, Entry.status == "active")
        .order_by(Report.entry_id)
        .limit(limit)
    )
    if db.session.scalar(due_stmt.limit(1)) is None and db.session.scalar(lapsed_stmt.limit(1)) is None:
        return 0
    lock_for_write()
    ids = set(db.session.scalars(due_stmt)) | set(db.session.scalars(lapsed_stmt))
    due = list(
        db.session.scalars(
            select(Entry)
            .where(Entry.id.in_(sorted(ids)))
            .order_by(Entry.id)
            .options(undefer(Entry.feed_tags))  # `_sweep` sets it with the row's own UPDATE
            .execution_options(populate_existing=True)
        )
    )
    _sweep(due, actor, now)
    return len(due)


def retier_due(actor: Actor, now: dt.datetime | None = None, limit: int = 10000) -> int:
    """The tier job's step: re-assess up to `limit` active entries whose `tier_due_at` has come
    (ageing may have moved them across a tier boundary) and write a feed upsert, with an audit
    record, for each whose tier changed. Returns how many were re-assessed (0: nothing due)."""
    now = now or utcnow()
    if not trust.due(now, 1):
        return 0
    lock_for_write()
    due = trust.due(now, limit)  # again, under the lock
    assessed = trust.refresh([entry_id for entry_id, _, _ in due], now)
    moved = [
        (entry_id, kind, value) for entry_id, kind, value in due if entry_id in assessed and _moved(assessed[entry_id])
    ]
    # The score may move within a tier: the snapshot's lines follow (the moves' changes do it).
    lines.refresh(set(assessed) - {entry_id for entry_id, _, _ in moved})
    _write_tier_moves(moved, assessed, actor, "age")
    return len(due)


def _moved(assessed: tuple[str | None, Assessment]) -> bool:
    """The re-assessment moved the entry's tier (a tier not yet stored reads as `block`)."""
    old, assessment = assessed
    return (old or "block") != assessment.tier


def _write_tier_moves(
    moved: list[tuple[int, str, str]], assessed: dict[int, tuple[str | None, Assessment]], actor: Actor, reason: str
) -> None:
    """A feed upsert and an `entry.tier` audit record for each (entry id, kind, value) whose
    tier moved."""
    changes.append([(changes.UPSERT, entry_id, kind, value) for entry_id, kind, value in moved])
    record_many(
        [
            {
                "action": Action.ENTRY_TIER,
                "target_type": "entry",
                "target_id": entry_id,
                "before": {"tier": assessed[entry_id][0]},
                "after": {"tier": assessed[entry_id][1].tier, "score": assessed[entry_id][1].score},
                "reason": reason,
            }
            for entry_id, _, _ in moved
        ],
        actor,
    )


def close_before(number_dates: dict[str, dt.datetime], actor: Actor) -> list[int]:
    """A number was reassigned: on each listed number's entry, close the direct reports made
    before that time (`reassigned`); the entry leaves the feed (a remove) when no report is left,
    else gets an upsert. Reports via a listed subject follow their holding instead. Returns the
    ids of the entries changed."""
    now = utcnow()
    lock_for_write()
    entries: list[Entry] = []
    for chunk in chunks(sorted(number_dates)):
        entries += db.session.scalars(
            select(Entry)
            .where(Entry.kind == "number", Entry.value.in_(chunk), Entry.status == "active")
            .options(undefer(Entry.feed_tags))  # set with the row's own UPDATE
        )
    feed, audit, changed = [], [], []
    feed_tags: dict[int, tuple[str | None, str | None]] = {}
    for entry in sorted(entries, key=lambda e: e.id):
        before_time = number_dates[entry.value]
        closing = [r for r in entry.reports if r.withdrawn_at is None and r.is_direct and r.created_at < before_time]
        if not closing:
            continue
        before = entry_snapshot(entry)
        for report in closing:
            report.withdrawn_at, report.close_reason = now, "reassigned"
        recount(entry, now)
        op = changes.UPSERT
        if entry.reporters == 0:
            deactivate(entry, "expired", "reassigned", now)
            op = changes.REMOVE
        entry.version += 1
        entry.updated_at = now
        feed_tags[entry.id] = tagcounts.write_with(entry)
        feed.append((op, entry.id, entry.kind, entry.value))
        changed.append(entry.id)
        audit.append(
            {
                "action": Action.ENTRY_REASSIGNED,
                "target_type": "entry",
                "target_id": entry.id,
                "before": before,
                "after": entry_snapshot(entry),
                "reason": f"reassigned on {before_time.date().isoformat()}",
            }
        )
    db.session.flush()
    changes.append(feed, feed_tags=feed_tags)
    record_many(audit, actor)
    return changed


def retier(entry_ids: list[int], actor: Actor, reason: str) -> int:
    """Re-assess these entries after a signal that is not a change of the entry itself (a
    sighting): a feed upsert and an audit record for each whose tier moved. Returns how many."""
    lock_for_write()
    now = utcnow()
    assessed = trust.refresh(entry_ids, now)
    moved = sorted(i for i, item in assessed.items() if _moved(item))
    lines.refresh(set(assessed) - set(moved))  # the score may move within a tier
    if not moved:
        return 0
    pairs = {}
    for chunk in chunks(moved):
        pairs.update(
            {
                r.id: (r.kind, r.value)
                for r in db.session.execute(select(Entry.id, Entry.kind, Entry.value).where(Entry.id.in_(chunk)))
            }
        )
    _write_tier_moves([(i, *pairs[i]) for i in moved], assessed, actor, reason)
    return len(moved)
