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
from sqlalchemy import and_, or_, select, text

from ..db import db, is_postgres
from ..values.coverage import covers
from .models import AllowlistItem, Entry

CHUNK = 100  # items per coverage query (each adds a few LIKE patterns)
PG_CHUNK = 1000  # on PostgreSQL, where the patterns are array parameters


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


def _like(text_: str) -> str:
    """`text_` as a LIKE pattern matching itself (backslash, PostgreSQL's default escape)."""
    return text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The candidates of `_revoked_candidates` for a whole chunk of values in one statement of fixed
# shape (patterns as array parameters): compiled and planned once, whatever the chunk holds.
_REVOKED_CANDIDATES = text(
    "SELECT id, kind, value, match_key FROM entries WHERE status = 'revoked' AND ("
    "(kind = 'code' AND value LIKE ANY(CAST(:code AS text[])))"
    " OR (kind = 'number' AND value LIKE ANY(CAST(:number AS text[])))"
    " OR (kind = 'keyword' AND value LIKE ANY(CAST(:keyword AS text[])))"
    " OR (kind = 'domain' AND (value = ANY(CAST(:domain AS text[])) OR value LIKE ANY(CAST(:subdomain AS text[]))))"
    " OR (kind = 'url' AND match_key LIKE ANY(CAST(:url AS text[]))))"
)


def _candidate_patterns(chunk: list[Any], country: int) -> dict[str, list[str]]:
    """The array parameters of `_REVOKED_CANDIDATES`: the same narrowing as
    `_revoked_candidates` for every value of the chunk."""
    patterns: dict[str, set[str]] = {
        name: set() for name in ("code", "number", "keyword", "domain", "subdomain", "url")
    }
    for value in chunk:
        if value.kind == "range":
            prefix = value.range_prefix
            number_prefixes = {prefix, f"{country}{prefix}"}
            if prefix.startswith("0"):
                number_prefixes.add(f"{country}{prefix[1:]}")
            patterns["code"].add(_like(prefix) + "%")
            patterns["number"].update("+" + _like(p) + "%" for p in number_prefixes)
        elif value.kind == "keyword":
            patterns["keyword"].add("%" + _like(value.value) + "%")
        else:
            domain = value.value
            patterns["domain"].add(domain)
            patterns["subdomain"].add("%." + _like(domain))
            patterns["url"].update((_like(domain) + "/%", "%." + _like(domain) + "/%"))
    return {name: sorted(found) for name, found in patterns.items()}


def covered_revoked(values: Iterable[Any], region: str) -> dict[Any, Any]:
    """For each wide value (range, keyword, domain) that covers a revoked entry, that entry's
    (id, kind, value, match_key) row.
    One query per chunk of values, over the revoked entries only."""
    wide = sorted({v for v in values if v.kind in WIDE_KINDS}, key=lambda v: (v.kind, v.value))
    country = phonenumbers.country_code_for_region(region)
    postgres = is_postgres()
    size = PG_CHUNK if postgres else CHUNK
    found = {}
    for start in range(0, len(wide), size):
        chunk = wide[start : start + size]
        if postgres:
            revoked = db.session.execute(_REVOKED_CANDIDATES, _candidate_patterns(chunk, country)).all()
        else:
            stmt = select(Entry.id, Entry.kind, Entry.value, Entry.match_key).where(
                Entry.status == "revoked", or_(*(_revoked_candidates(v, country) for v in chunk))
            )
            revoked = db.session.execute(stmt).all()
        for value in chunk:
            hit = next((r for r in revoked if covers(value, r.kind, r.value, r.match_key)), None)
            if hit is not None:
                found[value] = hit
    return found
