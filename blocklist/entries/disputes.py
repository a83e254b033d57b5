"""Disputes: any publishing org contests an entry; a regulator acknowledges it, then upholds or
overturns it (`open -> acknowledged -> upheld | overturned`), within deadlines set at filing
(BLOCKLIST_DISPUTE_ACK_HOURS, BLOCKLIST_DISPUTE_RESOLVE_DAYS). While a dispute is open or
acknowledged the entry's tier is capped at `label`: filing and upholding change the tier, so
each writes a feed upsert; an overturn revokes the entry (a feed remove)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from ..audit.actions import Action
from ..audit.services import record
from ..config import current_settings
from ..context import Actor
from ..db import db, utcnow
from ..exceptions import Conflict, NotFound
from ..feeds import changes
from .models import Dispute, Entry
from .services import get_entry, lock_for_write, revoke

UNRESOLVED = ("open", "acknowledged")


def dispute_snapshot(dispute: Dispute) -> dict[str, Any]:
    return {
        "id": dispute.id,
        "entry_id": dispute.entry_id,
        "org_id": dispute.org_id,
        "reason": dispute.reason,
        "status": dispute.status,
        "resolution_note": dispute.resolution_note,
        "resolved_at": dispute.resolved_at,
        "acknowledged_at": dispute.acknowledged_at,
        "ack_due_at": dispute.ack_due_at,
        "resolve_due_at": dispute.resolve_due_at,
    }


def _retier(entry: Entry) -> None:
    """The entry's tier cap changed: re-assess it with a feed upsert (if it is in the feed)."""
    db.session.flush()
    if entry.in_feed:
        changes.append([(changes.UPSERT, entry.id, entry.kind, entry.value)])


def file(entry_id: int, reason: str, actor: Actor) -> Dispute:
    """File a dispute; one unresolved dispute per org and entry (409 for a second). The entry's
    tier is capped at `label` until it is resolved."""
    lock_for_write()
    entry = get_entry(entry_id)
    if db.session.scalar(
        select(Dispute.id).where(
            Dispute.entry_id == entry.id, Dispute.org_id == actor.org_id, Dispute.status.in_(UNRESOLVED)
        )
    ):
        raise Conflict("Your organisation already has an open dispute on this entry.")
    settings, now = current_settings(), utcnow()
    dispute = Dispute(
        entry_id=entry.id,
        org_id=actor.org_id,
        reason=reason,
        status="open",
        created_at=now,
        ack_due_at=now + dt.timedelta(hours=settings.dispute_ack_hours),
        resolve_due_at=now + dt.timedelta(days=settings.dispute_resolve_days),
    )
    db.session.add(dispute)
    db.session.flush()
    record(Action.DISPUTE_FILE, "dispute", dispute.id, actor=actor, after=dispute_snapshot(dispute), reason=reason)
    _retier(entry)
    return dispute


def _unresolved(dispute_id: int) -> Dispute:
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None:
        raise NotFound(f"No dispute with id {dispute_id}.")
    if dispute.status not in UNRESOLVED:
        raise Conflict(f"The dispute is already resolved ({dispute.status}).")
    return dispute


def acknowledge(dispute_id: int, actor: Actor) -> Dispute:
    """A regulator has taken the dispute up (`open -> acknowledged`); 409 once past `open`."""
    lock_for_write()
    dispute = _unresolved(dispute_id)
    if dispute.status != "open":
        raise Conflict("The dispute is already acknowledged.")
    before = dispute_snapshot(dispute)
    dispute.status, dispute.acknowledged_at, dispute.acknowledged_by_org_id = "acknowledged", utcnow(), actor.org_id
    db.session.flush()
    record(
        Action.DISPUTE_ACKNOWLEDGE, "dispute", dispute.id, actor=actor, before=before, after=dispute_snapshot(dispute)
    )
    return dispute


def resolve(dispute_id: int, resolution: str, note: str | None, actor: Actor) -> Dispute:
    """From `open` or `acknowledged`: `upheld` keeps the entry (its tier cap lifts when no other
    dispute is unresolved); `overturned` revokes it (in the same transaction)."""
    # Entry-writer lock before the audit lock, the order every entry writer takes them in.
    lock_for_write()
    dispute = _unresolved(dispute_id)
    before = dispute_snapshot(dispute)
    dispute.status, dispute.resolution_note = resolution, note
    dispute.resolved_by_org_id, dispute.resolved_at = actor.org_id, utcnow()
    db.session.flush()
    record(
        Action.DISPUTE_RESOLVE,
        "dispute",
        dispute.id,
        actor=actor,
        before=before,
        after=dispute_snapshot(dispute),
        reason=note,
    )
    if resolution == "overturned" and dispute.entry.status != "revoked":
        revoke(dispute.entry_id, f"dispute {dispute.id} overturned" + (f": {note}" if note else ""), actor)
    elif resolution == "upheld":
        _retier(dispute.entry)  # the cap may lift
    return dispute
