"""blocklist-sync end to end against a live gunicorn: mirror, follow, SIGKILL mid-follow,
resume from the stored cursor, lookup — and usage errors."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import time

import pytest
from conftest import threaded_server
from sync_support import (
    FAST_RETRIES,
    ROOT,
    SYNC,
    mirror_set,
    run,
    secret_env,
    server_set,
    sync_command,
    wait_for,
)

from blocklist.db import db, utcnow


@pytest.fixture
def feed_server(app, database_url):
    """gunicorn with threaded workers (long-polls need them) and a fast expiry sweeper."""
    server = threaded_server(database_url, workers=2, threads=8, BLOCKLIST_SWEEP_INTERVAL="1")
    yield server
    server.stop()


def _sync_command(server, creds, db_path, *extra):
    return sync_command(server, creds, db_path, *extra)


def _run(args, creds=None, **kwargs):
    return run(args, env=secret_env(creds) if creds else None, **kwargs)


_mirror, _server_set, _wait_for = mirror_set, server_set, wait_for


def test_mirror_follow_kill_and_resume(app, feed_server, auth, client, callers, publish, tmp_path):
    publish("number", "13812345678")
    publish("code", "10687415")
    publish("domain", "pay-scam.com", as_="internet")
    creds = auth.org("consumer")
    db_path = tmp_path / "mirror.sqlite"

    first = _run(_sync_command(feed_server, creds, db_path), creds)
    assert first.returncode == 0, first.stderr
    assert "snapshot loaded: 3 rows" in first.stderr and "in sync" in first.stderr
    assert "\r" not in first.stderr and "entries/s" not in first.stderr  # no progress bar off a terminal
    assert _mirror(db_path) == _server_set(app)

    found = _run([*SYNC, "--db", str(db_path), "lookup", "+8613812345678"])
    assert found.returncode == 0 and json.loads(found.stdout)["listed"] is True
    # canonicalised as the server does: the national spelling finds the E.164 entry
    national = _run([*SYNC, "--db", str(db_path), "lookup", "138-1234-5678", "--kind", "number"])
    assert national.returncode == 0 and json.loads(national.stdout)["listed"] is True

    follower = subprocess.Popen(
        _sync_command(feed_server, creds, db_path, "--follow", "--wait", "5"),
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env=secret_env(creds),
    )
    try:
        publish("code", "10680001")
        soon = (utcnow() + dt.timedelta(seconds=1)).isoformat()
        publish("url", "http://short-lived.example.com/x", expires_at=soon)
        assert _wait_for(lambda: ("code", "10680001") in _mirror(db_path))
        # time-based expiry reaches the follower through the server's sweeper
        assert _wait_for(
            lambda: _mirror(db_path) == _server_set(app) and not any(kind == "url" for kind, _ in _mirror(db_path))
        )
    finally:
        follower.send_signal(signal.SIGKILL)
        follower.wait(timeout=10)
    assert follower.returncode == -signal.SIGKILL

    entry_id = publish("code", "10680002").json["id"]
    client.post(f"/v1/entries/{entry_id}/withdraw", headers=callers["carrier"])
    publish("keyword", "安全账户")
    resumed = _run(_sync_command(feed_server, creds, db_path), creds)
    assert resumed.returncode == 0, resumed.stderr
    assert "snapshot" not in resumed.stderr  # resumed from its stored cursor
    assert _mirror(db_path) == _server_set(app)
    assert ("keyword", "安全账户") in _mirror(db_path) and ("code", "10680002") not in _mirror(db_path)


def test_usage_and_connection_errors_have_their_exit_codes(tmp_path, auth):
    no_url = _run([*SYNC, "--db", str(tmp_path / "m.sqlite")])
    assert no_url.returncode == 2 and "--url" in no_url.stderr
    bad_kind = _run([*SYNC, "--db", "x", "--kind", "planet"])
    assert bad_kind.returncode == 2
    creds = auth.org("consumer")
    no_secret = run(
        [*SYNC, "--url", "http://127.0.0.1:9", "--client-id", creds.client_id, "--db", str(tmp_path / "m.sqlite")],
        env={k: v for k, v in secret_env(creds).items() if k != "BLOCKLIST_CLIENT_SECRET"},
    )
    assert no_secret.returncode == 2 and "client secret" in no_secret.stderr
    # nothing listens on port 9: each try is logged, then the one-shot sync gives up with 1
    down = _run(
        [
            *SYNC,
            "--url",
            "http://127.0.0.1:9",
            "--client-id",
            creds.client_id,
            "--db",
            str(tmp_path / "m.sqlite"),
            "--tries",
            "3",
            *FAST_RETRIES,
        ],
        creds,
    )
    assert down.returncode == 1, down.stderr
    assert down.stderr.count("server unavailable") == 2 and "try 2 failed" in down.stderr
    assert "error: cannot get a token" in down.stderr


def test_resnapshot_on_checksum_mismatch_and_on_a_pruned_cursor(app, feed_server, auth, publish, tmp_path):
    from sqlalchemy import update

    from blocklist.feeds.changes import prune
    from blocklist.feeds.models import FeedChange

    publish("code", "10687415")
    creds = auth.org("consumer")
    db_path = tmp_path / "mirror.sqlite"
    assert _run(_sync_command(feed_server, creds, db_path), creds).returncode == 0

    import sqlite3

    with sqlite3.connect(db_path) as conn:  # the mirror drifts: a row the server never had
        conn.execute("INSERT INTO entries (kind, value, id) VALUES ('code', '99999999', 0)")
    drifted = _run(_sync_command(feed_server, creds, db_path), creds)
    assert drifted.returncode == 0, drifted.stderr
    assert "checksum mismatch (the mirror has 2 entries); re-snapshotting" in drifted.stderr
    assert _mirror(db_path) == _server_set(app) == {("code", "10687415")}

    publish("code", "10680001")
    publish("number", "13812345678")
    with app.app_context():
        db.session.execute(update(FeedChange).values(created_at=utcnow() - dt.timedelta(days=30)))
        db.session.commit()
        assert prune() == 3
        db.session.commit()  # the sweeper job owns the commit
    gone = _run(_sync_command(feed_server, creds, db_path), creds)
    assert gone.returncode == 0, gone.stderr
    assert "older than the server's change log; re-snapshotting" in gone.stderr
    assert _mirror(db_path) == _server_set(app)
    assert len(_mirror(db_path)) == 3


def test_the_client_waits_out_a_429_from_the_long_poll_limit(app, database_url, auth):
    """The server answers a poll beyond its per-client long-poll limit with 429 + Retry-After;
    the sync client waits as told and retries instead of stopping."""
    import threading

    import requests

    from blocklist.sync.api import FeedClient

    server = threaded_server(database_url, threads=4, production_settings=True, BLOCKLIST_LONGPOLL_PER_CLIENT="1")
    try:
        creds = auth.org("consumer")
        feed = FeedClient(server.url, creds.client_id, creds.client_secret, timeout=20)
        head = feed.checksum(None)["cursor"]
        holder = threading.Thread(
            target=lambda: requests.get(
                server.url + "/v1/feed/changes",
                params={"since": head, "wait": 4},
                headers={"Authorization": f"Bearer {feed.token}"},
                timeout=30,
            )
        )
        holder.start()
        time.sleep(1)  # the holder is waiting in the worker's one slot for this client
        page = feed.changes(head, None, wait=1)
        holder.join()
        assert page["changes"] == [] and page["next_cursor"] == head
        assert 1 <= feed.busy_retries <= 5, feed.busy_retries
    finally:
        server.stop()
