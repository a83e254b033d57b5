"""A snapshot reader that stops reading loses its transaction and its connection within the
configured time, and the pool leaks nothing (issue #12, item 7). PostgreSQL only: the claims
are about its REPEATABLE READ transactions, watched in pg_stat_activity."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from conftest import requires_postgres, threaded_server
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from support.settings import override_settings

from blocklist.db import db
from blocklist.feeds.lines import LINE

# Snapshot reads and the observer use connections of their own: the tests' writes must commit.
pytestmark = pytest.mark.committed

BOUND = 30  # seconds a bounded loop below polls before the test gives up

# The transactions of snapshot reads, found by what they run, not by anything the code names.
_OPEN_SNAPSHOTS = text("""
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND xact_start IS NOT NULL AND query LIKE 'COPY (%'""")


@pytest.fixture
def observer(app):
    """A connection of its own (not from the app's pool) that counts open snapshot transactions."""
    requires_postgres(app)
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)

    def open_snapshots() -> int:
        with engine.connect() as conn:
            return conn.execute(_OPEN_SNAPSHOTS).scalar_one()

    yield open_snapshots
    engine.dispose()


def _eventually(condition) -> bool:
    """Poll `condition` every 0.2 s for at most BOUND seconds."""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_idle_reader_loses_its_transaction_and_the_pool_keeps_no_connection(
    app, client, callers, publish, observer, monkeypatch
):
    override_settings(monkeypatch, app, snapshot_idle_timeout=2)
    publish("code", "10687415")
    publish("code", "10684500")
    with app.app_context():
        pool = db.engine.pool
    in_use = pool.checkedout()

    response = client.get("/v1/feed/snapshot", headers=callers["consumer"], buffered=False)
    try:
        first = next(iter(response.response))  # the reader takes the first chunk, then stops reading
        assert b"10687415" in first and b"10684500" in first
        assert pool.checkedout() == in_use + 1
        assert observer() == 1  # its transaction is open, idle, waiting for the reader
        assert _eventually(lambda: observer() == 0), "the server must end the idle snapshot transaction"
    finally:
        response.close()  # the reader goes away at last: its dead connection is dropped, not pooled
    assert pool.checkedout() == in_use

    again = client.get("/v1/feed/snapshot", headers=callers["consumer"])
    assert again.status_code == 200 and len(again.get_data(as_text=True).splitlines()) == 2


def _fill(app, rows: int) -> None:
    """`rows` active keywords of ~400 bytes each, inserted in one statement (a snapshot of them
    is far larger than the socket buffers between the server and a reader), then their snapshot
    lines built, as `flask tags recount --repair` does for rows written behind the services'
    back (blocklist/feeds/lines.py)."""
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO entries (kind, value, raw_value, status, reporters, version, created_at, updated_at)
            SELECT 'keyword', 'filler ' || g || ' ' || repeat('x', 400), 'filler', 'active', 1, 1,
                   now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
            FROM generate_series(1, :rows) g"""),
            {"rows": rows},
        )
        conn.execute(
            text(
                "INSERT INTO feed_lines (entry_id, kind, tier, line) "
                f"SELECT e.id, e.kind, e.tier, {LINE} FROM entries e"
            )
        )


def test_reader_that_never_reads_is_cut_off_after_the_send_timeout(app, database_url, auth, observer):
    _fill(app, 40_000)  # ~18 MB of JSONL
    server = threaded_server(database_url, threads=4, BLOCKLIST_SNAPSHOT_SEND_TIMEOUT="2")
    try:
        headers = server.bearer(auth.org("consumer"))
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, never read
        reader.connect(("127.0.0.1", server.port))
        reader.sendall(
            f"GET /v1/feed/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {headers['Authorization']}\r\n\r\n".encode()
        )
        try:
            assert _eventually(lambda: observer() == 1), "the snapshot's transaction never started"
            # The server's writes block on the full socket; after the send timeout it gives up,
            # ends the COPY and the transaction, and returns the connection.
            assert _eventually(lambda: observer() == 0), "the stalled snapshot still holds its transaction"
        finally:
            reader.close()
        # The worker and its pool still serve snapshots.
        codes = requests.get(server.url + "/v1/feed/snapshot", params={"kind": "code"}, headers=headers, timeout=BOUND)
        assert codes.status_code == 200 and codes.text == ""
    finally:
        server.stop()
