"""The in-memory keyword matcher, one per worker process: the shared keyword automata
(``blocklist.matcher.keywords.KeywordAutomata``: a main and a delta Aho-Corasick automaton over
the folded active keywords, expiry checked on every hit), filled from the database and kept
current from its change log.

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
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from ..config import settings_of
from ..db import utcnow
from ..entries.models import Entry
from ..feeds import changes
from ..feeds.models import FeedChange
from ..matcher.keywords import KINDS, REBUILD_AFTER, Hit, KeywordAutomata
from ..metrics import ENGINE_REBUILDS

__all__ = ["REBUILD_AFTER", "Hit", "MatchingEngine", "get_engine"]

CATCH_UP_LIMIT = 200_000  # more changes than this behind: rebuild from the entries instead


class MatchingEngine(KeywordAutomata):
    """The keyword automata of the active keyword entries, kept current from the database."""

    def _rebuilt(self) -> None:
        ENGINE_REBUILDS.inc()

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

    def keyword_hits(self, folded: str, now: float | None = None) -> Iterator[Hit]:
        """Every occurrence of an active keyword in ``folded`` text (spans in the folded text);
        `now` defaults to the service's clock."""
        return super().keyword_hits(folded, utcnow().timestamp() if now is None else now)


def get_engine(app) -> MatchingEngine:
    """The engine of this app in this process (made on first use)."""
    engine = app.extensions.get("blocklist_matching")
    if engine is None:
        engine = app.extensions.setdefault("blocklist_matching", MatchingEngine(settings_of(app).check_rebuild_after))
    return engine
