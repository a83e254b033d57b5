"""The regulators' allowlist: values declared legitimate, never published and never matched."""

from __future__ import annotations

from sqlalchemy import select

from ..audit.actions import Action
from ..audit.services import record
from ..config import current_settings
from ..context import Actor
from ..db import db
from ..exceptions import Conflict, Invalid, NotFound
from ..listener import invalidate
from ..values.canonical import canonicalise
from ..values.kinds import InvalidValue
from .models import AllowlistItem, Entry
from .protection import ALLOWLIST_TOPIC
from .services import lock_for_write, revoke, stored_raw_value


def allowlist_snapshot(item: AllowlistItem) -> dict:
    return {"id": item.id, "kind": item.kind, "value": item.value, "raw_value": item.raw_value, "reason": item.reason}


def add(kind: str, raw_value: str, reason: str, actor: Actor) -> AllowlistItem:
    """Allowlist a value. An active entry with that value is revoked in the same transaction, so
    carriers' mirrors drop it too (an official number must not stay blocked anywhere)."""
    settings = current_settings()
    try:
        value = canonicalise(kind, raw_value, settings.default_region, settings.subject_peppers)
    except InvalidValue as error:
        raise Invalid(str(error), errors={"value": [str(error)]}) from None
    # A person: its hash under every pepper (an entry listed under a retired one is revoked too).
    values = [value.value, *value.alternates]
    lock_for_write()
    if db.session.scalar(select(AllowlistItem).where(AllowlistItem.kind == kind, AllowlistItem.value.in_(values))):
        raise Conflict(f"{kind} {value.value!r} is already on the allowlist.")
    item = AllowlistItem(
        kind=kind,
        value=value.value,
        raw_value=stored_raw_value(value, raw_value),
        reason=reason,
        created_by_org_id=actor.org_id,
    )
    db.session.add(item)
    db.session.flush()
    invalidate(ALLOWLIST_TOPIC, db.session)  # every worker's cached allowlist, at commit
    record(Action.ALLOWLIST_ADD, "allowlist", item.id, actor=actor, after=allowlist_snapshot(item), reason=reason)
    for entry in db.session.scalars(select(Entry).where(Entry.kind == kind, Entry.value.in_(values))):
        if entry.in_feed:
            revoke(entry.id, f"allowlisted: {reason}", actor, status_reason="allowlisted")
    return item


def remove(item_id: int, actor: Actor) -> None:
    item = db.session.get(AllowlistItem, item_id)
    if item is None:
        raise NotFound(f"No allowlist item with id {item_id}.")
    record(Action.ALLOWLIST_REMOVE, "allowlist", item.id, actor=actor, before=allowlist_snapshot(item))
    db.session.delete(item)
    db.session.flush()
    invalidate(ALLOWLIST_TOPIC, db.session)
