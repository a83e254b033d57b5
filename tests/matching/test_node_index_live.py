"""The node index on a live node (PostgreSQL, gunicorn with two workers and deploy/gunicorn.conf.py,
whose master starts the node's follower): a read with the write's `min_cursor` sees the write
whichever worker answers, and a read of the other node too (two gunicorn instances, two index
files, one database); without a cursor a write becomes visible within the follower's bound
(README, Consistency: it wakes on the feed's NOTIFY, and at least once a second);
revocation and expiry take an entry out."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import uuid

import pytest
import requests
from conftest import requires_postgres, threaded_server

from blocklist.feeds import cursors

CURSOR = "X-Blocklist-Cursor"
FOLLOWER_BOUND = 5.0  # seconds: nodeindex.follow's wait when no NOTIFY comes


def _position(path: str) -> int | None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT value FROM state WHERE key = 'position'").fetchone()
    except sqlite3.OperationalError:
        return None
    return int(row[0]) if row else None


def _built(path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _position(path) is None:
        assert time.monotonic() < deadline, "the node's follower never built its index"
        time.sleep(0.05)


@pytest.fixture
def two_nodes(app, database_url, tmp_path):
    """Two nodes on one database, each gunicorn with two workers and its own node index."""
    requires_postgres(app)
    nodes, paths = [], []
    try:
        for name in ("a", "b"):
            path = str(tmp_path / f"node-{name}.sqlite")
            nodes.append(
                threaded_server(database_url, workers=2, threads=4, production_settings=True, BLOCKLIST_NODE_INDEX=path)
            )
            paths.append(path)
        for path in paths:
            _built(path)
        yield nodes, paths
    finally:
        for node in nodes:
            node.stop()


def _get(url: str, headers: dict[str, str], **params) -> dict:
    # A new connection each time (Connection: close): either worker of the node answers.
    response = requests.get(url, params=params, headers={**headers, "Connection": "close"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_min_cursor_reads_the_write_on_every_worker_and_node(two_nodes, auth):
    (a, b), paths = two_nodes
    carrier = a.bearer(auth.org("carrier"))
    for i in range(10):
        number = f"1390013{i:04d}"
        published = requests.post(a.url + "/v1/entries", json={"kind": "number", "value": number}, headers=carrier)
        assert published.status_code == 201, published.text
        cursor = published.headers[CURSOR]
        for node in (a, b, a, b):
            answer = _get(node.url + "/v1/lookup", carrier, value=number, min_cursor=cursor)
            assert answer["listed"] is True, (i, node.url, answer)
        word = f"核验资金{uuid.uuid4().hex[:6]}"
        published = requests.post(a.url + "/v1/entries", json={"kind": "keyword", "value": word}, headers=carrier)
        check = requests.post(
            f"{b.url}/v1/check?min_cursor={published.headers[CURSOR]}",
            json={"sender": "10690000001", "text": f"请{word}转账"},
            headers={**carrier, "Connection": "close"},
            timeout=10,
        )
        assert check.status_code == 200 and check.json()["verdict"] == "block", check.text
    # The answers came from the node indexes: both had reached the last number's position.
    last = cursors.decode(cursor, "min_cursor")
    assert all((_position(path) or 0) >= last for path in paths)


def test_writes_are_visible_without_a_cursor_within_the_bound_and_leave_on_revocation_and_expiry(two_nodes, auth):
    (a, b), _ = two_nodes
    carrier, regulator = a.bearer(auth.org("carrier")), a.bearer(auth.org("regulator"))
    delays = []
    for i in range(5):
        number = f"1370013{i:04d}"
        published = requests.post(a.url + "/v1/entries", json={"kind": "number", "value": number}, headers=carrier)
        assert published.status_code == 201, published.text
        start = time.monotonic()
        while not _get(b.url + "/v1/lookup", carrier, value=number)["listed"]:
            assert time.monotonic() - start < FOLLOWER_BOUND, "not visible within the follower's bound"
            time.sleep(0.005)
        delays.append(time.monotonic() - start)

        revoked = requests.post(
            f"{a.url}/v1/entries/{published.json()['id']}/revoke", json={"reason": "test"}, headers=regulator
        )
        assert revoked.status_code == 200, revoked.text
        for node in (a, b):
            answer = _get(node.url + "/v1/lookup", carrier, value=number, min_cursor=revoked.headers[CURSOR])
            assert answer["listed"] is False, answer

    # Expiry: the index checks `expires_at` on every read, before the sweeper writes the removal.
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    published = requests.post(
        a.url + "/v1/entries",
        json={"kind": "number", "value": "13600136000", "expires_at": expires.isoformat()},
        headers=carrier,
    )
    assert published.status_code == 201, published.text
    cursor = published.headers[CURSOR]
    assert _get(b.url + "/v1/lookup", carrier, value="13600136000", min_cursor=cursor)["listed"] is True
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    for node in (a, b):
        assert _get(node.url + "/v1/lookup", carrier, value="13600136000")["listed"] is False
