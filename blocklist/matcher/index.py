"""The active entries indexed the ways a probe matches them: by exact (kind, value), ranges by
their digit prefix, URL entries by Safe Browsing expression. Matching a batch is one dict
look-up per key instead of a scan of every entry per value.

Entries are any objects with ``id``, ``kind``, ``value``, ``range_prefix``, ``range_length`` and
``match_key`` attributes: the server's ORM entries or rows (``blocklist/matching/index.py``
fills an index per request from one indexed query), or a mirror's entries
(``blocklist/sync/local.py`` keeps one index of the whole mirror, changed in place).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..values.normalise import range_matches
from .probe import Probe


class ActiveIndex:
    """Entries by (kind, value), ranges by prefix, URLs by Safe Browsing expression."""

    def __init__(self, entries: Iterable[Any] = ()):
        # One dict per kind, keyed by the entry's own value string (no key tuple per entry).
        self.by_kind: dict[str, dict[str, Any]] = {}
        self.by_url_key: dict[str, list[Any]] = {}
        self.ranges_by_prefix: dict[str, list[Any]] = {}
        # How many ranges have a prefix of each length: a probe tries only those lengths.
        self._prefix_lengths: dict[int, int] = {}
        for entry in entries:
            self.add(entry)

    def __len__(self) -> int:
        return sum(len(values) for values in self.by_kind.values())

    def get(self, kind: str, value: str) -> Any | None:
        """The entry listed as (kind, value), or None."""
        values = self.by_kind.get(kind)
        return values.get(value) if values is not None else None

    def add(self, entry: Any) -> None:
        """Index `entry`, replacing any entry with the same (kind, value)."""
        values = self.by_kind.setdefault(entry.kind, {})
        if (old := values.get(entry.value)) is not None:
            self._unlink(old)
        values[entry.value] = entry
        if entry.kind == "url":
            self.by_url_key.setdefault(entry.match_key, []).append(entry)
        elif entry.kind == "range":
            self.ranges_by_prefix.setdefault(entry.range_prefix, []).append(entry)
            length = len(entry.range_prefix)
            self._prefix_lengths[length] = self._prefix_lengths.get(length, 0) + 1

    def discard(self, kind: str, value: str) -> Any | None:
        """Drop the entry listed as (kind, value), if any; returns it."""
        entry = self.by_kind.get(kind, {}).pop(value, None)
        if entry is not None:
            self._unlink(entry)
        return entry

    def _unlink(self, entry: Any) -> None:
        table = self.by_url_key if entry.kind == "url" else self.ranges_by_prefix if entry.kind == "range" else None
        key = entry.match_key if entry.kind == "url" else entry.range_prefix
        if table is None or key not in table:
            return
        kept = [e for e in table[key] if e is not entry]
        if len(kept) == len(table[key]):
            return
        if kept:
            table[key] = kept
        else:
            del table[key]
        if entry.kind == "range":
            length = len(key)
            self._prefix_lengths[length] -= 1
            if not self._prefix_lengths[length]:
                del self._prefix_lengths[length]

    def matching(self, probe: Probe) -> list[Any]:
        """The entries the probe matches: its exact pairs, ranges covering its digits, URL
        entries by Safe Browsing expression; each once, by id."""
        matched: dict[int, Any] = {}
        by_kind = self.by_kind
        for kind, value in probe.exact:
            values = by_kind.get(kind)
            if values is not None and (entry := values.get(value)) is not None:
                matched[entry.id] = entry
        if probe.digits and self._prefix_lengths:
            lengths = sorted(self._prefix_lengths)  # a copy: a writer may change the dict
            for digits in probe.digits:
                for length in lengths:
                    if length > len(digits):
                        break
                    for entry in self.ranges_by_prefix.get(digits[:length], ()):
                        if range_matches(entry.range_prefix, entry.range_length, digits):
                            matched[entry.id] = entry
        for key in probe.url_keys:
            for entry in self.by_url_key.get(key, ()):
                matched[entry.id] = entry
        if len(matched) < 2:
            return list(matched.values())
        return sorted(matched.values(), key=lambda e: e.id)
