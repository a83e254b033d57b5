"""Breadth limits: what a non-regulator may not publish because it would restrict far more than
the one violator it reports (PRODUCT.md, "Breadth limits"):

* a range covering more than `MAX_RANGE_SPAN` numbers (`861*` is every Chinese mobile);
* a keyword of fewer than `MIN_KEYWORD_CHARS` folded characters (`ok`, `验证`);
* a range or keyword that covers an allowlisted value (`955*` covers the bank's `95588`);
* a range, keyword or domain that covers an entry a regulator revoked (re-listing an overturned
  value through something wider: `8613500001234*`).

Regulators are not limited. The span and minimum-length rules are shape rules (422, checked
before the writer lock); the coverage rules read the allowlist and the revoked entries (409,
checked under the writer lock, so an allowlisting or revocation a moment ago is seen).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import phonenumbers
from sqlalchemy import and_, or_, select

from ..db import db
from ..matching.folding import fold
from .models import AllowlistItem, Entry
from .normalise import RANGE_MAX_LENGTH, digit_candidates, range_matches

CHUNK = 100  # items per coverage query (each adds a few LIKE patterns)


def range_span(prefix: str, length: int | None) -> int:
    """How many digit strings the range covers: 10^(x's) for `prefix` + x's; for an open range
    (`prefix*`) every continuation up to the longest digits a range matches (20)."""
    if length is not None:
        return 10 ** (length - len(prefix))
    return sum(10 ** k for k in range(RANGE_MAX_LENGTH - len(prefix) + 1))


def shape_errors(kind: str, value: Any, *, max_span: int, min_keyword_chars: int) -> str | None:
    """Why a non-regulator may not publish this canonical value by its shape alone, or None.
    `value` is a `CanonicalValue`."""
    if kind == "range":
        span = range_span(value.range_prefix, value.range_length)
        if span > max_span:
            return (f"This range covers {span:,} numbers; a range may cover at most {max_span:,} "
                    "(list the numbers or a narrower range, or ask a regulator).")
    elif kind == "keyword" and len(value.value) < min_keyword_chars:
        return (f"A keyword needs at least {min_keyword_chars} letters or digits; shorter ones "
                "match legitimate messages (ask a regulator for a shorter one).")
    return None


def range_covers(prefix: str, length: int | None, kind: str, value: str) -> bool:
    """Whether the range matches the number or code `value` (any of its digit forms)."""
    return any(range_matches(prefix, length, digits) for digits in digit_candidates(kind, value))


def keyword_covers(keyword: str, kind: str, value: str) -> bool:
    """Whether the folded keyword occurs in the folded text of the value: a message naming the
    value (quoting the phrase, the number, the domain) would match the keyword."""
    return keyword in (value if kind == "keyword" else fold(value))


def domain_covers(domain: str, kind: str, value: str, match_key: str | None) -> bool:
    """Whether a domain entry would match this domain or URL (the domain or a parent of its host)."""
    host = value if kind == "domain" else (match_key or "").split("/", 1)[0]
    return host == domain or host.endswith("." + domain)


def covers(item_kind: str, item: Any, kind: str, value: str, match_key: str | None = None) -> bool:
    """Whether the published canonical value `item` (a `CanonicalValue`) covers (kind, value)."""
    if item_kind == "range":
        return kind in ("number", "code") and range_covers(item.range_prefix, item.range_length, kind, value)
    if item_kind == "keyword":
        return keyword_covers(item.value, kind, value)
    if item_kind == "domain":
        return kind in ("domain", "url") and domain_covers(item.value, kind, value, match_key)
    return False


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
        hit = next((a for a in allowlist if covers(value.kind, value, a.kind, a.value)), None)
        if hit is not None:
            found[value] = hit
    return found


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _revoked_candidates(value: Any, country: int):
    """A WHERE clause narrowing revoked entries to those the wide value may cover (then checked
    exactly by `covers`): value prefixes for ranges, substrings for keywords, suffixes for domains."""
    like = lambda column, pattern: column.like(pattern, escape="\\")  # noqa: E731
    if value.kind == "range":
        prefix = value.range_prefix
        number_prefixes = {prefix, f"{country}{prefix}"}
        if prefix.startswith("0"):
            number_prefixes.add(f"{country}{prefix[1:]}")
        return or_(and_(Entry.kind == "code", like(Entry.value, _escape(prefix) + "%")),
                   and_(Entry.kind == "number",
                        or_(*(like(Entry.value, "+" + _escape(p) + "%") for p in sorted(number_prefixes)))))
    if value.kind == "keyword":
        return and_(Entry.kind == "keyword", like(Entry.value, "%" + _escape(value.value) + "%"))
    domain = _escape(value.value)
    return or_(and_(Entry.kind == "domain", or_(Entry.value == value.value, like(Entry.value, "%." + domain))),
               and_(Entry.kind == "url", or_(like(Entry.match_key, domain + "/%"),
                                             like(Entry.match_key, "%." + domain + "/%"))))


def covered_revoked(values: Iterable[Any], region: str) -> dict[Any, Entry]:
    """For each wide value (range, keyword, domain) that covers a revoked entry, that entry.
    One query per chunk of values, over the revoked entries only."""
    wide = sorted({v for v in values if v.kind in WIDE_KINDS}, key=lambda v: (v.kind, v.value))
    country = phonenumbers.country_code_for_region(region)
    found = {}
    for start in range(0, len(wide), CHUNK):
        chunk = wide[start:start + CHUNK]
        stmt = (select(Entry.id, Entry.kind, Entry.value, Entry.match_key)
                .where(Entry.status == "revoked", or_(*(_revoked_candidates(v, country) for v in chunk))))
        revoked = db.session.execute(stmt).all()
        for value in chunk:
            hit = next((r for r in revoked if covers(value.kind, value, r.kind, r.value, r.match_key)), None)
            if hit is not None:
                found[value] = hit
    return found
