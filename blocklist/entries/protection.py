"""Which allowlist item protects a value: read by publishing (refuse it), look-ups and checks
(never match it). Read-only; the allowlist is written in `allowlist`, which invalidates
`ALLOWLIST_TOPIC` in the same transaction: look-ups and checks read the allowlist's keys from a
per-worker cache (`reads.Cache`) where one may be used, publishing always from the database."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from ..db import db
from ..reads import Cache, usable
from ..values.canonical import protection_keys
from .models import AllowlistItem

ALLOWLIST_TOPIC = "allowlist"
_KEYS = Cache(ALLOWLIST_TOPIC, max_items=1)


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


def protected_pairs(pairs: Iterable[tuple[str, str]], region: str) -> set[tuple[str, str]]:
    """Those of the (kind, canonical value) pairs the allowlist protects, for reads: from the
    worker's cached set of allowlisted (kind, value) keys when `reads.usable()`, else one query
    (`find_protecting`)."""
    pairs = set(pairs)
    if not pairs:
        return set()
    if not usable():
        return set(find_protecting(pairs, region))
    keys = _KEYS.get(ALLOWLIST_TOPIC)
    if keys is None:
        generation = _KEYS.generation
        keys = frozenset(
            (kind, value) for kind, value in db.session.execute(select(AllowlistItem.kind, AllowlistItem.value))
        )
        _KEYS.put(ALLOWLIST_TOPIC, keys, generation)
    return {pair for pair in pairs if any(key in keys for key in protection_keys(pair[0], pair[1], region))}
