"""Recording and ending holdings and representatives: the only code that writes them.

Who may record: a regulator anything; a carrier the holdings it allocates (role `holder`) and
representatives; nobody else (403). Who may end: the org that recorded it, or a regulator.
Dates: `valid_from` defaults to now and may lie in the past (investigators record a chain after
the fact) but not in the future (422: nothing would open it at that moment); `valid_to`, when
given, is after `valid_from` and may be past already (a historical record, for chains). Every
change is audited with before and after, and holdings bring the via reports of their resource
in line (`restriction.reconcile_holdings`) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from ..audit.actions import Action
from ..audit.services import record
from ..config import current_settings
from ..context import Actor
from ..db import db, utcnow
from ..entries.models import Entry
from ..exceptions import Conflict, Forbidden, Invalid, NotFound
from ..feeds import changes
from ..values.canonical import CanonicalValue, canonicalise
from ..values.coverage import shape_errors
from ..values.normalise import InvalidValue
from .models import Holding, Representative
from .restriction import reconcile_holdings

RECORDERS = ("carrier", "regulator")


def canonical_subject(kind: str, raw: str, field: str, *, in_body: bool = True) -> str:
    """A subject's canonical value (a person's raw identifier hashed with the current pepper;
    if the person is already listed under a retired pepper's hash, that hash, so the listing
    and the holding meet). Outside a request body (`in_body` False: a query string, which logs
    keep) a person is accepted only by its hash. 422 naming `field` when it is not one."""
    settings = current_settings()
    peppers = settings.subject_peppers if in_body else ()
    try:
        value: CanonicalValue = canonicalise(kind, raw, settings.default_region, peppers)
    except InvalidValue as error:
        raise Invalid(f"{field}: {error}", errors={field: [str(error)]}) from None
    if value.alternates:
        listed = set(
            db.session.scalars(
                select(Entry.value).where(Entry.kind == kind, Entry.value.in_([value.value, *value.alternates]))
            )
        )
        if value.value not in listed:
            return next((alt for alt in value.alternates if alt in listed), value.value)
    return value.value


def subject_values(kind: str, raw: str) -> list[str]:
    """A subject's canonical value and, for a person, its hashes under retired peppers (all of
    which a screening probes). 422 when it is not one."""
    settings = current_settings()
    try:
        value = canonicalise(kind, raw, settings.default_region, settings.subject_peppers)
    except InvalidValue as error:
        raise Invalid(str(error), errors={"value": [str(error)]}) from None
    return [value.value, *value.alternates]


def canonical_resource(kind: str, raw: str, region: str | None, actor: Actor | None = None) -> str:
    """A resource's canonical value; with `actor` (recording), a non-regulator is held to the
    breadth limits publishing has (a wide range held by a listed subject would restrict every
    number under it). 422 naming `resource` otherwise."""
    settings = current_settings()
    try:
        value = canonicalise(kind, raw, region or settings.default_region)
    except InvalidValue as error:
        raise Invalid(f"resource: {error}", errors={"resource": {"value": [str(error)]}}) from None
    if actor is not None and not actor.is_regulator:
        too_wide = shape_errors(value, max_span=settings.max_range_span, min_keyword_chars=settings.min_keyword_chars)
        if too_wide is not None:
            raise Invalid(f"resource: {too_wide}", errors={"resource": {"value": [too_wide]}})
    return value.value


def _dates(data: dict[str, Any], now: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
    valid_from = data.get("valid_from") or now
    valid_to = data.get("valid_to")
    if valid_from > now:
        raise Invalid(
            "valid_from must not be in the future: record the holding when it starts.",
            errors={"valid_from": ["Must not be in the future."]},
        )
    if valid_to is not None and valid_to <= valid_from:
        raise Invalid("valid_to must be after valid_from.", errors={"valid_to": ["Must be after valid_from."]})
    return valid_from, valid_to


def _may_record(actor: Actor, what: str) -> None:
    if actor.org_kind not in RECORDERS:
        raise Forbidden(f"Only carriers and regulators record {what}.")


def holding_snapshot(holding: Holding) -> dict[str, Any]:
    return {
        "id": holding.id,
        "resource": [holding.resource_kind, holding.resource_value],
        "subject": [holding.subject_kind, holding.subject_value],
        "role": holding.role,
        "lessor": [holding.lessor_kind, holding.lessor_value] if holding.lessor_kind else None,
        "valid_from": holding.valid_from,
        "valid_to": holding.valid_to,
        "has_evidence": holding.has_evidence,
        "org_id": holding.org_id,
        "ended_at": holding.ended_at,
        "ended_by_org_id": holding.ended_by_org_id,
    }


def record_holding(data: dict[str, Any], actor: Actor) -> Holding:
    """Record that a subject holds (or leases) a resource; a listed subject's open holding
    restricts the resource at once."""
    _may_record(actor, "holdings")
    role = data["role"]
    if not actor.is_regulator and role != "holder":
        raise Forbidden(
            "A carrier records the holdings it allocates (role holder); leases between subjects are recorded by a "
            "regulator."
        )
    lessor = data.get("lessor")
    if role == "lessee" and lessor is None:
        raise Invalid("A lessee's holding names its lessor.", errors={"lessor": ["Required for role lessee."]})
    if role == "holder" and lessor is not None:
        raise Invalid("A holder has no lessor.", errors={"lessor": ["Only for role lessee."]})
    now = utcnow()
    valid_from, valid_to = _dates(data, now)
    resource = data["resource"]
    subject = data["subject"]
    holding = Holding(
        resource_kind=resource["kind"],
        resource_value=canonical_resource(resource["kind"], resource["value"], resource.get("region"), actor),
        subject_kind=subject["kind"],
        subject_value=canonical_subject(subject["kind"], subject["value"], "subject"),
        role=role,
        lessor_kind=lessor["kind"] if lessor else None,
        lessor_value=canonical_subject(lessor["kind"], lessor["value"], "lessor") if lessor else None,
        valid_from=valid_from,
        valid_to=valid_to,
        evidence=data.get("evidence"),
        org_id=actor.org_id,
        client_id=actor.client_id,
        created_at=now,
    )
    if holding.lessor_kind == holding.subject_kind and holding.lessor_value == holding.subject_value:
        raise Invalid("A subject does not lease from itself.", errors={"lessor": ["Same as the subject."]})
    changes.write_lock()
    db.session.add(holding)
    db.session.flush()
    record(
        Action.HOLDING_RECORD,
        "holding",
        holding.id,
        actor=actor,
        after=holding_snapshot(holding),
        reason=data.get("reason"),
    )
    reconcile_holdings([holding.id], actor, now)
    return holding


def get_holding(holding_id: int) -> Holding:
    """The holding or a 404 problem."""
    holding = db.session.get(Holding, holding_id)
    if holding is None:
        raise NotFound(f"No holding with id {holding_id}.")
    return holding


def _may_end(recorded_by: int, actor: Actor, what: str) -> None:
    if not actor.is_regulator and recorded_by != actor.org_id:
        raise Forbidden(f"An organisation ends only the {what} it recorded (a regulator ends any).")


def end_holding(holding_id: int, reason: str | None, actor: Actor) -> Holding:
    """End an open holding now; the via reports it carried close with it."""
    changes.write_lock()
    holding = get_holding(holding_id)
    _may_end(holding.org_id, actor, "holdings")
    now = _end(
        holding, reason, actor, "The holding has already ended.", holding_snapshot, Action.HOLDING_END, "holding"
    )
    reconcile_holdings([holding.id], actor, now)
    return holding


def _end(
    row: Holding | Representative,
    reason: str | None,
    actor: Actor,
    already: str,
    snapshot: Any,
    action: Action,
    target_type: str,
) -> dt.datetime:
    """End an open dated record now (409 `already` if it has ended), audited with before and
    after; returns the moment it ended."""
    now = utcnow()
    if row.valid_to is not None and row.valid_to <= now:
        raise Conflict(already)
    before = snapshot(row)
    row.valid_to = max(now, row.valid_from)
    row.ended_at, row.ended_by_org_id, row.end_reason = now, actor.org_id, reason
    db.session.flush()
    record(action, target_type, row.id, actor=actor, before=before, after=snapshot(row), reason=reason)
    return now


# --- representatives -------------------------------------------------------------------------


def representative_snapshot(rep: Representative) -> dict[str, Any]:
    return {
        "id": rep.id,
        "enterprise": rep.enterprise,
        "person": rep.person,
        "valid_from": rep.valid_from,
        "valid_to": rep.valid_to,
        "has_evidence": rep.has_evidence,
        "org_id": rep.org_id,
        "ended_at": rep.ended_at,
        "ended_by_org_id": rep.ended_by_org_id,
    }


def record_representative(data: dict[str, Any], actor: Actor) -> Representative:
    """Record that a person (raw identifier in the body, hashed here) is an enterprise's legal
    representative from `valid_from`."""
    _may_record(actor, "representatives")
    now = utcnow()
    valid_from, valid_to = _dates(data, now)
    rep = Representative(
        enterprise=canonical_subject("enterprise", data["enterprise"], "enterprise"),
        person=canonical_subject("person", data["person"], "person"),
        valid_from=valid_from,
        valid_to=valid_to,
        evidence=data.get("evidence"),
        org_id=actor.org_id,
        client_id=actor.client_id,
        created_at=now,
    )
    db.session.add(rep)
    db.session.flush()
    record(
        Action.REPRESENTATIVE_RECORD,
        "representative",
        rep.id,
        actor=actor,
        after=representative_snapshot(rep),
        reason=data.get("reason"),
    )
    return rep


def get_representative(rep_id: int) -> Representative:
    """The representative record or a 404 problem."""
    rep = db.session.get(Representative, rep_id)
    if rep is None:
        raise NotFound(f"No representative record with id {rep_id}.")
    return rep


def end_representative(rep_id: int, reason: str | None, actor: Actor) -> Representative:
    rep = get_representative(rep_id)
    _may_end(rep.org_id, actor, "representatives")
    _end(
        rep,
        reason,
        actor,
        "The representation has already ended.",
        representative_snapshot,
        Action.REPRESENTATIVE_END,
        "representative",
    )
    return rep
