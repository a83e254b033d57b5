"""Aho-Corasick automata over the folded active keywords, kept current by applying changes.

What it holds (only active keyword entries):

* ``active``: entry id -> (folded keyword, expires_at as epoch seconds or None);
* a *main* Aho-Corasick automaton over the folded keywords, and a small *delta* automaton over
  keywords that became active after the main one was built. A keyword that leaves the active
  set is simply dropped from ``active``: its hits in the main automaton are ignored until the
  next main rebuild. The main automaton is rebuilt (inline, by the caller that applies the
  changes) when the delta plus the dropped keywords exceed ``rebuild_after``.

Thread safety: one lock serialises writers (load, apply, rebuild). Readers take no lock: an
automaton is never changed once published (a changed delta is a new automaton swapped in), and
the dicts are only read with ``get`` while a writer changes single keys, which CPython makes
atomic. Expiry is not applied at load or apply time but checked on every hit, so an entry whose
``expires_at`` passes stops matching at once.

The server's per-worker engine (``blocklist/matching/engine.py``) fills it from the database
and its change log; a mirror's ``LocalMatcher`` (``blocklist/sync/local.py``) from the mirror.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import ahocorasick

from ..values.folding import variant_key

KINDS = ("keyword",)
REBUILD_AFTER = 2000  # delta keywords + dropped keywords before the main automaton is rebuilt


@dataclass(frozen=True)
class Hit:
    """One candidate match: an entry (still to be confirmed against the allowlist) and where."""

    entry_id: int
    value: str
    span: tuple[int, int]  # in the folded text; callers map it back


def epoch(value: dt.datetime | float | None) -> float | None:
    """`expires_at` as epoch seconds (a naive datetime is UTC); None stays None."""
    if value is None or isinstance(value, float | int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def _automaton(words: Iterable[tuple[int, str]]) -> ahocorasick.Automaton | None:
    """An automaton over (entry id, folded keyword); value stored is (id, len); None if empty."""
    automaton = ahocorasick.Automaton()
    for entry_id, word in words:
        automaton.add_word(variant_key(word), (entry_id, len(word)))
    if len(automaton) == 0:
        return None
    automaton.make_automaton()
    return automaton


class KeywordAutomata:
    """The keyword automata of the active keyword entries; see the module docstring."""

    def __init__(self, rebuild_after: int = REBUILD_AFTER):
        self.rebuild_after = rebuild_after
        self._lock = threading.Lock()
        self.position: int | None = None  # None: not built yet
        self.rebuilds = 0  # main automaton builds, for tests and metrics
        self._clear()

    def _clear(self) -> None:
        self.active: dict[int, tuple[str, float | None]] = {}
        self._main: ahocorasick.Automaton | None = None
        self._main_ids: set[int] = set()
        self._delta: ahocorasick.Automaton | None = None
        self._delta_words: dict[int, str] = {}
        self._dropped = 0  # keywords in the main automaton that are no longer active

    # --- writers ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything; the owner loads again."""
        with self._lock:
            self._clear()
            self.position = None

    def load(self, rows: Iterable[tuple[int, str, str, dt.datetime | float | None]], position: int) -> None:
        """Replace the contents with ``rows`` (id, kind, value, expires_at) of active entries,
        as of ``position``; rows of other kinds are skipped."""
        with self._lock:
            self._load(rows, position)

    def _load(self, rows, position: int) -> None:
        # Built aside and swapped in, so readers never see a half-built automaton.
        fresh = type(self)(self.rebuild_after)
        for entry_id, kind, value, expires_at in rows:
            if kind in KINDS:
                fresh._add(entry_id, value, epoch(expires_at), new=False)
        fresh._rebuild_main()
        for name in ("_main", "_main_ids", "_delta", "_delta_words", "_dropped", "active"):
            setattr(self, name, getattr(fresh, name))
        self.rebuilds += 1
        self.position = position

    def _add(self, entry_id: int, value: str, expires: float | None, *, new: bool) -> None:
        old = self.active.get(entry_id)
        self.active[entry_id] = (value, expires)
        if old is None and entry_id in self._main_ids:
            self._dropped -= 1  # back in the active set, and still in the main automaton
        if old is None and new and entry_id not in self._main_ids:
            self._delta_words[entry_id] = value
        # old is not None: same value (values never change for an entry), only the expiry moved

    def _remove(self, entry_id: int) -> None:
        if self.active.pop(entry_id, None) is None:
            return
        self._delta_words.pop(entry_id, None)
        if entry_id in self._main_ids:
            self._dropped += 1

    def _rebuilt(self) -> None:
        """Called after each main automaton build (the server counts them in a metric)."""

    def _rebuild_main(self) -> None:
        words = [(i, v) for i, (v, _) in self.active.items()]
        self._main = _automaton(words)
        self._main_ids = {i for i, _ in words}
        self._delta_words = {}
        self._delta = None
        self._dropped = 0
        self.rebuilds += 1
        self._rebuilt()

    def apply(self, rows: Iterable[tuple[int, str, str, str, dt.datetime | float | None]], position: int) -> None:
        """Apply the current state (id, kind, value, status, expires_at) of entries that changed,
        and move to ``position``; rows of other kinds are skipped."""
        with self._lock:
            self._apply(rows, position)

    def _apply(self, rows, position: int) -> None:
        delta_before = dict(self._delta_words)
        for entry_id, kind, value, status, expires_at in rows:
            if kind not in KINDS:
                continue
            if status == "active":
                self._add(entry_id, value, epoch(expires_at), new=True)
            else:
                self._remove(entry_id)
        if len(self._delta_words) + self._dropped > self.rebuild_after:
            self._rebuild_main()
        elif self._delta_words != delta_before:
            self._delta = _automaton(self._delta_words.items())
        self.position = position

    # --- readers ----------------------------------------------------------------------------

    def _live(self, entry_id: int, now: float) -> str | None:
        record = self.active.get(entry_id)
        if record is None or (record[1] is not None and record[1] <= now):
            return None
        return record[0]

    def keyword_hits(self, folded: str, now: float) -> Iterator[Hit]:
        """Every occurrence of a keyword active at ``now`` (epoch seconds) in ``folded`` text
        (spans in the folded text)."""
        return self.hits_in_keyed(variant_key(folded), now)

    def hits_in_keyed(self, keyed: str, now: float) -> Iterator[Hit]:
        """``keyword_hits`` in text already folded and variant-keyed (``variant_key``: 帐 and 账
        alike, folding.VARIANT_CLASSES; same length as the folded text)."""
        seen: set[tuple[int, int]] = set()
        for automaton in (self._main, self._delta):
            if automaton is None:
                continue
            for end, (entry_id, length) in automaton.iter(keyed):
                value = self._live(entry_id, now)
                if value is None or (entry_id, end) in seen:
                    continue
                seen.add((entry_id, end))
                yield Hit(entry_id, value, (end - length + 1, end + 1))

    def stats(self) -> dict[str, int]:
        return {
            "keyword": len(self.active),
            "delta_keywords": len(self._delta_words),
            "position": self.position or 0,
            "rebuilds": self.rebuilds,
        }
