"""Disputes: any publishing org contests an entry; a regulator upholds or overturns it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..audit.actions import Action
from ..audit.services import record
from ..context import Actor
from ..db import db, utcnow
from ..exceptions import Conflict, NotFound
from .models import Dispute
from .services import get_entry, lock_for_write, revoke


def dispute_snapshot(dispute: Dispute) -> dict[str, Any]:
    return {
        "id": dispute.id,
        "entry_id": dispute.entry_id,
        "org_id": dispute.org_id,
        "reason": dispute.reason,
        "status": dispute.status,
        "resolution_note": dispute.resolution_note,
        "resolved_at": dispute.resolved_at,
    }


def file(entry_id: int, reason: str, actor: Actor) -> Dispute:
    """File a dispute; one open dispute per org and entry (409 for a second)."""
    entry = get_entry(entry_id)
    if db.session.scalar(
        select(Dispute.id).where(Dispute.entry_id == entry.id, Dispute.org_id == actor.org_id, Dispute.status == "open")
    ):
        raise Conflict("Your organisation already has an open dispute on this entry.")
    dispute = Dispute(entry_id=entry.id, org_id=actor.org_id, reason=reason, status="open")
    db.session.add(dispute)
    db.session.flush()
    record(Action.DISPUTE_FILE, "dispute", dispute.id, actor=actor, after=dispute_snapshot(dispute), reason=reason)
    return dispute


def resolve(dispute_id: int, resolution: str, note: str | None, actor: Actor) -> Dispute:
    """`upheld` keeps the entry; `overturned` revokes it (in the same transaction)."""
    # Entry-writer lock before the audit lock, the order every entry writer takes them in.
    lock_for_write()
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None:
        raise NotFound(f"No dispute with id {dispute_id}.")
    if dispute.status != "open":
        raise Conflict(f"The dispute is already resolved ({dispute.status}).")
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
    return dispute
