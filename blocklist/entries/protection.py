"""Which allowlist item protects a value: read by publishing (refuse it), look-ups and checks
(never match it). Read-only; the allowlist is written in `allowlist`."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from ..db import db
from ..values.canonical import protection_keys
from .models import AllowlistItem


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
