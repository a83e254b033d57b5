"""The regulators' allowlist: values declared legitimate, never published and never matched."""

from __future__ import annotations

from typing import Iterable

from flask import current_app
from sqlalchemy import select

from ..audit.actions import Action
from ..audit.services import record
from ..context import current_actor
from ..db import db
from ..errors import abort
from .models import AllowlistItem, Entry
from ..values.normalise import InvalidValue
from ..values.canonical import canonicalise, protection_keys


def allowlist_snapshot(item: AllowlistItem) -> dict:
    return {"id": item.id, "kind": item.kind, "value": item.value, "raw_value": item.raw_value,
            "reason": item.reason}


def find_protecting(pairs: Iterable[tuple[str, str]], region: str) -> dict[tuple[str, str], AllowlistItem]:
    """For each (kind, canonical value), the allowlist item that protects it, if any.
    One query for any number of values."""
    keys_by_pair = {pair: protection_keys(pair[0], pair[1], region) for pair in pairs}
    wanted = {value for keys in keys_by_pair.values() for _, value in keys}
    if not wanted:
        return {}
    # The allowlist holds hundreds of official numbers, a bulk publish tens of thousands of
    # keys: past a small batch, reading the whole list is cheaper than a huge IN (...).
    if len(wanted) > 200:
        stmt = select(AllowlistItem)
    else:
        stmt = select(AllowlistItem).where(AllowlistItem.value.in_(sorted(wanted)))
    items = {(item.kind, item.value): item for item in db.session.scalars(stmt)}
    found = {}
    for pair, keys in keys_by_pair.items():
        for key in keys:
            if key in items:
                found[pair] = items[key]
                break
    return found


def add(kind: str, raw_value: str, reason: str) -> AllowlistItem:
    """Allowlist a value. An active entry with that value is revoked in the same transaction, so
    carriers' mirrors drop it too (an official number must not stay blocked anywhere)."""
    from .services import lock_for_write, revoke  # services import this module

    region = current_app.config["DEFAULT_REGION"]
    try:
        value = canonicalise(kind, raw_value, region)
    except InvalidValue as error:
        abort(422, str(error), errors={"value": [str(error)]})
    lock_for_write()
    if db.session.scalar(select(AllowlistItem).where(AllowlistItem.kind == kind,
                                                     AllowlistItem.value == value.value)):
        abort(409, f"{kind} {value.value!r} is already on the allowlist.")
    actor = current_actor()
    item = AllowlistItem(kind=kind, value=value.value, raw_value=raw_value, reason=reason,
                         created_by_org_id=actor.org_id)
    db.session.add(item)
    db.session.flush()
    record(Action.ALLOWLIST_ADD, "allowlist", item.id, after=allowlist_snapshot(item), reason=reason)
    entry = db.session.scalar(select(Entry).where(Entry.kind == kind, Entry.value == value.value))
    if entry is not None and entry.in_feed:
        revoke(entry.id, f"allowlisted: {reason}", status_reason="allowlisted")  # commits both
    else:
        db.session.commit()
    return item


def remove(item_id: int) -> None:
    item = db.session.get(AllowlistItem, item_id)
    if item is None:
        abort(404, f"No allowlist item with id {item_id}.")
    record(Action.ALLOWLIST_REMOVE, "allowlist", item.id, before=allowlist_snapshot(item))
    db.session.delete(item)
    db.session.commit()
