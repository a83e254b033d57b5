"""Reading the node index from a worker: one read-only SQLite connection per thread (a
connection serves one thread at a time), indexed probes by exact (kind, value), range prefix
and Safe Browsing expression, and the position the index reflects.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable

from flask import Flask, current_app

from ..config import settings_of
from . import store

EXTENSION = "blocklist_node_index"

CHUNK = 500  # values per IN (...): well under SQLite's bound on parameters
_SELECT = f"SELECT {', '.join(store.COLUMNS)} FROM entries WHERE "


class NodeIndexReader:
    """The node index at `path`, read from any thread of this process."""

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = store.connect(self.path, readonly=True)
        return conn

    def position(self) -> int | None:
        """The feed position the index reflects; None when it was never built (or is missing)."""
        try:
            return store.position(self._conn())
        except sqlite3.OperationalError:  # no file or no tables yet: the follower has not built it
            self._local.conn = None
            return None

    def wait_for(self, position: int, timeout: float) -> bool:
        """Wait, at most `timeout` seconds, until the index reflects the feed up to `position`."""
        deadline = time.monotonic() + timeout
        while (self.position() or 0) < position:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def rows(
        self, pairs: Iterable[tuple[str, str]], prefixes: Iterable[str] = (), url_keys: Iterable[str] = ()
    ) -> list[store.Row]:
        """The indexed entries exact (kind, value) `pairs`, range `prefixes` and URL expressions
        `url_keys` can match (whether each applies is for the caller: `matcher.index`)."""
        conn = self._conn()
        by_kind: dict[str, list[str]] = {}
        for kind, value in pairs:
            by_kind.setdefault(kind, []).append(value)
        found: dict[int, store.Row] = {}
        queries = [("kind = ? AND value IN ({})", [kind], sorted(set(v))) for kind, v in by_kind.items()]
        queries.append(("range_prefix IN ({})", [], sorted(set(prefixes))))
        queries.append(("match_key IN ({})", [], sorted(set(url_keys))))
        for where, fixed, values in queries:
            for start in range(0, len(values), CHUNK):
                chunk = values[start : start + CHUNK]
                sql = _SELECT + where.format(", ".join("?" * len(chunk)))
                for record in conn.execute(sql, (*fixed, *chunk)):
                    found[record[0]] = store.Row(*record)
        return list(found.values())

    def held(self, kind: str, value: str) -> bool:
        """Whether a holding was ever recorded for this resource (`store`: ``held``)."""
        return (
            self._conn().execute("SELECT 1 FROM held WHERE kind = ? AND value = ?", (kind, value)).fetchone()
            is not None
        )

    def by_id(self, ids: Iterable[int]) -> dict[int, store.Row]:
        ids = sorted(set(ids))
        conn, found = self._conn(), {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            for record in conn.execute(_SELECT + f"id IN ({', '.join('?' * len(chunk))})", chunk):
                found[record[0]] = store.Row(*record)
        return found


def reader_of(app: Flask) -> NodeIndexReader | None:
    """The node index reader of `app` in this process, when `BLOCKLIST_NODE_INDEX` is set."""
    path = settings_of(app).node_index
    if not path:
        return None
    reader = app.extensions.get(EXTENSION)
    if reader is None or reader.path != path:
        reader = app.extensions[EXTENSION] = NodeIndexReader(path)
    return reader


def current_reader() -> NodeIndexReader | None:
    """The node index this request reads, when one is configured and built; else None (the
    request reads the database)."""
    reader = reader_of(current_app)
    if reader is None or reader.position() is None:
        return None
    return reader
