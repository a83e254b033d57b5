"""One listener per process and database: what the other processes' commits say through
PostgreSQL `LISTEN/NOTIFY`, for the long-poll watcher and the per-worker read caches.

Two channels, both notified inside the writing transaction, so they are delivered at commit and
dropped on rollback, in commit order:

* `FEED_CHANNEL` (`blocklist_feed`, payload: the feed head after the commit): `position` is the
  head as this process last heard it; long-polls and `min_cursor` reads wait on it.
* `CACHE_CHANNEL` (`blocklist_cache`, payload: a topic such as ``auth`` or ``allowlist``): every
  handler registered for the topic runs (it empties its cache) and the topic's generation moves.

A cache may be used only while `connected` is true: the listener is LISTENing, so no change can
commit unheard. On (re)connecting every handler runs first (what was missed while away is
forgotten), then `connected` becomes true; when the connection drops it becomes false at once.
On SQLite (one process in development) the thread polls the head every 100 ms and is never
`connected`, so nothing is cached there. The thread starts on first use, i.e. in the serving
process after gunicorn forks.

`invalidate(topic)` is what a writer calls: it empties this process's caches at once (so the
writer's own process, and a test's rolled-back transaction, never sees a stale answer) and
queues the NOTIFY for the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, func, select

log = logging.getLogger(__name__)

FEED_CHANNEL = "blocklist_feed"
CACHE_CHANNEL = "blocklist_cache"
HEAD_SQL = "SELECT position FROM feed_head WHERE id = 1"
POLL_SECONDS = 0.1
CHECK_SECONDS = 5.0  # re-read the head (and notice a dead connection) at least this often

_handlers: dict[str, list[Callable[[], None]]] = {}
_listeners: dict[str, Listener] = {}
_lock = threading.Lock()


def on(topic: str, handler: Callable[[], None]) -> None:
    """Run `handler` (in any thread) whenever `topic` is invalidated, here or in another process,
    and whenever a listener (re)connects."""
    _handlers.setdefault(topic, []).append(handler)


def _run_handlers(topic: str | None = None) -> None:
    for name, handlers in list(_handlers.items()):
        if topic is None or name == topic:
            for handler in handlers:
                handler()


def forget_all() -> None:
    """Empty every cache of this process (tests: data they truncate is never notified)."""
    _run_handlers()


def invalidate(topic: str, session=None) -> None:
    """A change to what `topic` caches is being written in `session`'s transaction: empty this
    process's caches now and, on PostgreSQL, notify every other process at commit."""
    _run_handlers(topic)
    if session is not None and session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(CACHE_CHANNEL, topic)))


class Listener:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.position: int | None = None  # the head as last heard; None until first read
        self.connected = False
        self.condition = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="blocklist-listener", daemon=True)
        self.thread.start()

    def wait_beyond(self, position: int, timeout: float) -> bool:
        """Block until the head passes `position` (True) or `timeout` seconds pass (False)."""
        return self.wait_for(position + 1, timeout)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until the head is at least `position` (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while self.position is None or self.position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.condition.wait(remaining)
            return True

    def wait_connected(self, timeout: float) -> bool:
        """Block until the listener is connected (tests, start-up); True when it is."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while not self.connected:
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

    def _run(self) -> None:
        while True:
            try:
                if self.engine.dialect.name == "postgresql":
                    self._listen()
                else:
                    self._poll()
            except Exception:  # the database went away: try again shortly
                log.warning("listener lost its database connection; retrying", exc_info=True)
            finally:
                with self.condition:
                    self.connected = False
            time.sleep(1)

    def _poll(self) -> None:
        while True:
            with self.engine.connect() as conn:
                self._advance(conn.exec_driver_sql(HEAD_SQL).scalar() or 0)
            time.sleep(POLL_SECONDS)

    def _listen(self) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {FEED_CHANNEL}")
            conn.execute(f"LISTEN {CACHE_CHANNEL}")
            # Only after LISTEN: no commit falls between what is read now and what is heard next.
            _run_handlers()
            row = conn.execute(HEAD_SQL).fetchone()
            self._advance(row[0] if row else 0)
            with self.condition:
                self.connected = True
                self.condition.notify_all()
            while True:
                for notice in conn.notifies(timeout=CHECK_SECONDS):
                    if notice.channel == FEED_CHANNEL:
                        self._advance(int(notice.payload))
                    else:
                        _run_handlers(notice.payload)
                row = conn.execute(HEAD_SQL).fetchone()
                self._advance(row[0] if row else 0)


def listener(engine: Engine) -> Listener:
    """This process's listener for `engine`'s database (started on first use)."""
    key = engine.url.render_as_string(hide_password=True)
    with _lock:
        if key not in _listeners:
            _listeners[key] = Listener(engine)
        return _listeners[key]


def connected(engine: Engine) -> bool:
    """Whether caches over `engine`'s database may be used now (starts the listener if need be)."""
    return listener(engine).connected
