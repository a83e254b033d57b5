"""Breadth limits: what a non-regulator may not publish because it would restrict far more than
the one violator it reports (PRODUCT.md, "Breadth limits"):

* a range covering more than `MAX_RANGE_SPAN` numbers (`861*` is every Chinese mobile);
* a keyword of fewer than `MIN_KEYWORD_CHARS` folded characters (`ok`, `验证`);
* a range or keyword that covers an allowlisted value (`955*` covers the bank's `95588`);
* a range, keyword or domain that covers an entry a regulator revoked (re-listing an overturned
  value through something wider: `8613500001234*`).

Regulators are not limited. The span and minimum-length rules are shape rules
(`values.coverage.shape_errors`: 422, checked before the writer lock); the coverage rules here
read the allowlist and the revoked entries (409, checked under the writer lock, so an
allowlisting or revocation a moment ago is seen) and decide with `values.coverage.covers`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import phonenumbers
from sqlalchemy import and_, or_, select

from ..db import db
from ..values.coverage import covers
from .models import AllowlistItem, Entry

CHUNK = 100  # items per coverage query (each adds a few LIKE patterns)


WIDE_KINDS = ("range", "keyword", "domain")


def covered_allowlisted(values: Iterable[Any]) -> dict[Any, AllowlistItem]:
    """For each wide value (range or keyword) that covers an allowlisted value, that item.
    The allowlist is hundreds of official values: read once, matched in memory."""
    wide = [v for v in values if v.kind in ("range", "keyword")]
    if not wide:
        return {}
    allowlist = list(db.session.scalars(select(AllowlistItem).order_by(AllowlistItem.id)))
    found = {}
    for value in wide:
        hit = next((a for a in allowlist if covers(value, a.kind, a.value)), None)
        if hit is not None:
            found[value] = hit
    return found


def _revoked_candidates(value: Any, country: int):
    """A WHERE clause narrowing revoked entries to those the wide value may cover (then checked
    exactly by `covers`): value prefixes for ranges, substrings for keywords, suffixes for domains."""
    if value.kind == "range":
        prefix = value.range_prefix
        number_prefixes = {prefix, f"{country}{prefix}"}
        if prefix.startswith("0"):
            number_prefixes.add(f"{country}{prefix[1:]}")
        return or_(
            and_(Entry.kind == "code", Entry.value.startswith(prefix, autoescape=True)),
            and_(
                Entry.kind == "number",
                or_(*(Entry.value.startswith("+" + p, autoescape=True) for p in sorted(number_prefixes))),
            ),
        )
    if value.kind == "keyword":
        return and_(Entry.kind == "keyword", Entry.value.contains(value.value, autoescape=True))
    domain = value.value
    return or_(
        and_(Entry.kind == "domain", or_(Entry.value == domain, Entry.value.endswith("." + domain, autoescape=True))),
        and_(
            Entry.kind == "url",
            or_(
                Entry.match_key.startswith(domain + "/", autoescape=True),
                Entry.match_key.contains("." + domain + "/", autoescape=True),
            ),
        ),
    )


def covered_revoked(values: Iterable[Any], region: str) -> dict[Any, Any]:
    """For each wide value (range, keyword, domain) that covers a revoked entry, that entry's
    (id, kind, value, match_key) row.
    One query per chunk of values, over the revoked entries only."""
    wide = sorted({v for v in values if v.kind in WIDE_KINDS}, key=lambda v: (v.kind, v.value))
    country = phonenumbers.country_code_for_region(region)
    found = {}
    for start in range(0, len(wide), CHUNK):
        chunk = wide[start : start + CHUNK]
        stmt = select(Entry.id, Entry.kind, Entry.value, Entry.match_key).where(
            Entry.status == "revoked", or_(*(_revoked_candidates(v, country) for v in chunk))
        )
        revoked = db.session.execute(stmt).all()
        for value in chunk:
            hit = next((r for r in revoked if covers(value, r.kind, r.value, r.match_key)), None)
            if hit is not None:
                found[value] = hit
    return found
