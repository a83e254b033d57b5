"""The rules of a message check that need no database: which matches a message has before the
allowlist is consulted, the trust each match carries, the answers' order and the verdict.

Verdict: ``block`` when a ``block``-tier entry matches, ``label`` when only ``label``-tier ones
do, else ``allow`` (a ``watch``-tier match is reported, not acted on). An entry not yet assessed
counts as ``block``.

Matches are dicts in the answer's shape, with two private keys until `finish`: ``_guard`` (the
keys of the probe that found it, which cancel it when allowlisted) and ``_entry`` (the matched
entry, for its trust; None for a keyword hit until its owner supplies it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..values.folding import keyed_with_ends, original_span_by_ends
from ..values.trust import RANK, at_least
from .index import ActiveIndex
from .keywords import KeywordAutomata
from .probe import Link, Probe


def match(entry: Any, field: str, span: list[int], guard: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "entry_id": entry.id,
        "value": entry.value,
        "field": field,
        "span": span,
        "_guard": guard,
        "_entry": entry,
    }


def keyword_matches(keywords: KeywordAutomata, text: str, now: float) -> list[dict[str, Any]]:
    """Keywords in the text (spans mapped back from the folded text)."""
    keyed, ends = keyed_with_ends(text)
    matches = []
    for hit in keywords.hits_in_keyed(keyed, now):
        start, end = original_span_by_ends(ends, *hit.span)
        matches.append(
            {
                "kind": "keyword",
                "entry_id": hit.entry_id,
                "value": hit.value,
                "field": "text",
                "span": [start, end],
                "_guard": (),
                "_entry": None,
            }
        )
    return matches


def candidates(
    sender: str | None,
    sender_reading: Probe,
    text: str,
    links: Iterable[Link],
    index: ActiveIndex,
    keywords: KeywordAutomata,
    now: float,
) -> list[dict[str, Any]]:
    """Every match of the message before the allowlist: the sender's (span: the whole sender),
    each keyword occurrence, each link's (span: the whole link)."""
    matches = [match(e, "sender", [0, len(sender or "")], sender_reading.keys) for e in index.matching(sender_reading)]
    matches.extend(keyword_matches(keywords, text, now))
    # A link's own allowlisting cancels its matches too (a link on an allowlisted domain).
    for link in links:
        matches.extend(match(e, "text", list(link.span), link.probe.keys) for e in index.matching(link.probe))
    return matches


def verdict_of(matches: Iterable[dict[str, Any]]) -> str:
    """block when a block-tier match applies, label when only label-tier ones do, else allow."""
    best = max((RANK[m["tier"]] for m in matches), default=-1)
    return {2: "block", 1: "label"}.get(best, "allow")


def finish(matches: list[dict[str, Any]], min_tier: str | None = None) -> dict[str, Any]:
    """`{verdict, matches}` from matches whose ``_entry`` is known: each gets its entry's stored
    `tier`, `score`, `category` and the dispute path; only those of `min_tier` or above are
    kept; sender first, then by span and entry id."""
    for m in matches:
        entry = m.pop("_entry")
        m.pop("_guard", None)
        m["tier"], m["score"], m["category"] = entry.tier or "block", entry.score, entry.category
        m["dispute_path"] = f"/v1/entries/{m['entry_id']}/disputes"
    matches = [m for m in matches if at_least(m["tier"], min_tier)]
    matches.sort(key=lambda m: (m["field"] != "sender", m["span"][0], m["span"][1], m["entry_id"]))
    return {"verdict": verdict_of(matches), "matches": matches}
