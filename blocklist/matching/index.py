"""The one matcher behind look-ups and checks: what a value can match, the indexed probes that
find those entries, the one "does it restrict now" rule, and the allowlist guard.

A `Probe` (`blocklist.matcher.probe`, shared with the sync client's mirror) is a value read as
one or more canonical values: the exact `(kind, value)` pairs it matches, the digit strings
covering ranges are matched against, and a URL's Safe Browsing expressions. `EntryIndex.fetch`
finds the active entries for any number of probes in one query per chunk, and `matching(probe)`
answers each probe from memory. `guard` drops what the allowlist protects: an entry on it, and
every match of a probe whose own value is on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import CompoundSelect, Select, select, union_all
from sqlalchemy.orm import joinedload

from ..db import utcnow
from ..entries.models import Entry, effective_status
from ..entries.protection import protected_pairs
from ..entries.services import CHUNK, kind_value_in
from ..matcher.index import ActiveIndex
from ..matcher.probe import Probe
from ..nodeindex.reader import NodeIndexReader
from ..reads import read_session
from ..values.normalise import digit_prefixes


def index_probes(columns, pairs, prefixes, url_keys) -> Iterator[Select | CompoundSelect]:
    """`columns` of the entries that exact (kind, value) `pairs`, range `prefixes` and URL
    expressions `url_keys` can match: per chunk of values, one UNION ALL of three index probes
    (the unique (kind, value) index, range_prefix, match_key). Nothing when all are empty.

    Status and expiry are for the caller to filter, not SQL: with them in the WHERE clause a
    planner on stale statistics probed the (status, kind, id) index and scanned every active
    number (8 ms instead of 0.1 ms at 60,000 entries, measured); the probes match few rows
    either way. For the same reason the range and URL probes name no kind: only ranges have a
    range_prefix and only URLs a match_key, and with ``kind = ...`` the planner also read the
    (kind, value) index over every entry of that kind."""
    pairs, prefixes, url_keys = sorted(pairs), sorted(prefixes), sorted(url_keys)
    for start in range(0, max(len(pairs), len(prefixes), len(url_keys)), CHUNK):
        parts = []
        if chunk := pairs[start : start + CHUNK]:
            parts.append(select(*columns).where(kind_value_in(chunk)))
        if chunk := prefixes[start : start + CHUNK]:
            parts.append(select(*columns).where(Entry.range_prefix.in_(chunk)))
        if chunk := url_keys[start : start + CHUNK]:
            parts.append(select(*columns).where(Entry.match_key.in_(chunk)))
        yield union_all(*parts) if len(parts) > 1 else parts[0]


# What a check needs of an entry; a look-up loads whole entries with their reports and tags.
ROW_COLUMNS = (
    Entry.id,
    Entry.kind,
    Entry.value,
    Entry.status,
    Entry.expires_at,
    Entry.range_prefix,
    Entry.range_length,
    Entry.match_key,
    Entry.category,
    Entry.tier,
    Entry.score,
)


class EntryIndex(ActiveIndex):
    """The active entries found for some probes (`blocklist.matcher.index.ActiveIndex`: matching
    a batch is one dict look-up per key). Entries are ORM `Entry` objects or rows of
    `ROW_COLUMNS`: anything with those attributes; those not active at `now` are left out."""

    def __init__(self, entries: Iterable[Any], now: dt.datetime, *, live: bool = False):
        if not live:
            entries = (e for e in entries if effective_status(e.status, e.expires_at, now) == "active")
        self.entries: list[Any] = list(entries)
        super().__init__(self.entries)

    @classmethod
    def fetch(cls, probes: Iterable[Probe], *, whole: bool, node: NodeIndexReader | None = None) -> EntryIndex:
        """The active entries any probe can match: whole entries (reports and tags joined in the
        same query, one per chunk) or just `ROW_COLUMNS`; from the `node` index when given
        (its `store.Row`s: the look-up document instead of the whole entry)."""
        probes = list(probes)
        pairs = {pair for p in probes for pair in p.exact}
        prefixes = {prefix for p in probes for d in p.digits for prefix in digit_prefixes(d)}
        url_keys = {k for p in probes for k in p.url_keys}
        if node is not None:
            now = utcnow()
            stamp = now.timestamp()
            return cls((row for row in node.rows(pairs, prefixes, url_keys) if row.live(stamp)), now, live=True)
        session = read_session()
        statements = index_probes([Entry.id] if whole else ROW_COLUMNS, pairs, prefixes, url_keys)
        if whole:
            entries: Iterable[Any] = (
                entry
                for ids in statements
                for entry in session.scalars(
                    select(Entry)
                    .where(Entry.id.in_(ids))
                    .options(joinedload(Entry.reports), joinedload(Entry.tag_rows))
                ).unique()
            )
        else:
            connection = session.connection()
            entries = (row for stmt in statements for row in connection.execute(stmt))
        return cls(entries, utcnow())


def protected_keys(keys: Iterable[tuple[str, str]], region: str) -> set[tuple[str, str]]:
    """Those of the (kind, value) keys the allowlist protects (one query, none for no keys)."""
    return protected_pairs(keys, region)


def unprotected(key: tuple[str, str], probe_keys: Iterable[tuple[str, str]], protected: set[tuple[str, str]]) -> bool:
    """Whether a match stands: neither the matched entry's (kind, value) `key` nor any of the
    keys of the probe that found it is protected by the allowlist."""
    return key not in protected and not any(k in protected for k in probe_keys)


def guard(matches: Iterable[tuple[Any, Sequence[tuple[str, str]]]], protected: set[tuple[str, str]]) -> list[Any]:
    """The matches the allowlist leaves: each is (entry, the keys of the probe that found it)."""
    return [entry for entry, probe_keys in matches if unprotected((entry.kind, entry.value), probe_keys, protected)]
