"""The in-memory keyword matcher, one per worker process.

What it holds (only active keyword entries):

* ``active``: entry id -> (folded keyword, expires_at as epoch seconds or None);
* a *main* Aho-Corasick automaton over the folded keywords, and a small *delta* automaton over
  keywords that became active after the main one was built. A keyword that leaves the active
  set is simply dropped from ``active``: its hits in the main automaton are ignored until the
  next main rebuild. The main automaton is rebuilt (inline, by the request that applies the
  changes) when the delta plus the dropped keywords exceed ``rebuild_after``.

Only keywords need an automaton: finding any of a million phrases inside free text cannot be
an index probe. Everything else a message can match is a handful of exact keys — the sender's
number/code readings and range prefixes, each link's Safe Browsing expressions, its host and
parent domains — that one indexed query answers (``index.EntryIndex``). Holding URLs and
domains here as well cost about 240 MiB per worker at 10 million entries (measured), for no
fewer queries.

Keeping current: the engine remembers the change-log position it reflects. ``refresh(session)``
reads ``feed_head.position`` (one tiny query; none when the process's listener, which hears
every commit's head by NOTIFY, says the engine is already there); if it moved, the changes after the engine's
position (keywords) are read joined to their entries' *current* status and expiry and
applied; applying the current state is idempotent, so overlapping reads do no harm. If the head
moved backwards (the database was reset) or the gap is very large, the engine is rebuilt.

Thread safety: one lock serialises writers (build, apply, rebuild). Readers take no lock: an
automaton is never changed once published (a changed delta is a new automaton swapped in), and
the dicts are only read with ``get`` while a writer changes single keys, which CPython makes
atomic. Expiry is not applied at build or apply time but checked on every hit, so an entry whose
``expires_at`` passes stops matching at once, before the sweeper marks it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import ahocorasick
from sqlalchemy import select

from ..config import settings_of
from ..db import utcnow
from ..entries.models import Entry
from ..feeds import changes
from ..feeds.models import FeedChange
from ..metrics import ENGINE_REBUILDS
from ..values.folding import variant_key

KINDS = ("keyword",)
REBUILD_AFTER = 2000  # delta keywords + dropped keywords before the main automaton is rebuilt
CATCH_UP_LIMIT = 200_000  # more changes than this behind: rebuild from the entries instead


@dataclass(frozen=True)
class Hit:
    """One candidate match: an entry (still to be confirmed against the allowlist) and where."""

    entry_id: int
    value: str
    span: tuple[int, int]  # in the folded text; callers map it back


def _epoch(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
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


class MatchingEngine:
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
        """Forget everything; the next ``refresh`` builds from the database."""
        with self._lock:
            self._clear()
            self.position = None

    def load(self, rows: Iterable[tuple[int, str, str, dt.datetime | None]], position: int) -> None:
        """Replace the contents with ``rows`` (id, kind, value, expires_at) of active entries,
        as of change-log ``position``. The database build and the benchmark both come here."""
        with self._lock:
            self._load(rows, position)

    def _load(self, rows, position: int) -> None:
        # Built aside and swapped in, so readers never see a half-built engine.
        fresh = MatchingEngine(self.rebuild_after)
        for entry_id, kind, value, expires_at in rows:
            if kind in KINDS:
                fresh._add(entry_id, value, _epoch(expires_at), new=False)
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

    def _rebuild_main(self) -> None:
        words = [(i, v) for i, (v, _) in self.active.items()]
        self._main = _automaton(words)
        self._main_ids = {i for i, _ in words}
        self._delta_words = {}
        self._delta = None
        self._dropped = 0
        self.rebuilds += 1
        ENGINE_REBUILDS.inc()

    def apply(self, rows: Iterable[tuple[int, str, str, str, dt.datetime | None]], position: int) -> None:
        """Apply the current state (id, kind, value, status, expires_at) of entries that changed,
        and move to ``position``."""
        with self._lock:
            self._apply(rows, position)

    def _apply(self, rows, position: int) -> None:
        delta_before = dict(self._delta_words)
        for entry_id, kind, value, status, expires_at in rows:
            if kind not in KINDS:
                continue
            if status == "active":
                self._add(entry_id, value, _epoch(expires_at), new=True)
            else:
                self._remove(entry_id)
        if len(self._delta_words) + self._dropped > self.rebuild_after:
            self._rebuild_main()
        elif self._delta_words != delta_before:
            self._delta = _automaton(self._delta_words.items())
        self.position = position

    def refresh(self, session, heard: int | None = None) -> None:
        """Bring the engine up to the change-log head: build on first use, else apply the
        changes since the engine's position. One small query when nothing changed — none when
        `heard` (the head as the process's listener last heard it) is where the engine is."""
        if heard is not None and self.position == heard:
            return
        # Core, not ORM, execution: the same SQL at a third of the cost per call.
        connection = session.connection()
        head = changes.head_position(connection)
        if self.position == head:
            return
        with self._lock:
            if self.position == head:
                return  # another thread caught up while we waited
            if self.position is None or head < self.position or head - self.position > CATCH_UP_LIMIT:
                self._build(connection, head)
                return
            rows = connection.execute(
                select(Entry.id, Entry.kind, Entry.value, Entry.status, Entry.expires_at)
                .join(FeedChange, FeedChange.entry_id == Entry.id)
                .where(changes.in_window(self.position, head), FeedChange.kind.in_(KINDS))
                .order_by(FeedChange.position)
            ).all()
            self._apply(rows, head)

    def _build(self, connection, head: int) -> None:
        # The head is read first: every change up to it is in the rows read afterwards; changes
        # committed meanwhile are applied again later, which is harmless.
        # Streamed (a server-side cursor on PostgreSQL): a materialised result would briefly
        # cost as much memory again as the engine itself. Such a cursor needs a transaction:
        # a read-only request's autocommit connection gets one of its own for it.
        query = (
            select(Entry.id, Entry.kind, Entry.value, Entry.expires_at)
            .where(Entry.status == "active", Entry.kind.in_(KINDS))
            .execution_options(yield_per=10_000)
        )
        if getattr(connection.connection.driver_connection, "autocommit", False) is True:
            with connection.engine.connect() as own:
                with own.execution_options(isolation_level="REPEATABLE READ").begin():
                    self._load(own.execute(query), head)
            return
        self._load(connection.execute(query), head)

    # --- readers ----------------------------------------------------------------------------

    def _live(self, entry_id: int, now: float) -> str | None:
        record = self.active.get(entry_id)
        if record is None or (record[1] is not None and record[1] <= now):
            return None
        return record[0]

    def keyword_hits(self, folded: str, now: float | None = None) -> Iterator[Hit]:
        """Every occurrence of an active keyword in ``folded`` text (spans in the folded text)."""
        now = utcnow().timestamp() if now is None else now
        keyed = variant_key(folded)  # 帐 and 账 alike (folding.VARIANT_CLASSES); same length
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


def get_engine(app) -> MatchingEngine:
    """The engine of this app in this process (made on first use)."""
    engine = app.extensions.get("blocklist_matching")
    if engine is None:
        engine = app.extensions.setdefault("blocklist_matching", MatchingEngine(settings_of(app).check_rebuild_after))
    return engine
