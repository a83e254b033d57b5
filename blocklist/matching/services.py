"""Checking a message: its sender against numbers, codes and ranges, its text against keywords,
URLs and domains. Verdict: ``block`` when anything matches, else ``allow``."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select, union_all

from ..db import db, utcnow
from ..entries.allowlist import find_protecting
from ..entries.models import Entry
from ..entries.normalise import InvalidValue, digit_candidates, digit_prefixes, guess_kinds, range_matches
from ..entries.values import CanonicalValue, canonicalise
from .engine import MatchingEngine, get_engine
from .folding import fold_with_offsets, original_span
from .urls import canonicalize_url, find_urls

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
            Entry.range_prefix, Entry.range_length)
# Built once; the value lists are expanding parameters, so SQLAlchemy reuses the compiled form.
_SENDER_PROBE = union_all(
    select(*_COLUMNS).where(Entry.kind.in_(SENDER_KINDS),
                            Entry.value.in_(bindparam("values", expanding=True))),
    select(*_COLUMNS).where(Entry.range_prefix.in_(bindparam("prefixes", expanding=True))))


def sender_matches(candidates: tuple[CanonicalValue, ...], digits: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """(id, kind, value) of active number/code entries equal to a candidate and of ranges
    covering one of ``digits``. One query, a UNION ALL of two index probes (the unique
    (kind, value) index and the range_prefix index); status and expiry are filtered here rather
    than in SQL, so that no planner prefers the status index and scans every active entry."""
    if not candidates:
        return []
    prefixes = sorted({prefix for d in digits for prefix in digit_prefixes(d)})
    rows = db.session.connection().execute(_SENDER_PROBE, {"values": sorted({c.value for c in candidates}),
                                              "prefixes": prefixes})
    now = utcnow()
    found = set()
    wanted = {(c.kind, c.value) for c in candidates}
    for entry_id, kind, value, status, expires_at, prefix, length in rows:
        if status != "active" or (expires_at is not None and expires_at <= now):
            continue
        if (kind, value) in wanted or (kind == "range" and any(
                range_matches(prefix, length, d) for d in digits)):
            found.add((entry_id, kind, value))
    return sorted(found)


def text_matches(engine: MatchingEngine, text: str, now: float) -> list[dict[str, Any]]:
    """Candidate matches in the text from the in-memory engine: keywords in the folded text,
    links (found, canonicalised) against URL and domain entries. Each carries ``_guard``: the
    extra (kind, value) pairs whose allowlisting also cancels it (for a link: the link itself,
    so a link on an allowlisted domain does not match)."""
    matches = []
    folded, offsets = fold_with_offsets(text)
    for hit in engine.keyword_hits(folded, now):
        start, end = original_span(offsets, *hit.span)
        matches.append({"kind": "keyword", "entry_id": hit.entry_id, "value": hit.value,
                        "field": "text", "span": [start, end], "_guard": []})
    for start, end, raw in find_urls(text):
        try:
            link = canonicalize_url(raw)
        except InvalidValue:
            continue
        for hit in engine.url_hits(link, now):
            matches.append({"kind": hit.kind, "entry_id": hit.entry_id, "value": hit.value,
                            "field": "text", "span": [start, end], "_guard": [("url", link)]})
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
    for entry_id, kind, value in sender_matches(candidates, digits):
        matches.append({"kind": kind, "entry_id": entry_id, "value": value, "field": "sender",
                        "span": [0, len(sender)], "_guard": [(c.kind, c.value) for c in candidates]})

    matches.extend(text_matches(engine, text, now))

    if matches:
        for m in matches:
            protect.add((m["kind"], m["value"]))
            protect.update(m["_guard"])
        protected = find_protecting(protect, region)
        matches = [m for m in matches
                   if (m["kind"], m["value"]) not in protected
                   and not any(g in protected for g in m["_guard"])]
    for m in matches:
        del m["_guard"]
    matches.sort(key=lambda m: (m["field"] != "sender", m["span"][0], m["span"][1], m["entry_id"]))
    return {"verdict": "block" if matches else "allow", "matches": matches}
