"""Reading the audit trail for its routes: filtered pages of records, one record, checkpoints."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..config import current_settings
from ..db import db
from ..exceptions import NotFound
from ..pagination import Page, paginate
from .models import AuditCheckpoint, AuditRecord, AuditTreeHead

MAX_SEQ = 2**63 - 1  # BIGINT; a larger path segment is simply not a record


def list_records(args: dict[str, Any]) -> Page:
    """Records filtered by target, actor org, action prefix and time; newest first unless
    `order` is `asc`."""
    stmt = select(AuditRecord)
    if args["target_type"] is not None:
        stmt = stmt.where(AuditRecord.target_type == args["target_type"])
    if args["target_id"] is not None:
        stmt = stmt.where(AuditRecord.target_id == args["target_id"])
    if args["actor_org"] is not None:
        stmt = stmt.where(AuditRecord.actor_org_id == args["actor_org"])
    if args["action"] is not None:
        stmt = stmt.where(AuditRecord.action.startswith(args["action"], autoescape=True))
    if args["since"] is not None:
        stmt = stmt.where(AuditRecord.created_at >= args["since"])
    if args["until"] is not None:
        stmt = stmt.where(AuditRecord.created_at < args["until"])
    return paginate(
        stmt, [AuditRecord.seq], cursor=args["cursor"], limit=args["limit"], descending=args["order"] == "desc"
    )


def get_record(seq: int) -> AuditRecord:
    """The record with this seq, or a 404 problem."""
    found = db.session.get(AuditRecord, seq) if seq <= MAX_SEQ else None
    if found is None:
        raise NotFound(f"No audit record with seq {seq}.")
    return found


def list_checkpoints(page: dict[str, Any]) -> Page:
    """Signed checkpoints, newest first."""
    return paginate(
        select(AuditCheckpoint), [AuditCheckpoint.id], cursor=page["cursor"], limit=page["limit"], descending=True
    )


def list_tree_heads(page: dict[str, Any]) -> Page:
    """Signed tree heads, newest (largest) first."""
    return paginate(
        select(AuditTreeHead), [AuditTreeHead.tree_size], cursor=page["cursor"], limit=page["limit"], descending=True
    )


def latest_tree_head() -> AuditTreeHead:
    """The latest signed tree head, or a 404 problem."""
    head = db.session.scalar(select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc()).limit(1))
    if head is None:
        raise NotFound("No signed tree head yet.", headers={"Retry-After": str(current_settings().sth_interval)})
    return head
