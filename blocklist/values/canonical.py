"""From what a publisher sent to what the database stores and matches: canonical value, range
prefix, URL expression, and the allowlist keys that would protect a value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from .kinds import InvalidValue
from .normalise import canonical, digit_candidates, parse_range
from .subjects import person_hashes
from .urls import EXTRACT, MAX_HOST_CHARS, host_suffixes, url_expression, url_host


@dataclass(frozen=True)
class CanonicalValue:
    kind: str
    value: str
    range_prefix: str | None = None
    range_length: int | None = None
    match_key: str | None = None
    # A person's hashes under retired peppers: matched too, never written (subjects.py).
    alternates: tuple[str, ...] = ()


def canonicalise(kind: str, raw: str, region: str, peppers: Sequence[str] = ()) -> CanonicalValue:
    """Canonical form of `raw` as `kind`; raises InvalidValue saying why it cannot be one.

    A person identifier is hashed with `peppers` (current first); without them only an already
    hashed person is accepted (a look-up by URL, a mirror without the pepper)."""
    if kind == "person":
        hashes = person_hashes(raw, peppers)
        return CanonicalValue(kind, hashes[0], alternates=tuple(hashes[1:]))
    value = canonical(kind, raw, region=region)
    if kind == "range":
        prefix, length = parse_range(value)
        return CanonicalValue(kind, value, range_prefix=prefix, range_length=length)
    if kind == "url":
        return canonical_url_value(value)
    return CanonicalValue(kind, value)


def canonical_url_value(url: str) -> CanonicalValue:
    """The value of an already canonical URL, with the expression it is matched by."""
    return CanonicalValue("url", url, match_key=url_expression(url))


def domain_and_parents(host: str) -> list[str]:
    """The names a domain entry (or a domain on the allowlist) covering canonical `host` can be
    listed under: its Safe Browsing host suffixes (at most 5, ``host_suffixes``) down to its
    registrable domain, none above it (a public suffix such as 'com.cn' is never a domain entry).
    'a.b.example.com' -> ['a.b.example.com', 'b.example.com', 'example.com'];
    'a.b.c.d.e.example.co.uk' -> [itself, 'd.e.example.co.uk', 'e.example.co.uk', 'example.co.uk'].
    None for an IP address or a host with no registrable domain: no domain entry can be either.
    So a domain entry more than five labels deep matches only its exact host, as in Safe Browsing."""
    registrable = registrable_domain(host)
    if registrable is None:
        return []
    depth = registrable.count(".")
    return [name for name in host_suffixes(host) if name.count(".") >= depth]


@lru_cache(maxsize=16384)
def registrable_domain(host: str) -> str | None:
    """The registrable domain of canonical `host` under the public suffix list ('example.co.uk'
    for 'a.example.co.uk'), or None (an IP address, a bare or unknown suffix, a host longer than
    DNS allows)."""
    if len(host) > MAX_HOST_CHARS or host.startswith("["):
        return None
    ext = EXTRACT(host)
    if not ext.suffix or not ext.domain or ext.suffix.replace(".", "").isdigit():
        return None
    return f"{ext.domain}.{ext.suffix}"


@lru_cache(maxsize=256)
def _country_code(region: str) -> int:
    return phonenumbers.country_code_for_region(region)


def protection_keys(kind: str, value: str, region: str) -> list[tuple[str, str]]:
    """The allowlist (kind, value) pairs any one of which protects this canonical value.

    Numbers and codes protect each other by their digits (`95588` the code and `+8695588` the
    number are one service line); a domain protects itself, its subdomains and URLs on them.
    """
    if kind in ("number", "code"):
        country = _country_code(region)
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


def recanonicalised(kind: str, stored: str, raw: str, region: str) -> tuple[str, str] | None:
    """How an entry stored as (`kind`, `stored`) from `raw` reads under today's canonical forms:
    None when it reads the same; ("changed", new value) when the canonical form moved (a URL's
    port is dropped, a default-ignorable code point is folded away); ("refused", why) when its
    raw value is no longer valid at all (an e-mail address read as a URL, a host with an escaped
    space). Subjects are skipped: a person's identifier is never stored to read again."""
    if kind in ("person", "enterprise"):
        return None
    try:
        value = canonicalise(kind, raw, region).value
    except InvalidValue as error:
        return ("refused", str(error))
    return None if value == stored else ("changed", value)
