"""`blocklist-sync --follow` as a real process against a live gunicorn: it survives the server
restarting and the database going away, re-authenticates when its token is revoked, and repairs
a mirror that no longer matches the server's checksum."""

from __future__ import annotations

import pytest
import requests
from conftest import threaded_server
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sync_support import FAST_RETRIES, Follower, mirror_set, run, secret_env, server_set, sync_command, wait_for

from blocklist.db import db


@pytest.fixture
def feed_server(app, database_url):
    server = threaded_server(database_url, workers=1, threads=6)
    yield server
    server.stop()


def _follow(server, creds, db_path, *extra) -> Follower:
    args = sync_command(server, creds, db_path, "--follow", "--wait", "2", *FAST_RETRIES, *extra)
    return Follower(args, secret_env(creds))


def test_follow_survives_a_server_restart(app, feed_server, auth, publish, tmp_path):
    publish("code", "10687415")
    creds = auth.org("consumer")
    db_path = tmp_path / "mirror.sqlite"
    follower = _follow(feed_server, creds, db_path, "--verify-interval", "0")
    try:
        assert follower.logged("in sync: 1 entries"), follower.stderr
        feed_server.stop()  # gunicorn gone: connections refused
        assert follower.logged("server unavailable"), follower.stderr
        assert follower.logged("try 3 failed"), follower.stderr  # it keeps trying, with back-off
        feed_server.start()  # the same port again
        assert follower.logged("server reachable again"), follower.stderr
        publish("number", "13812345678")  # published after recovery
        assert wait_for(lambda: ("number", "+8613812345678") in mirror_set(db_path)), follower.stderr
        assert mirror_set(db_path) == server_set(app)
        assert follower.process.poll() is None
    finally:
        follower.stop()


def _admin_engine(database_url: str):
    """A connection to the server's maintenance database `postgres`, as the test's (super)user."""
    return create_engine(make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def test_follow_survives_a_database_outage(app, database_url, feed_server, auth, publish, tmp_path):
    """PostgreSQL refuses every connection to the database for a while (ALLOW_CONNECTIONS
    false, and every open session terminated): the server answers 503 and the follower keeps
    retrying until the database is back, then applies what is published after.

    Not on SQLite: it has no server to lose, and a file that a root test process cannot make
    unreadable to a process running as root; the client's side of it (503 + Retry-After, then
    recovery) is the same code the restart test drives through refused connections."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("a database outage is tested on PostgreSQL (set BLOCKLIST_TEST_DATABASE_URL)")
    name = make_url(database_url).database
    publish("code", "10687415")
    creds = auth.org("consumer")
    db_path = tmp_path / "mirror.sqlite"
    follower = _follow(feed_server, creds, db_path, "--verify-interval", "0")
    admin = _admin_engine(database_url)
    try:
        assert follower.logged("in sync: 1 entries"), follower.stderr
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
        assert follower.logged("503 Service Unavailable"), follower.stderr
        assert follower.logged("try 2 failed"), follower.stderr
        assert requests.get(feed_server.url + "/readyz", timeout=10).status_code == 503  # really down
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        with app.app_context():
            db.engine.dispose()  # the test's own pooled connections were terminated too
    try:
        assert follower.logged("server reachable again"), follower.stderr
        publish("number", "13812345678")
        assert wait_for(lambda: ("number", "+8613812345678") in mirror_set(db_path)), follower.stderr
        assert mirror_set(db_path) == server_set(app)
        assert follower.process.poll() is None
    finally:
        follower.stop()


def test_the_follower_repairs_a_mirror_that_drifted(app, feed_server, auth, publish, tmp_path):
    import sqlite3

    publish("code", "10687415")
    publish("domain", "pay-scam.com", as_="internet")
    creds = auth.org("consumer")
    db_path = tmp_path / "mirror.sqlite"
    follower = _follow(feed_server, creds, db_path, "--verify-interval", "1")
    try:
        assert follower.logged("in sync: 2 entries"), follower.stderr
        with sqlite3.connect(db_path) as conn:  # a row the server never had, a row lost
            conn.execute("INSERT INTO entries (kind, value, id) VALUES ('code', '99999999', 0)")
            conn.execute("DELETE FROM entries WHERE kind = 'domain'")
        assert mirror_set(db_path) != server_set(app)
        assert follower.logged("checksum mismatch"), follower.stderr
        assert wait_for(lambda: mirror_set(db_path) == server_set(app)), follower.stderr
        assert follower.process.poll() is None
    finally:
        follower.stop()
    assert "re-snapshotting" in follower.stderr


def test_a_revoked_token_is_replaced(app, feed_server, auth, publish):
    """The server refuses the client's token (expired or revoked: 401); the client gets a new
    one with its credentials and the request succeeds."""
    from blocklist.sync.api import FeedClient

    creds = auth.org("consumer")
    feed = FeedClient(feed_server.url, creds.client_id, creds.client_secret, timeout=20)
    first = feed.checksum(None)
    old_token = feed.token
    revoked = requests.post(
        feed_server.url + "/oauth/revoke",
        data={"token": old_token},
        auth=(creds.client_id, creds.client_secret),
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    assert (
        requests.get(
            feed_server.url + "/v1/feed/checksum", headers={"Authorization": f"Bearer {old_token}"}, timeout=10
        ).status_code
        == 401
    )
    publish("code", "10687415")
    second = feed.checksum(None)
    assert feed.token != old_token
    assert second["count"] == first["count"] + 1


def test_one_shot_sync_gives_up_after_its_tries_while_follow_does_not(app, feed_server, auth, tmp_path):
    """The same outage: a one-shot sync stops after --tries with exit 1; a follower started
    while the server is down waits for it and syncs once it is up."""
    creds = auth.org("consumer")
    feed_server.stop()
    one_shot = run(
        sync_command(feed_server, creds, tmp_path / "a.sqlite", "--tries", "2", *FAST_RETRIES), secret_env(creds)
    )
    assert one_shot.returncode == 1 and "try 1 failed" in one_shot.stderr and "try 2 failed" not in one_shot.stderr
    follower = _follow(feed_server, creds, tmp_path / "b.sqlite")
    try:
        assert follower.logged("try 2 failed"), follower.stderr
        feed_server.start()
        assert follower.logged("in sync: 0 entries"), follower.stderr
    finally:
        follower.stop()
