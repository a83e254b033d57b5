"""Number events and sightings: validation (all or nothing, errors per item), the stored rows,
and their effect on entries through the entry services (reports closed, tiers moved), audited."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import select, tuple_

from ..audit.actions import Action
from ..audit.services import record
from ..config import current_settings
from ..context import Actor
from ..db import bulk_insert, db, table_of, utcnow
from ..entries import services as entries
from ..entries.models import Entry
from ..exceptions import Forbidden, Invalid
from ..values.canonical import canonicalise
from ..values.normalise import InvalidValue
from .models import NumberEvent, Sighting

EVENT_ORG_KINDS = ("carrier", "regulator")


def _number(raw: str, region: str) -> str:
    return canonicalise("number", raw, region).value


def _refuse(errors: dict[int, dict[str, list[str]]], what: str) -> None:
    if errors:
        raise Invalid(
            f"Some {what} are not valid; see errors.", errors={"items": {str(i): e for i, e in errors.items()}}
        )


def record_events(items: list[dict[str, Any]], actor: Actor) -> list[dict[str, Any]]:
    """Store dated `reassigned` / `disconnected` events (carriers and regulators only; a repeat
    is a no-op). A `reassigned` event closes every direct report on the number made before its
    date (`entries.close_before`). Returns one outcome per item, in order."""
    if actor.org_kind not in EVENT_ORG_KINDS:
        raise Forbidden("Only carriers and regulators may post number events.")
    region, today = current_settings().default_region, utcnow().date()
    rows, errors = [], {}
    for index, item in enumerate(items):
        try:
            number = _number(item["number"], item.get("region") or region)
        except InvalidValue as error:
            errors[index] = {"number": [str(error)]}
            continue
        if item["date"] > today:
            errors[index] = {"date": ["Must not be in the future."]}
            continue
        rows.append((number, item["type"], item["date"]))
    _refuse(errors, "events")
    entries.lock_for_write()
    keys = set(rows)
    existing = set()
    for chunk in entries.chunks(sorted(keys)):
        existing |= {
            (r.number, r.type, r.date)
            for r in db.session.execute(
                select(NumberEvent.number, NumberEvent.type, NumberEvent.date).where(
                    tuple_(NumberEvent.number, NumberEvent.type, NumberEvent.date).in_(chunk),
                    NumberEvent.org_id == actor.org_id,
                )
            )
        }
    new = sorted(keys - existing)
    now = utcnow()
    bulk_insert(
        table_of(NumberEvent),
        [{"number": n, "type": t, "date": d, "org_id": actor.org_id, "created_at": now} for n, t, d in new],
    )
    latest: dict[str, dt.datetime] = {}
    for number, type_, date in new:
        if type_ == "reassigned":
            start = dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC)
            latest[number] = max(start, latest.get(number, start))
    closed = entries.close_before(latest, actor) if latest else []
    if new:
        record(
            Action.NUMBER_EVENT,
            "number_events",
            None,
            actor=actor,
            after={"events": [[n, t, d.isoformat()] for n, t, d in new], "entries_changed": closed},
        )
    added = set(new)
    return [
        {"number": n, "type": t, "date": d, "result": "created" if (n, t, d) in added else "exists"} for n, t, d in rows
    ]


def reassigned_since(raw: str, since: dt.date) -> dict[str, Any]:
    """The Reassigned Numbers question: `yes` when a `reassigned` or `disconnected` event is dated
    on or after `since`, `no` when the number has events but none since then, `no_data` when it
    has none."""
    try:
        number = _number(raw, current_settings().default_region)
    except InvalidValue as error:
        raise Invalid(str(error), errors={"e164": [str(error)]}) from error
    dates = list(db.session.scalars(select(NumberEvent.date).where(NumberEvent.number == number)))
    if not dates:
        answer = "no_data"
    else:
        answer = "yes" if max(dates) >= since else "no"
    return {"number": number, "since": since, "reassigned": answer}


def record_sightings(items: list[dict[str, Any]], actor: Actor) -> dict[str, Any]:
    """Store sighting counts per (entry, org, day, type): the count sent replaces the org's
    count for that day (a re-sent batch changes nothing; the same key twice in one batch adds
    up). Entries are named by `entry_id` or by `kind` and `value` and must be listed. Tiers that
    move get a feed upsert."""
    region, today = current_settings().default_region, utcnow().date()
    by_value: dict[tuple[str, str], list[int]] = defaultdict(list)
    errors: dict[int, dict[str, list[str]]] = {}
    ids: dict[int, int] = {}
    for index, item in enumerate(items):
        if item["date"] > today:
            errors[index] = {"date": ["Must not be in the future."]}
        elif item.get("entry_id") is not None:
            ids[index] = item["entry_id"]
        else:
            try:
                value = canonicalise(item["kind"], item["value"], region)
            except InvalidValue as error:
                errors[index] = {"value": [str(error)]}
                continue
            by_value[(value.kind, value.value)].append(index)
    found_ids = set()
    for chunk in entries.chunks(sorted(set(ids.values()))):
        found_ids |= set(db.session.scalars(select(Entry.id).where(Entry.id.in_(chunk))))
    for index, entry_id in ids.items():
        if entry_id not in found_ids:
            errors[index] = {"entry_id": [f"No entry with id {entry_id}."]}
    for chunk in entries.chunks(sorted(by_value)):
        for row in db.session.execute(select(Entry.id, Entry.kind, Entry.value).where(entries.kind_value_in(chunk))):
            for index in by_value.pop((row.kind, row.value)):
                ids[index] = row.id
    for indexes in by_value.values():
        for index in indexes:
            errors[index] = {"value": ["Not listed."]}
    _refuse(errors, "sightings")
    counts: dict[tuple[int, dt.date, str], int] = defaultdict(int)
    for index, item in enumerate(items):
        counts[(ids[index], item["date"], item["type"])] += item["count"]
    entries.lock_for_write()
    now = utcnow()
    existing: dict[tuple[int, dt.date, str], Sighting] = {}
    keys = sorted(counts)
    for chunk in entries.chunks(keys):
        for sighting in db.session.scalars(
            select(Sighting).where(
                Sighting.org_id == actor.org_id,
                tuple_(Sighting.entry_id, Sighting.day, Sighting.type).in_(chunk),
            )
        ):
            existing[(sighting.entry_id, sighting.day, sighting.type)] = sighting
    inserts = []
    for key, count in counts.items():
        if key in existing:
            existing[key].count, existing[key].updated_at = count, now
        else:
            entry_id, day, type_ = key
            inserts.append(
                {
                    "entry_id": entry_id,
                    "org_id": actor.org_id,
                    "day": day,
                    "type": type_,
                    "count": count,
                    "updated_at": now,
                }
            )
    db.session.flush()
    bulk_insert(table_of(Sighting), inserts)
    record(
        Action.SIGHTING_RECORD,
        "sightings",
        None,
        actor=actor,
        after={"sightings": [[e, d.isoformat(), t, c] for (e, d, t), c in sorted(counts.items())]},
    )
    moved = entries.retier(sorted({key[0] for key in counts}), actor, "sighting")
    return {"accepted": len(items), "counts": len(counts), "tiers_changed": moved}
