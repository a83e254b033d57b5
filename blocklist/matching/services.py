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

from typing import Any

from flask import current_app, g
from sqlalchemy import select

from ..config import current_settings
from ..db import utcnow
from ..entries.models import Entry
from ..holdings.queries import SERVICE_CODE, sender_status
from ..matcher import rules
from ..matcher.probe import Link, Probe, sender_probe
from ..metrics import CHECK_VERDICTS
from ..nodeindex.reader import NodeIndexReader, current_reader
from ..reads import heard_head, read_session
from .engine import get_engine
from .index import EntryIndex, protected_keys, unprotected


def _keyword_entries(matches: list[dict[str, Any]], node: NodeIndexReader | None = None) -> list[dict[str, Any]]:
    """Keyword hits come from the in-memory engine: their entries' stored trust is read in one
    query (of the `node` index when given: a keyword it does not hold, not yet or no longer
    active there, does not match)."""
    missing = {m["entry_id"] for m in matches if m["_entry"] is None}
    if not missing:
        return matches
    if node is not None:
        held = node.by_id(missing)
        for m in matches:
            if m["_entry"] is None:
                m["_entry"] = held.get(m["entry_id"])
        return [m for m in matches if m["_entry"] is not None]
    rows = {
        row.id: row
        for row in read_session().execute(
            select(Entry.id, Entry.tier, Entry.score, Entry.category).where(Entry.id.in_(missing))
        )
    }
    for m in matches:
        if m["_entry"] is None:
            m["_entry"] = rows[m["entry_id"]]
    return matches


def check(sender: str | None, text: str, min_tier: str | None = None) -> dict[str, Any]:
    """The verdict on one message and every match (of `min_tier` or above, if given), spans into
    the original strings."""
    region = current_settings().default_region
    engine = get_engine(current_app)
    engine.refresh(read_session(), heard_head())
    now = utcnow().timestamp()

    sender_reading = sender_probe(sender, region) if sender else Probe()
    links = Link.found_in(text)
    node = current_reader()
    index = EntryIndex.fetch([sender_reading] + [link.probe for link in links], whole=False, node=node)
    matches = rules.candidates(sender, sender_reading, text, links, index, engine, now)

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
    matches = _keyword_entries(matches, node)
    answer = rules.finish(matches, min_tier)
    verdict = answer["verdict"]
    CHECK_VERDICTS.labels(verdict).inc()
    status, chain = _sender_status(sender_code(sender_reading), node)
    return {**answer, "sender_status": status, "sender_chain": chain}


def _sender_status(code: str | None, node: NodeIndexReader | None) -> tuple[str | None, list | None]:
    """`holdings.queries.sender_status`, without its query when the `node` index says the code
    never had a holding (not for a `min_cursor` read: that reads the holdings themselves)."""
    if code is not None and node is not None and not g.get("fresh_reads") and not node.held("code", code):
        return ("unregistered", []) if SERVICE_CODE.fullmatch(code) else (None, None)
    return sender_status(code)


def sender_code(reading: Probe) -> str | None:
    """The sender as a code (its digits), when it reads as one; None otherwise."""
    return next((value for kind, value in reading.keys if kind == "code"), None)
