"""From what a publisher sent to what the database stores and matches: canonical value, range
prefix, URL expression, and the allowlist keys that would protect a value."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from ..matching.urls import url_expression, url_host
from .normalise import canonical, digit_candidates, parse_range


@dataclass(frozen=True)
class CanonicalValue:
    kind: str
    value: str
    range_prefix: str | None = None
    range_length: int | None = None
    match_key: str | None = None


def canonicalise(kind: str, raw: str, region: str) -> CanonicalValue:
    """Canonical form of `raw` as `kind`; raises InvalidValue saying why it cannot be one."""
    value = canonical(kind, raw, region=region)
    if kind == "range":
        prefix, length = parse_range(value)
        return CanonicalValue(kind, value, range_prefix=prefix, range_length=length)
    if kind == "url":
        return CanonicalValue(kind, value, match_key=url_expression(value))
    return CanonicalValue(kind, value)


def domain_and_parents(host: str) -> list[str]:
    """'a.b.example.com' -> ['a.b.example.com', 'b.example.com', 'example.com']: every name a
    domain entry could be listed under to cover `host` (single labels are never listed)."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def protection_keys(kind: str, value: str, region: str) -> list[tuple[str, str]]:
    """The allowlist (kind, value) pairs any one of which protects this canonical value.

    Numbers and codes protect each other by their digits (`95588` the code and `+8695588` the
    number are one service line); a domain protects itself, its subdomains and URLs on them.
    """
    if kind in ("number", "code"):
        country = phonenumbers.country_code_for_region(region)
        keys = [(kind, value)]
        for digits in digit_candidates(kind, value):
            keys.append(("code", digits))
            keys.append(("number", f"+{country}{digits.lstrip('0')}"))
        return list(dict.fromkeys(keys))
    if kind == "url":
        return [("url", value)] + [("domain", d) for d in domain_and_parents(url_host(value))]
    if kind == "domain":
        return [("domain", d) for d in domain_and_parents(value)]
    return [(kind, value)]
