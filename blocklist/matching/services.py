"""Checking a message: its sender against numbers, codes and ranges, its text against keywords,
URLs and domains. Verdict: ``block`` when a ``block``-tier entry matches, ``label`` when only
``label``-tier ones do, else ``allow`` (a ``watch``-tier match is reported, not acted on).

A message from an allowlisted sender (a bank's 95588 saying 验证码) is not blocked for its
keywords: their matches are left out, as everything the allowlist protects is. A listed URL or
domain in its text still matches (a spoofed or compromised official sender must not carry a
phishing link through).

The work per check is linear in the text: every link found costs at most 5 host suffixes x 6
path prefixes URL keys and 5 domain names (``url_expressions``, ``domain_and_parents``), and a
host longer than DNS allows is no link at all (``find_urls``, ``canonicalize_url``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import select

from ..config import current_settings
from ..db import utcnow
from ..entries.models import Entry
from ..holdings.queries import sender_status
from ..metrics import CHECK_VERDICTS
from ..reads import heard_head, read_session
from ..values.canonical import canonical_url_value
from ..values.folding import fold_with_offsets, original_span
from ..values.kinds import InvalidValue
from ..values.trust import RANK, at_least
from ..values.urls import canonicalize_url, find_urls
from .engine import MatchingEngine, get_engine
from .index import EntryIndex, Probe, protected_keys, unprotected

SENDER_KINDS = ("number", "code")


@lru_cache(maxsize=16384)  # a few MiB at most
def sender_probe(sender: str, region: str) -> Probe:
    """The sender read as a number and/or a code (as a look-up reads a value given without a
    kind). Pure, so cached: parsing phone numbers is the costliest part of a check and senders
    repeat. (Callers must not change the probe.)"""
    return Probe.of(sender, None, region, kinds=SENDER_KINDS)


@dataclass(frozen=True)
class Link:
    """A link found in the text: where, and the probe of its canonical URL."""

    span: tuple[int, int]
    url: str
    probe: Probe

    @classmethod
    def found_in(cls, text: str) -> list[Link]:
        links = []
        for start, end, raw in find_urls(text):
            try:
                url = canonicalize_url(raw)
            except InvalidValue:
                continue
            probe = Probe()
            probe.add(canonical_url_value(url))
            links.append(cls((start, end), url, probe))
        return links


def keyword_matches(engine: MatchingEngine, text: str, now: float) -> list[dict[str, Any]]:
    """Keywords in the text, from the in-memory engine (spans mapped back from the folded text)."""
    matches = []
    folded, offsets = fold_with_offsets(text)
    for hit in engine.keyword_hits(folded, now):
        start, end = original_span(offsets, *hit.span)
        matches.append(
            {
                "kind": "keyword",
                "entry_id": hit.entry_id,
                "value": hit.value,
                "field": "text",
                "span": [start, end],
                "_guard": (),
            }
        )
    return matches


def _with_trust(matches: list[dict[str, Any]], rows: dict[int, Any]) -> None:
    """Each match gets its entry's stored `tier`, `score` and `category` (keyword hits come from
    the in-memory engine: their entries are read in one query), and the dispute path."""
    missing = [m["entry_id"] for m in matches if m["entry_id"] not in rows]
    if missing:
        for row in read_session().execute(
            select(Entry.id, Entry.tier, Entry.score, Entry.category).where(Entry.id.in_(missing))
        ):
            rows[row.id] = row
    for m in matches:
        row = rows[m["entry_id"]]
        m["tier"], m["score"], m["category"] = row.tier or "block", row.score, row.category
        m["dispute_path"] = f"/v1/entries/{m['entry_id']}/disputes"


def verdict_of(matches: list[dict[str, Any]]) -> str:
    """block when a block-tier match applies, label when only label-tier ones do, else allow."""
    best = max((RANK[m["tier"]] for m in matches), default=-1)
    return {2: "block", 1: "label"}.get(best, "allow")


def check(sender: str | None, text: str, min_tier: str | None = None) -> dict[str, Any]:
    """The verdict on one message and every match (of `min_tier` or above, if given), spans into
    the original strings."""
    region = current_settings().default_region
    engine = get_engine(current_app)
    engine.refresh(read_session(), heard_head())
    now = utcnow().timestamp()

    sender_reading = sender_probe(sender, region) if sender else Probe()
    links = Link.found_in(text)
    index = EntryIndex.fetch([sender_reading] + [link.probe for link in links], whole=False)

    def match(entry, field: str, span: list[int], guard_keys) -> dict[str, Any]:
        return {
            "kind": entry.kind,
            "entry_id": entry.id,
            "value": entry.value,
            "field": field,
            "span": span,
            "_guard": guard_keys,
        }

    rows: dict[int, Any] = {}

    def found(probe: Probe) -> list[Any]:
        entries = index.matching(probe)
        rows.update((e.id, e) for e in entries)
        return entries

    matches = [match(e, "sender", [0, len(sender or "")], sender_reading.keys) for e in found(sender_reading)]
    matches.extend(keyword_matches(engine, text, now))
    # A link's own allowlisting cancels its matches too (a link on an allowlisted domain).
    for link in links:
        matches.extend(match(e, "text", list(link.span), link.probe.keys) for e in found(link.probe))

    if matches:
        protected = protected_keys(
            {key for m in matches for key in [(m["kind"], m["value"]), *m["_guard"]]} | set(sender_reading.keys), region
        )
        # An allowlisted sender's keywords never block (a bank's 验证码 SMS); its links do.
        sender_allowlisted = any(key in protected for key in sender_reading.keys)
        matches = [
            m
            for m in matches
            if unprotected((m["kind"], m["value"]), m["_guard"], protected)
            and not (sender_allowlisted and m["kind"] == "keyword")
        ]
    for m in matches:
        del m["_guard"]
    if matches:
        _with_trust(matches, rows)
        matches = [m for m in matches if at_least(m["tier"], min_tier)]
    matches.sort(key=lambda m: (m["field"] != "sender", m["span"][0], m["span"][1], m["entry_id"]))
    verdict = verdict_of(matches)
    CHECK_VERDICTS.labels(verdict).inc()
    status, chain = sender_status(sender_code(sender_reading))
    return {"verdict": verdict, "matches": matches, "sender_status": status, "sender_chain": chain}


def sender_code(reading: Probe) -> str | None:
    """The sender as a code (its digits), when it reads as one; None otherwise."""
    return next((value for kind, value in reading.keys if kind == "code"), None)
