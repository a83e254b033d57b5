"""The node index: look-ups and checks that do not wait on PostgreSQL.

One SQLite file per node (`store`), built from the database and kept current from the change
feed by one follower process per node (`follow`; `flask node-index follow`, started by the
gunicorn master when `BLOCKLIST_NODE_INDEX` names the file), read by every worker of the node
(`reader`): the OS page cache holds the one copy the workers share. PostgreSQL takes the
writes and the feed; look-ups, batch look-ups and checks probe the file (the keyword automata
stay per worker, the allowlist and tokens in the per-worker caches `LISTEN/NOTIFY` empties).

Consistency: a read with `min_cursor` waits (at most `BLOCKLIST_MIN_CURSOR_WAIT_MS`) until the
index has reached that cursor (else 503 + Retry-After), so read-your-writes holds across
workers and nodes; a read without one reflects what was committed more than the follower's
propagation delay earlier (README, Consistency). Off (`BLOCKLIST_NODE_INDEX` unset, the
default): the reads query the database as before.
"""

from __future__ import annotations

from flask import Flask

from .reader import NodeIndexReader, current_reader, reader_of

__all__ = ["NodeIndexReader", "current_reader", "init_app", "reader_of"]


def init_app(app: Flask) -> None:
    from . import cli

    app.cli.add_command(cli.node_index_cli)
