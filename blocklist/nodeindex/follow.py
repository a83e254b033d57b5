"""The node follower: builds the node index from the database and keeps it current from the
change feed — the logic of the `blocklist-sync` mirror (a snapshot, then the changes after its
cursor, applying each changed entry's *current* state, which is idempotent), run by one process
per node (`flask node-index follow`, started by gunicorn's master: `deploy/gunicorn.conf.py`).

It reads the primary, or `BLOCKLIST_REPLICA_URL` when set (the replica's feed head says how far
it has come), wakes on the feed's `NOTIFY` (this process's `listener`) or after a second, and
after each commit of the index file the workers' reads reflect the feed up to
`state.position`. Each pass also adds newly recorded holdings' resources to ``held`` (holdings
are not in the feed: the second's wake-up bounds how late a new holder is seen without
`min_cursor`).

Rebuilt from scratch when there is no index yet, when the feed head moved backwards (the
database was reset), when the changes it needs were pruned, or when it is more than
`CATCH_UP_LIMIT` changes behind.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..entries.models import Entry
from ..feeds import changes
from ..feeds.models import FeedChange, FeedHead
from ..holdings.models import Holding
from . import rows, store

log = logging.getLogger(__name__)

CATCH_UP_LIMIT = 200_000
# Holding ids are handed out at insert, not at commit: each pass reads again this many ids below
# the highest one read, so a holding whose transaction committed after a later id's is not missed.
HOLDINGS_MARGIN = 1_000
BATCH = 10_000  # rows per executemany into the index file


def _head(session: Session) -> tuple[int, int]:
    row = session.execute(select(FeedHead.position, FeedHead.pruned_through).where(FeedHead.id == 1)).one_or_none()
    return (row.position or 0, row.pruned_through or 0) if row else (0, 0)


def build(session: Session, conn: sqlite3.Connection) -> int:
    """Fill the index with every active entry as of the feed head; returns that head."""
    head, _ = _head(session)  # first: changes committed meanwhile are applied again, harmlessly
    ids = list(session.scalars(select(Entry.id).where(Entry.status == "active").order_by(Entry.id)))

    def batches() -> Iterable[list[tuple]]:
        batch: list[tuple] = []
        for row in rows.active_rows(session, ids):
            batch.append(row)
            if len(batch) >= BATCH:
                yield batch
                batch = []
        yield batch

    count = store.replace_all(conn, batches(), head)
    log.info("node index built: %d active entries at feed position %d", count, head)
    return head


def catch_up(session: Session, conn: sqlite3.Connection) -> int:
    """Bring the index to the feed head: build it, or apply the changes since its position.
    Returns the position it now reflects."""
    _holdings(session, conn)
    at = store.position(conn)
    head, pruned = _head(session)
    if at == head:
        return at
    if at is None or head < at or at < pruned or head - at > CATCH_UP_LIMIT:
        return build(session, conn)
    ids = sorted(set(session.scalars(select(FeedChange.entry_id).where(changes.in_window(at, head)))))
    upserts = list(rows.active_rows(session, ids))
    removed = set(ids).difference(row[0] for row in upserts)
    store.apply(conn, upserts, removed, head)
    return head


def _holdings(session: Session, conn: sqlite3.Connection) -> None:
    """Add the resources of holdings recorded since the last pass to ``held``."""
    through = store.holdings_through(conn)
    query = select(Holding.id, Holding.resource_kind, Holding.resource_value)
    if through is not None:
        query = query.where(Holding.id > through - HOLDINGS_MARGIN)
    rows = session.execute(query).all()
    latest = max((row.id for row in rows), default=through or 0)
    if rows or through is None:
        store.add_held(conn, [(row.resource_kind, row.resource_value) for row in rows], max(latest, through or 0))


def follow(engine, path: str, *, stop=None, wait_seconds: float = 1.0, listen_to=None) -> None:
    """Keep the index at `path` current from `engine`'s database until `stop()` is true: catch
    up, then wait for the feed head to move (NOTIFY from `listen_to`'s database, the primary,
    which a replica `engine` follows; a poll on SQLite)."""
    from .. import listener

    heard = listener.listener(listen_to if listen_to is not None else engine)
    conn = store.connect(path)
    try:
        while stop is None or not stop():
            try:
                with Session(engine) as session:
                    at = catch_up(session, conn)
            except Exception:  # the database went away: try again shortly
                log.warning("node index follower could not catch up; retrying", exc_info=True)
                time.sleep(1)
                continue
            if not heard.wait_beyond(at, wait_seconds):
                continue
            if (heard.position or 0) > at and listen_to is not None and listen_to is not engine:
                time.sleep(0.002)  # a replica behind the primary's head: poll it, not spin
    finally:
        conn.close()
