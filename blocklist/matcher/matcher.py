"""`Matcher`: look-ups and message checks over an active set held in memory — the rules of
`/v1/lookup` and `/v1/check` without a database, for a mirror of the list.

It holds no allowlist: whatever its index and keyword automata hold applies (a mirror holds the
feed's active set, from which the server has already removed what the allowlist protects; a
range or domain covering an allowlisted value is the one case it answers differently: see the
README, Sync client). It reads no clock either: callers pass `now` (epoch seconds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from ..values.normalise import parse_range
from ..values.subjects import looks_like_resident_id
from ..values.trust import at_least
from . import rules
from .index import ActiveIndex
from .keywords import KeywordAutomata
from .probe import Link, Probe, sender_probe


class Listed:
    """One entry of the active set as a matcher holds it (compact: a million of them fit in a
    few hundred MiB). `row`: the whole record it was read from, when the caller keeps it."""

    __slots__ = (
        "id",
        "kind",
        "value",
        "tier",
        "score",
        "category",
        "expires",
        "range_prefix",
        "range_length",
        "match_key",
        "row",
    )

    def __init__(
        self,
        id: int,
        kind: str,
        value: str,
        tier: str | None = None,
        score: int | None = None,
        category: str | None = None,
        expires: float | None = None,
        match_key: str | None = None,
        row: dict[str, Any] | None = None,
    ):
        self.id, self.kind, self.value = id, kind, value
        self.tier, self.score, self.category, self.expires = tier, score, category, expires
        self.match_key, self.row = match_key, row
        self.range_prefix: str | None = None
        self.range_length: int | None = None
        if kind == "range":
            self.range_prefix, self.range_length = parse_range(value)

    def live(self, now: float) -> bool:
        """Whether it still applies at `now`: its `expires_at` has not passed."""
        return self.expires is None or self.expires > now

    def as_dict(self) -> dict[str, Any]:
        if self.row is not None:
            return self.row
        expires_at = None if self.expires is None else dt.datetime.fromtimestamp(self.expires, dt.UTC).isoformat()
        return {
            "id": self.id,
            "kind": self.kind,
            "value": self.value,
            "tier": self.tier,
            "score": self.score,
            "category": self.category,
            "expires_at": expires_at,
        }


def expires_epoch(expires_at: str | None) -> float | None:
    """An ISO 8601 `expires_at` (a feed's or snapshot's) as epoch seconds; naive means UTC."""
    if not expires_at:
        return None
    try:
        moment = dt.datetime.fromisoformat(expires_at)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


class Matcher:
    """Look-ups and checks over `index` (entries of every kind, as `Listed`) and `keywords`
    (automata over the keyword entries). `index_for`, if given, builds the index for a check's
    or look-up's probes instead (a one-shot answer from a mirror file: only the rows its keys
    find are read, plus the keyword entries)."""

    def __init__(
        self,
        index: ActiveIndex | None = None,
        keywords: KeywordAutomata | None = None,
        *,
        region: str = "CN",
        index_for: Callable[[Sequence[Probe]], ActiveIndex] | None = None,
    ):
        self.index = index if index is not None else ActiveIndex()
        self.keywords = keywords if keywords is not None else KeywordAutomata()
        self.region = region
        self._index_for = index_for

    def _index(self, probes: Sequence[Probe]) -> ActiveIndex:
        return self._index_for(probes) if self._index_for is not None else self.index

    def check(self, sender: str | None, text: str, *, now: float, min_tier: str | None = None) -> dict[str, Any]:
        """`/v1/check`'s answer on one message: `{verdict, matches}` (block / label / allow;
        every match with its kind, entry_id, value, field, span, tier, score, category and
        dispute_path), spans into the original strings."""
        sender_reading = sender_probe(sender, self.region) if sender else Probe()
        links = Link.found_in(text)
        index = self._index([sender_reading, *(link.probe for link in links)])
        matches = []
        for m in rules.candidates(sender, sender_reading, text, links, index, self.keywords, now):
            if m["_entry"] is None:  # a keyword hit: its entry (and trust) from the index
                m["_entry"] = index.get("keyword", m["value"])
                if m["_entry"] is None:
                    continue  # dropped between the automaton read and this one
            elif not m["_entry"].live(now):
                continue
            matches.append(m)
        return rules.finish(matches, min_tier)

    def lookup(self, value: str, kind: str | None = None, *, now: float, min_tier: str | None = None) -> dict[str, Any]:
        """`/v1/lookup`'s verdict: `{value, kind, listed, matches}`, with `error` when no
        reading of the value is valid. A person only by its hash (a matcher holds no pepper: a
        raw identifier is refused, never echoed)."""
        probe = Probe.of(value, kind, self.region)
        found = self._index([probe]).matching(probe) if probe.candidates else []
        matches = [e for e in found if e.live(now) and at_least(e.tier or "block", min_tier)]
        shown: str | None = value
        if kind == "person" or looks_like_resident_id(value):  # never echo an identifier: its hash, or nothing
            shown = probe.candidates[0].value if probe.candidates else None
        verdict: dict[str, Any] = {
            "value": shown,
            "kind": kind,
            "listed": bool(matches),
            "matches": [e.as_dict() for e in matches],
        }
        if probe.error:
            verdict["error"] = probe.error
        return verdict
