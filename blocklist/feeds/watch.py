"""Long-poll support: one watcher per process and database that knows the feed head position
and wakes waiting requests when it moves.

Waiting requests hold no database connection: they block on a `threading.Condition` until the
watcher sees a position beyond theirs, then query again. On PostgreSQL the watcher is a single
thread LISTENing on the channel `changes.append` notifies at commit; on SQLite it polls the head
every 100 ms. The thread starts on the first wait, i.e. in the serving process after any fork.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

from .changes import HEAD_SQL, NOTIFY_CHANNEL, head_position

log = logging.getLogger(__name__)
POLL_SECONDS = 0.1
_watchers: dict[str, HeadWatcher] = {}
_watchers_lock = threading.Lock()


class HeadWatcher:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.position: int | None = None  # unknown until the thread has read the head
        self.condition = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="blocklist-feed-watcher", daemon=True)
        self.thread.start()

    def wait_beyond(self, position: int, timeout: float) -> bool:
        """Block until the head passes `position` (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while self.position is None or self.position <= position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.condition.wait(remaining)
            return True

    def _advance(self, position: int) -> None:
        """Record the head as last read or notified (it only moves backwards when the database
        is restored or emptied); wake the waiters when it moved forwards."""
        with self.condition:
            moved = self.position is None or position > self.position
            self.position = position
            if moved:
                self.condition.notify_all()

    def _read_head(self, conn) -> int:
        return head_position(conn)

    def _run(self) -> None:
        while True:
            try:
                if self.engine.dialect.name == "postgresql":
                    self._listen()
                else:
                    self._poll()
            except Exception:  # the database went away: try again shortly
                log.warning("feed watcher lost its database connection; retrying", exc_info=True)
                time.sleep(1)

    def _poll(self) -> None:
        while True:
            with self.engine.connect() as conn:
                self._advance(self._read_head(conn))
            time.sleep(POLL_SECONDS)

    def _listen(self) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            # Read the head only after LISTEN, so no commit falls between the two.
            row = conn.execute(HEAD_SQL).fetchone()
            self._advance(row[0] if row else 0)
            while True:
                for notice in conn.notifies(timeout=5.0):
                    self._advance(int(notice.payload))
                # Every 5 s: notice a dead connection, and re-read the head in case it was reset.
                row = conn.execute(HEAD_SQL).fetchone()
                self._advance(row[0] if row else 0)


def watcher(engine: Engine) -> HeadWatcher:
    """This process's watcher for `engine`'s database (started on first use)."""
    key = engine.url.render_as_string(hide_password=True)
    with _watchers_lock:
        if key not in _watchers:
            _watchers[key] = HeadWatcher(engine)
        return _watchers[key]
