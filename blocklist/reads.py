"""The read path's plumbing: per-worker caches emptied by `LISTEN/NOTIFY`, autocommit reads,
the optional streaming replica, and `min_cursor` (read-your-writes by feed cursor).

* `Cache`: a dict per worker process whose entries are dropped whenever its listener topic is
  invalidated (`listener.invalidate`, in the writer's transaction). An answer read from the
  database is stored only if no invalidation happened while it was being read (`generation`),
  and only while this process's listener is connected (`usable`): no change can commit unheard.
  On SQLite, or with `BLOCKLIST_READ_CACHE=false`, nothing is cached.
* `read_only`: a route decorator (outermost, above `require`) for reads that write nothing:
  on PostgreSQL its queries run in autocommit, so no `BEGIN`/`ROLLBACK` round trips — but with
  a node index, where most look-ups and checks query nothing, no connection is taken at all.
* `read_session()`: where the matching queries go: a session on `BLOCKLIST_REPLICA_URL` when
  it is set (autocommit, one per request), else the request's own session.
* `at_cursor`: a route decorator (below `require`) reading `min_cursor`. A cursor is handed
  out after its write committed, so the primary already has it: the request reads the allowlist
  and the feed head from the database rather than this worker's caches (the keyword engine
  catches up to that head). With a replica it waits, at most `BLOCKLIST_MIN_CURSOR_WAIT_MS`,
  until the replica's feed head reaches the cursor; with a node index (`BLOCKLIST_NODE_INDEX`,
  blocklist/nodeindex) until the index has applied it; a wait that runs out is a 503 with
  `Retry-After: 1`. A cursor ahead of the feed head is a 400 at once.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from . import listener
from .apidoc import READ_POSTS
from .config import current_settings, settings_of
from .db import db, ping_after_idle
from .errors import abort
from .feeds import cursors

MIN_CURSOR = "min_cursor"
CURSOR_HEADER = "X-Blocklist-Cursor"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HEAD = text("SELECT position FROM feed_head WHERE id = 1")


class Cache:
    """A per-process cache emptied whenever `topic` is invalidated; see the module docstring."""

    def __init__(self, topic: str, max_items: int = 100_000):
        self.topic = topic
        self.max_items = max_items
        self.items: dict[Any, Any] = {}
        self.generation = 0
        self._lock = threading.Lock()
        listener.on(topic, self.clear)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self.items = {}

    def get(self, key: Any) -> Any:
        return self.items.get(key)

    def put(self, key: Any, value: Any, generation: int) -> None:
        """Store `value`, read from the database since `generation` was current, unless an
        invalidation came in the meantime."""
        with self._lock:
            if generation != self.generation:
                return
            if len(self.items) >= self.max_items:
                self.items = {}
            self.items[key] = value


def usable() -> bool:
    """Whether this request may answer from the per-worker caches: PostgreSQL, caching on, the
    listener connected, and no `min_cursor` read that must see the database itself."""
    if getattr(g, "fresh_reads", False) or not current_settings().read_cache:
        return False
    engine = db.engine
    return engine.dialect.name == "postgresql" and _serves_requests() and listener.connected(engine)


def heard_head() -> int | None:
    """The feed head as this process's listener last heard it, when it can be trusted to hear
    every commit (PostgreSQL, connected, no replica that may lag behind it); else None."""
    engine = db.engine
    if (
        engine.dialect.name != "postgresql"
        or getattr(g, "fresh_reads", False)
        or not _serves_requests()
        or _replica_engine(current_app) is not None
    ):
        return None
    heard = listener.listener(engine)
    return heard.position if heard.connected else None


def _serves_requests() -> bool:
    """The session runs on the engine's pool, as in serving (not on a test's one connection,
    whose transaction is rolled back at the end: it must not change isolation level, and what
    it writes is never notified)."""
    return isinstance(db.session.get_bind(), Engine)


def read_only(view: Callable) -> Callable:
    """Route decorator, outermost: this request writes nothing, so on PostgreSQL its queries
    (the token's too) run in autocommit, without `BEGIN` and `ROLLBACK`. Also keeps the answer
    free of a write's `X-Blocklist-Cursor`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .nodeindex.reader import reader_of

        g.read_only = True
        if (
            db.engine.dialect.name == "postgresql"
            and _serves_requests()
            and not db.session().in_transaction()
            and reader_of(current_app) is None  # with a node index most such requests query nothing:
        ):  # then no connection is taken from the pool at all (one that is needed runs a transaction)
            db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return view(*args, **kwargs)

    return wrapper


def _replica_engine(app: Flask) -> Engine | None:
    url = settings_of(app).replica_url
    if not url:
        return None
    engine = app.extensions.get("blocklist_replica")
    if engine is None:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        ping_after_idle(engine)
        engine = app.extensions.setdefault("blocklist_replica", engine)
    return engine


def read_session() -> Session:
    """The session the matching queries run in: the replica's (one per request, closed at its
    end) when `BLOCKLIST_REPLICA_URL` is set, else the request's own."""
    engine = _replica_engine(current_app)
    if engine is None:
        return db.session()
    session = g.get("replica_session")
    if session is None:
        session = g.replica_session = Session(bind=engine)
    return session


def _close_replica_session(error: BaseException | None = None) -> None:
    if has_request_context():
        session = g.pop("replica_session", None)
        if session is not None:
            session.close()


def _replica_head(session: Session) -> int:
    return session.execute(_HEAD).scalar() or 0


def reach(position: int) -> None:
    """Make this request reflect the feed up to `position`; see the module docstring. The cursor
    was handed out after its write committed, so the primary has it: the request reads the
    allowlist and the feed head from the database instead of this worker's caches (and the
    keyword engine catches up to that head), and only a replica may need waiting for. Raises
    the 400 (a position the feed never reached) or 503 (the replica still behind) problem."""
    g.fresh_reads = True
    heard = listener.listener(db.engine).position
    if heard is None or heard < position:
        head = db.session.execute(_HEAD).scalar() or 0
        if position > head:
            abort(
                400,
                f"min_cursor names feed position {position}, beyond the feed head ({head}).",
                errors={MIN_CURSOR: ["Beyond the feed head."]},
            )
    from .nodeindex.reader import reader_of

    node = reader_of(current_app)
    if node is not None and node.position() is not None:
        # Look-ups and checks read the node index: wait for its follower to apply the cursor.
        if not node.wait_for(position, current_settings().min_cursor_wait_ms / 1000):
            _not_yet(position)
        return
    engine = _replica_engine(current_app)
    if engine is not None:
        deadline = time.monotonic() + current_settings().min_cursor_wait_ms / 1000
        session = read_session()
        while _replica_head(session) < position:
            if time.monotonic() >= deadline:
                _not_yet(position)
            time.sleep(0.005)


def _not_yet(position: int) -> None:
    abort(
        503,
        f"This node has not yet reached feed position {position}; retry after Retry-After seconds.",
        headers={"Retry-After": "1"},
    )


def at_cursor(view: Callable) -> Callable:
    """Route decorator, below `require`: honour `?min_cursor=` (see `reach`)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cursor = request.args.get(MIN_CURSOR)
        if cursor is not None:
            reach(cursors.decode(cursor, MIN_CURSOR))
        return view(*args, **kwargs)

    return wrapper


def note_feed_position(position: int) -> None:
    """The request's transaction wrote feed changes up to `position` (`changes.append`)."""
    if has_request_context():
        g.feed_position = max(position, g.get("feed_position", 0))


def is_write(method: str, rule: str | None) -> bool:
    """Whether a request to `rule` with `method` is a write that answers with a cursor: every
    POST, PUT, PATCH and DELETE under /v1 but the read-only POSTs (`apidoc.READ_POSTS`)."""
    return method in WRITE_METHODS and rule is not None and rule.startswith("/v1/") and (rule, method) not in READ_POSTS


def _write_cursor(response):
    """A successful write answers with `X-Blocklist-Cursor`: the feed position after its own
    changes, or, when it changed nothing in the feed, the head (read after its commit)."""
    rule = request.url_rule.rule if request.url_rule is not None else None
    if response.status_code >= 400 or not is_write(request.method, rule):
        return response
    position = g.get("feed_position")
    if position is None:
        position = db.session.execute(_HEAD).scalar() or 0
    response.headers[CURSOR_HEADER] = cursors.encode(position)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_write_cursor)
    app.teardown_request(_close_replica_session)
