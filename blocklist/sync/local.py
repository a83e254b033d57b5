"""`LocalMatcher`: the whole mirror in memory, for a carrier's interception system to embed.

    from blocklist.sync import LocalMatcher

    matcher = LocalMatcher.open("/var/lib/blocklist-sync/mirror.sqlite")
    answer = matcher.check("10690000", "您的账户存在风险，请转入安全账户 bit.ly/x")
    if answer["verdict"] == "block": ...
    matcher.lookup("138-1234-5678")["listed"]

Look-ups and checks are answered by the shared matcher (`blocklist.matcher`: the server's rules
for canonical values, ranges, domains, Safe Browsing expressions, folded keywords and tiers)
from memory, with no query per answer. It follows the mirror file that `blocklist-sync --follow`
keeps current: at most every `poll_interval` seconds (default 1; 0: before every answer) an
answer first reads the mirror's generation and journal (`mirror.py`), one small query. After a
snapshot load it reloads everything (built aside and swapped in, answers go on meanwhile);
after pages of changes it applies just the changed entries. `refresh()` does the same on demand.

Threads may share one matcher: answers take no lock; one thread at a time refreshes (the
others answer from the state before). The mirror holds no allowlist (see `lookup.py`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

from ..matcher.index import ActiveIndex
from ..matcher.keywords import KeywordAutomata
from ..matcher.matcher import Listed, Matcher, expires_epoch

_ROW = "e.id, e.kind, e.value, e.tier, e.score, e.category, e.expires_at, e.match_key"


class NoMirror(Exception):
    """The file holds no loaded mirror yet (run blocklist-sync first)."""


class LocalMatcher:
    def __init__(self, path: str, *, region: str = "CN", poll_interval: float = 1.0):
        self.path, self.region, self.poll_interval = path, region.upper(), poll_interval
        if not os.path.exists(path):  # sqlite3 would make an empty file
            raise NoMirror(f"no mirror at {path}: run blocklist-sync first")
        # Reads only; shared by the threads that refresh (one at a time, under the lock).
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._matcher = Matcher(region=self.region)
        self.generation: str | None = None
        self.cursor: str | None = None  # the feed cursor of the mirror state held
        self.seq = 0  # the last journal row applied
        self.loads = 0  # full loads, for tests and operators
        self._next_poll = 0.0

    @classmethod
    def open(cls, path: str, *, region: str = "CN", poll_interval: float = 1.0) -> LocalMatcher:
        """A matcher loaded from the mirror file at `path`; NoMirror if it holds no snapshot."""
        matcher = cls(path, region=region, poll_interval=poll_interval)
        try:
            matcher.refresh()
        except BaseException:
            matcher.close()
            raise
        return matcher

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LocalMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._matcher.index)

    # --- answers ----------------------------------------------------------------------------

    def check(self, sender: str | None, text: str, *, min_tier: str | None = None) -> dict[str, Any]:
        """As `POST /v1/check` answers: `{verdict, matches}` (`verdict`: block, label or allow)."""
        self._poll()
        return self._matcher.check(sender, text, now=time.time(), min_tier=min_tier)

    def lookup(self, value: str, kind: str | None = None, *, min_tier: str | None = None) -> dict[str, Any]:
        """As `GET /v1/lookup` answers: `{value, kind, listed, matches}` (with `error` when the
        value is valid as no kind)."""
        self._poll()
        return self._matcher.lookup(value, kind, now=time.time(), min_tier=min_tier)

    # --- following the mirror -----------------------------------------------------------------

    def _poll(self) -> None:
        if time.monotonic() < self._next_poll or not self._lock.acquire(blocking=False):
            return
        try:
            self._refresh()
        finally:
            self._lock.release()

    def refresh(self) -> bool:
        """Catch up with the mirror file now; whether anything changed. NoMirror if the file
        holds no snapshot."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> bool:
        self._next_poll = time.monotonic() + self.poll_interval
        self._db.execute("BEGIN")  # one read transaction: the state and the rows agree
        try:
            try:
                generation, cursor, bottom, top = self._db.execute(
                    "SELECT (SELECT value FROM state WHERE key = 'generation'), "
                    "(SELECT value FROM state WHERE key = 'cursor'), (SELECT min(seq) FROM journal), "
                    "(SELECT max(seq) FROM journal)"
                ).fetchone()
            except sqlite3.OperationalError as error:  # no such table: not a mirror of this version
                raise NoMirror(f"{self.path} is no mirror blocklist-sync has written yet ({error})") from None
            if cursor is None:
                raise NoMirror(f"{self.path} holds no snapshot yet: run blocklist-sync first")
            top = top or 0
            if (generation, cursor, top) == (self.generation, self.cursor, self.seq) and self.loads:
                return False
            if generation != self.generation or self.loads == 0 or top < self.seq or (bottom or 0) > self.seq + 1:
                self._load()
            else:
                self._catch_up(top)
            self.generation, self.cursor, self.seq = generation, cursor, top
            return True
        finally:
            self._db.execute("COMMIT")

    def _load(self) -> None:
        """Everything again, built aside and swapped in."""
        index, keywords = ActiveIndex(), []
        epochs: dict[str, float | None] = {}  # entries published together share one expiry
        for id_, kind, value, tier, score, category, expires_at, match_key in self._db.execute(
            f"SELECT {_ROW} FROM entries e"
        ):
            if (expires := epochs.get(expires_at)) is None and expires_at is not None:
                expires = epochs.setdefault(expires_at, expires_epoch(expires_at))
            entry = Listed(id_, kind, value, tier, score, category, expires, match_key)
            index.add(entry)
            if kind == "keyword":
                keywords.append((id_, kind, value, expires))
        automata = KeywordAutomata()
        automata.load(keywords, position=0)
        self._matcher = Matcher(index, automata, region=self.region)
        self.loads += 1

    def _catch_up(self, top: int) -> None:
        """Apply the entries the journal names after `seq`: their current row, or their removal."""
        changed: dict[tuple[str, str], tuple | None] = {}
        for kind, value, *row in self._db.execute(
            f"SELECT j.kind, j.value, {_ROW} FROM journal j LEFT JOIN entries e ON e.kind = j.kind AND "
            "e.value = j.value WHERE j.seq > ? AND j.seq <= ? ORDER BY j.seq",
            (self.seq, top),
        ):
            changed[(kind, value)] = tuple(row) if row[0] is not None else None
        index = self._matcher.index
        keyword_changes: list[tuple[int, str, str, str, float | None]] = []
        for (kind, value), row in changed.items():
            if row is None:
                old = index.discard(kind, value)
                if old is not None and kind == "keyword":
                    keyword_changes.append((old.id, kind, value, "removed", None))
                continue
            id_, _, _, tier, score, category, expires_at, match_key = row
            entry = Listed(id_, kind, value, tier, score, category, expires_epoch(expires_at), match_key)
            index.add(entry)  # before the automaton learns of a keyword: a hit finds its entry
            if kind == "keyword":
                keyword_changes.append((id_, kind, value, "active", entry.expires))
        self._matcher.keywords.apply(keyword_changes, position=top)
