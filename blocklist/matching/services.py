"""Checking a message: its sender against numbers, codes and ranges, its text against keywords,
URLs and domains. Verdict: ``block`` when anything matches, else ``allow``.

A message from an allowlisted sender (a bank's 95588 saying 验证码) is not blocked for its
keywords: their matches are left out, as everything the allowlist protects is. A listed URL or
domain in its text still matches (a spoofed or compromised official sender must not carry a
phishing link through).

The work per check is linear in the text: every link found costs at most 5 host suffixes x 6
path prefixes URL keys and 5 domain names (``url_expressions``, ``domain_and_parents``), and a
host longer than DNS allows is no link at all (``find_urls``, ``canonicalize_url``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import current_app

from ..db import db, utcnow
from ..entries.allowlist import find_protecting
from ..entries.lookup import index_probes
from ..entries.models import Entry
from ..values.normalise import InvalidValue, digit_candidates, digit_prefixes, guess_kinds, range_matches
from ..values.canonical import CanonicalValue, canonicalise, domain_and_parents
from .engine import MatchingEngine, get_engine
from ..values.folding import fold_with_offsets, original_span
from ..values.urls import canonicalize_url, find_urls, url_expressions, url_host

SENDER_KINDS = ("number", "code")


@lru_cache(maxsize=16384)  # a few MiB at most
def _sender_probe(sender: str, region: str) -> tuple[tuple[CanonicalValue, ...], tuple[str, ...]]:
    """The sender read as a number and/or a code (as the look-up reads a value given without a
    kind), and the digit strings ranges are matched against. Pure, so cached: parsing phone
    numbers is the costliest part of a check and senders repeat."""
    out = []
    for kind in guess_kinds(sender, region=region):
        if kind in SENDER_KINDS:
            try:
                out.append(canonicalise(kind, sender, region))
            except InvalidValue:
                pass
    digits = tuple(dict.fromkeys(d for c in out for d in digit_candidates(c.kind, c.value)))
    return tuple(out), digits


_COLUMNS = (Entry.id, Entry.kind, Entry.value, Entry.status, Entry.expires_at,
            Entry.range_prefix, Entry.range_length, Entry.match_key)


@dataclass(frozen=True)
class Link:
    """A link found in the text: where, its canonical form, and the keys it can match by."""

    span: tuple[int, int]
    url: str
    url_keys: tuple[str, ...]  # Safe Browsing expressions, as in Entry.match_key
    domains: tuple[str, ...]  # its host and its parents down to the registrable domain (at most 5)

    @classmethod
    def found_in(cls, text: str) -> list[Link]:
        links = []
        for start, end, raw in find_urls(text):
            try:
                url = canonicalize_url(raw)
            except InvalidValue:
                continue
            links.append(cls((start, end), url, tuple(url_expressions(url)),
                             tuple(domain_and_parents(url_host(url)))))
        return links


class ProbedEntries:
    """The active entries one query found for a message's sender and links (the look-up's index
    probes), indexed the ways they match. Status and expiry are filtered here (see
    ``index_probes`` for why not in SQL)."""

    def __init__(self, candidates: tuple[CanonicalValue, ...], digits: tuple[str, ...], links: list[Link]):
        pairs = {(c.kind, c.value) for c in candidates} | {("domain", d) for link in links for d in link.domains}
        prefixes = {prefix for d in digits for prefix in digit_prefixes(d)}
        url_keys = {k for link in links for k in link.url_keys}
        self.by_pair: dict[tuple[str, str], int] = {}
        self.by_url_key: dict[str, list[tuple[int, str]]] = {}
        self.ranges: list[tuple[int, str, str, int]] = []
        now = utcnow()
        connection = db.session.connection()
        rows = (row for stmt in index_probes(_COLUMNS, pairs, prefixes, url_keys) for row in connection.execute(stmt))
        for entry_id, kind, value, status, expires_at, prefix, length, match_key in rows:
            if status != "active" or (expires_at is not None and expires_at <= now):
                continue
            if kind == "range":
                self.ranges.append((entry_id, value, prefix, length))
            elif kind == "url":
                self.by_url_key.setdefault(match_key, []).append((entry_id, value))
            else:
                self.by_pair[(kind, value)] = entry_id

    def sender_matches(self, candidates: tuple[CanonicalValue, ...], digits: tuple[str, ...]) -> list[tuple[int, str, str]]:
        """(id, kind, value) of number/code entries equal to a reading of the sender and of
        ranges covering one of its ``digits``."""
        found = {(self.by_pair[(c.kind, c.value)], c.kind, c.value)
                 for c in candidates if (c.kind, c.value) in self.by_pair}
        found.update((entry_id, "range", value) for entry_id, value, prefix, length in self.ranges
                     if any(range_matches(prefix, length, d) for d in digits))
        return sorted(found)

    def link_matches(self, link: Link) -> list[tuple[int, str, str]]:
        """(id, kind, value) of URL entries matching the link by Safe Browsing expression, and of
        domain entries for its host or a parent domain."""
        found = {(entry_id, "url", value) for key in link.url_keys for entry_id, value in self.by_url_key.get(key, ())}
        found.update((self.by_pair[("domain", d)], "domain", d) for d in link.domains if ("domain", d) in self.by_pair)
        return sorted(found)


def keyword_matches(engine: MatchingEngine, text: str, now: float) -> list[dict[str, Any]]:
    """Keywords in the text, from the in-memory engine (spans mapped back from the folded text)."""
    matches = []
    folded, offsets = fold_with_offsets(text)
    for hit in engine.keyword_hits(folded, now):
        start, end = original_span(offsets, *hit.span)
        matches.append({"kind": "keyword", "entry_id": hit.entry_id, "value": hit.value,
                        "field": "text", "span": [start, end], "_guard": []})
    return matches


def check(sender: str | None, text: str) -> dict[str, Any]:
    """The verdict on one message and every match, spans into the original strings."""
    region = current_app.config["DEFAULT_REGION"]
    engine = get_engine(current_app)
    engine.refresh(db.session)
    now = time.time()

    matches: list[dict[str, Any]] = []
    protect: set[tuple[str, str]] = set()

    candidates, digits = _sender_probe(sender, region) if sender else ((), ())
    links = Link.found_in(text)
    probed = ProbedEntries(candidates, digits, links)
    for entry_id, kind, value in probed.sender_matches(candidates, digits):
        matches.append({"kind": kind, "entry_id": entry_id, "value": value, "field": "sender",
                        "span": [0, len(sender)], "_guard": [(c.kind, c.value) for c in candidates]})
    matches.extend(keyword_matches(engine, text, now))
    # A link's own allowlisting cancels its matches too (a link on an allowlisted domain).
    for link in links:
        for entry_id, kind, value in probed.link_matches(link):
            matches.append({"kind": kind, "entry_id": entry_id, "value": value, "field": "text",
                            "span": list(link.span), "_guard": [("url", link.url)]})

    if matches:
        for m in matches:
            protect.add((m["kind"], m["value"]))
            protect.update(m["_guard"])
        sender_keys = [(c.kind, c.value) for c in candidates]
        protect.update(sender_keys)
        protected = find_protecting(protect, region)
        # An allowlisted sender's keywords never block (item: allowlisted senders); its links do.
        sender_allowlisted = any(key in protected for key in sender_keys)
        matches = [m for m in matches
                   if (m["kind"], m["value"]) not in protected
                   and not any(g in protected for g in m["_guard"])
                   and not (sender_allowlisted and m["kind"] == "keyword")]
    for m in matches:
        del m["_guard"]
    matches.sort(key=lambda m: (m["field"] != "sender", m["span"][0], m["span"][1], m["entry_id"]))
    return {"verdict": "block" if matches else "allow", "matches": matches}
