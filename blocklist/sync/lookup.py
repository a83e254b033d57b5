"""`blocklist-sync lookup`: is this value listed, answered from the mirror by the server's rules.

The value is read as the kind given, or as every kind its shape allows (`guess_kinds`), and
canonicalised (`canonicalise`: E.164 numbers, folded keywords, Safe Browsing URLs, IDNA
domains). What it can match are the same probes the server's `/v1/lookup` makes
(blocklist/matching/index.py `Probe`): its exact (kind, value); for a number or code, the ranges
whose prefix starts it (every `prefix + x…` and `prefix*` spelling, checked with `covers`); for a
URL, the URL entries listed under one of its Safe Browsing expressions and the domain entries
for its host or a parent; for a domain, the domain entries for it or a parent. Entries whose
`expires_at` has passed do not match, as on the server (the feed's `remove` follows).

Subjects match only themselves: an enterprise by its USCC, a person only by its hash (64 hex
digits, as `/v1/lookup` by URL). The client never holds the subject pepper — handing it to every
mirror would let anyone with a mirror test guessed ID numbers against its hashes — so a raw
identifier is refused here (`error`, never echoed); hash it with a `POST /v1/lookup` instead.

Not here: the server's allowlist guard (the mirror holds no allowlist), so a regulator's range
covering an allowlisted number matches here and not on the server. Only blocklist.values is
imported: no Flask, no database layer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..values.canonical import CanonicalValue, canonicalise, domain_and_parents
from ..values.coverage import covers
from ..values.kinds import InvalidValue
from ..values.normalise import RANGE_MAX_LENGTH, RANGE_MIN_PREFIX, digit_candidates, guess_kinds, parse_range
from ..values.subjects import looks_like_resident_id
from ..values.urls import url_expressions, url_host


@dataclass
class Probe:
    """A looked-up value's readings and the mirror keys they can match."""

    candidates: list[CanonicalValue] = field(default_factory=list)
    pairs: set[tuple[str, str]] = field(default_factory=set)
    url_keys: set[str] = field(default_factory=set)
    error: str | None = None

    @classmethod
    def of(cls, value: str, kind: str | None, region: str) -> Probe:
        probe, errors = cls(), []
        for reading in [kind] if kind else guess_kinds(value, region=region):
            try:
                probe.add(canonicalise(reading, value, region))
            except InvalidValue as error:
                errors.append(str(error))
        if not probe.candidates and errors:
            probe.error = errors[0]
        return probe

    def add(self, canonical: CanonicalValue) -> None:
        self.candidates.append(canonical)
        self.pairs.add((canonical.kind, canonical.value))
        if canonical.kind in ("number", "code"):
            for digits in digit_candidates(canonical.kind, canonical.value):
                self.pairs.update(("range", spelling) for spelling in covering_range_spellings(digits))
        elif canonical.kind == "url":
            self.url_keys.update(url_expressions(canonical.value))
            self.pairs.update(("domain", name) for name in domain_and_parents(url_host(canonical.value)))
        elif canonical.kind == "domain":
            self.pairs.update(("domain", name) for name in domain_and_parents(canonical.value))

    def matches(self, entry: dict[str, Any]) -> bool:
        """Whether a mirror row found by this probe's keys applies to one of its readings."""
        kind, value = entry["kind"], entry["value"]
        if (kind, value) in {(c.kind, c.value) for c in self.candidates}:
            return True
        if kind == "url":  # found by one of this probe's Safe Browsing expressions
            return True
        if kind == "range":
            prefix, length = parse_range(value)
            item = CanonicalValue("range", value, range_prefix=prefix, range_length=length)
        else:
            item = CanonicalValue(kind, value)
        return any(covers(item, c.kind, c.value, c.match_key) for c in self.candidates)


def covering_range_spellings(digits: str) -> list[str]:
    """The canonical values of every range that can cover the digit string: each prefix of at
    least RANGE_MIN_PREFIX digits followed by an "x" per remaining digit, or by "*"."""
    spellings = []
    for n in range(RANGE_MIN_PREFIX, min(len(digits), RANGE_MAX_LENGTH) + 1):
        prefix = digits[:n]
        if len(digits) > n and len(digits) <= RANGE_MAX_LENGTH:
            spellings.append(prefix + "x" * (len(digits) - n))
        spellings.append(prefix + "*")
    return spellings


def _active(entry: dict[str, Any], now: dt.datetime) -> bool:
    expires_at = entry.get("expires_at")
    if not expires_at:
        return True
    try:
        moment = dt.datetime.fromisoformat(expires_at)
    except ValueError:
        return True
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment > now


def lookup(mirror: Any, value: str, kind: str | None, region: str) -> dict[str, Any]:
    """The verdict `/v1/lookup` gives, from the mirror: `{value, kind, listed, matches}`, with
    `error` when no reading of the value is valid."""
    probe = Probe.of(value, kind, region)
    now = dt.datetime.now(dt.UTC)
    found = mirror.find(probe.pairs, probe.url_keys) if probe.candidates else []
    matches = [entry for entry in found if probe.matches(entry) and _active(entry, now)]
    shown: str | None = value
    if kind == "person" or looks_like_resident_id(value):  # never echo an identifier: its hash, or nothing
        shown = probe.candidates[0].value if probe.candidates else None
    verdict: dict[str, Any] = {"value": shown, "kind": kind, "listed": bool(matches), "matches": matches}
    if probe.error:
        verdict["error"] = probe.error
    return verdict
