"""Long-poll support: the process's listener (`blocklist.listener`) knows the feed head position
and wakes waiting requests when it moves.

Waiting requests hold no database connection: they block on the listener's condition until it
sees a position beyond theirs, then query again. On PostgreSQL the listener is a single thread
LISTENing on the channel `changes.append` notifies at commit; on SQLite it polls the head every
100 ms. The thread starts on the first wait, i.e. in the serving process after any fork.
"""

from __future__ import annotations

from sqlalchemy import Engine

from ..listener import Listener, listener


def watcher(engine: Engine) -> Listener:
    """This process's listener for `engine`'s database (started on first use)."""
    return listener(engine)
