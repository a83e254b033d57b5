"""Counting the SQL a piece of work runs: the query-count tests pin hot paths with it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from blocklist.db import db


def _harness(statement: str) -> bool:
    """The savepoints a rolled-back test wraps each request's transaction in (tests/conftest.py):
    the test's, not the request's."""
    return statement.startswith(("SAVEPOINT ", "RELEASE SAVEPOINT ", "ROLLBACK TO SAVEPOINT "))


@contextmanager
def sql_log(app) -> Iterator[list[tuple[str, int]]]:
    """Yields a list that collects (statement, number of bound parameters) of every SQL
    statement this thread runs inside the block, token look-ups left out (every request makes
    one). Only this thread's: a feed watcher thread left by an earlier test polls the same engine."""
    log: list[tuple[str, int]] = []
    thread = threading.get_ident()

    def record(conn, cursor, statement, parameters, context, executemany):
        if "oauth_tokens" not in statement and threading.get_ident() == thread and not _harness(statement):
            params = parameters if isinstance(parameters, (list, tuple, dict)) else ()
            log.append((statement, len(params)))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", record)
