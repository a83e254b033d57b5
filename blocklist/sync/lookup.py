"""`blocklist-sync lookup` and `check`: answered from the mirror file by the server's rules, with
the shared matcher (`blocklist.matcher`), reading only the rows the value's keys can find.

A value is read as the kind given, or as every kind its shape allows, and canonicalised
(E.164 numbers, folded keywords, Safe Browsing URLs, IDNA domains): the same `Probe` the
server's `/v1/lookup` makes. Its keys are looked up in the mirror — its exact (kind, value);
for a number or code, every range spelling that can cover it (`covering_range_spellings`); for
a URL, the URL entries under one of its Safe Browsing expressions and the domain entries for
its host or a parent — and the rows found are matched by `ActiveIndex.matching`, the server's
own in-memory rule. Entries whose `expires_at` has passed do not match, as on the server (the
feed's `remove` follows). A check also loads the mirror's keyword entries into the shared
Aho-Corasick automata. For many answers in one process, `local.LocalMatcher` keeps the whole
mirror in memory instead.

Subjects match only themselves: an enterprise by its USCC, a person only by its hash (64 hex
digits, as `/v1/lookup` by URL). The client never holds the subject pepper — handing it to every
mirror would let anyone with a mirror test guessed ID numbers against its hashes — so a raw
identifier is refused here (`error`, never echoed); hash it with a `POST /v1/lookup` instead.

Not here: the server's allowlist guard (the mirror holds no allowlist), so a regulator's range
covering an allowlisted number matches here and not on the server. Only the values core and
the matcher library are imported: no Flask, no database layer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..matcher.index import ActiveIndex
from ..matcher.keywords import KeywordAutomata
from ..matcher.matcher import Listed, Matcher, expires_epoch
from ..matcher.probe import Probe
from ..values.normalise import RANGE_MAX_LENGTH, RANGE_MIN_PREFIX
from ..values.urls import url_expression


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


def listed(row: dict[str, Any], *, keep_row: bool = False) -> Listed:
    """A mirror row as the matcher holds it (with the whole row, to print, if `keep_row`)."""
    return Listed(
        row["id"],
        row["kind"],
        row["value"],
        tier=row.get("tier"),
        score=row.get("score"),
        category=row.get("category"),
        expires=expires_epoch(row.get("expires_at")),
        match_key=row.get("match_key") or (url_expression(row["value"]) if row["kind"] == "url" else None),
        row=row if keep_row else None,
    )


def _found(mirror: Any, probes: Sequence[Probe]) -> list[Listed]:
    """The mirror rows the probes' keys find (exact pairs, covering range spellings, URL keys)."""
    pairs = {pair for probe in probes for pair in probe.exact}
    pairs.update(
        ("range", spelling) for probe in probes for d in probe.digits for spelling in covering_range_spellings(d)
    )
    rows = mirror.find(pairs, {key for probe in probes for key in probe.url_keys})
    return [listed(row, keep_row=True) for row in rows]


def one_shot(mirror: Any, region: str, *, keywords: bool) -> Matcher:
    """A matcher that reads from the mirror only what each answer's keys find, plus (for
    checks) every keyword entry into the automata."""
    keyword_rows = [listed(row) for row in mirror.keyword_rows()] if keywords else []
    automata = KeywordAutomata()
    automata.load(((e.id, e.kind, e.value, e.expires) for e in keyword_rows), position=0)

    def index_for(probes: Sequence[Probe]) -> ActiveIndex:
        return ActiveIndex([*keyword_rows, *_found(mirror, probes)])

    return Matcher(keywords=automata, region=region, index_for=index_for)


def lookup(mirror: Any, value: str, kind: str | None, region: str, min_tier: str | None = None) -> dict[str, Any]:
    """The verdict `/v1/lookup` gives, from the mirror: `{value, kind, listed, matches}`, with
    `error` when no reading of the value is valid."""
    return one_shot(mirror, region, keywords=False).lookup(value, kind, now=time.time(), min_tier=min_tier)


def check(mirror: Any, sender: str | None, text: str, region: str, min_tier: str | None = None) -> dict[str, Any]:
    """The answer `/v1/check` gives, from the mirror: `{verdict, matches}`."""
    return one_shot(mirror, region, keywords=True).check(sender, text, now=time.time(), min_tier=min_tier)
