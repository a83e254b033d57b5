"""Faults on a live gunicorn over PostgreSQL: a worker killed in the middle of a bulk publish
leaves all or nothing (and a retry with the same Idempotency-Key writes exactly once); the
database going away answers 503 problems and fails /readyz, and the service recovers by itself."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import requests
from conftest import LiveServer, requires_postgres
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from blocklist.audit.verify import verify_chain
from blocklist.db import db
from blocklist.entries.models import Entry
from blocklist.feeds.models import FeedChange


def _workers(server) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def _admin_sql(database_url: str, statement: str) -> None:
    """Run SQL from another database of the same cluster (needed for ALTER DATABASE)."""
    url = make_url(database_url)
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    subprocess.run(["psql", admin.replace("+psycopg", ""), "-qc", statement], check=True, capture_output=True)


def test_worker_killed_mid_bulk_leaves_all_or_nothing(app, auth, database_url):
    requires_postgres(app)
    server = LiveServer(database_url, workers=1).start()
    try:
        headers = {**server.bearer(auth.org("carrier")), "Idempotency-Key": "killed-batch"}
        items = {"items": [{"kind": "number", "value": f"1370{i:07d}"} for i in range(10_000)]}
        outcome = {}

        def send():
            try:
                outcome["response"] = requests.post(
                    server.url + "/v1/entries/bulk", json=items, headers=headers, timeout=120
                )
            except requests.RequestException as error:
                outcome["error"] = error

        sender = threading.Thread(target=send)
        sender.start()
        # Wait until the worker is inside its transaction (it holds the entry-writer lock).
        deadline = time.monotonic() + 60
        with app.app_context():
            while time.monotonic() < deadline:
                busy = db.session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction') "
                        "AND backend_xid IS NOT NULL"
                    )
                )
                db.session.rollback()
                if busy:
                    break
                time.sleep(0.005)
        for pid in _workers(server):
            os.kill(pid, signal.SIGKILL)
        sender.join(120)
        assert "error" in outcome or outcome["response"].status_code >= 500, "the request was not interrupted"
        time.sleep(1)  # the database notices the dead connection and rolls back
        with app.app_context():
            entries = db.session.scalar(select(func.count()).select_from(Entry))
            changes = db.session.scalar(select(func.count()).select_from(FeedChange))
            assert (entries, changes) in ((0, 0), (10_000, 10_000)), (entries, changes)
            assert verify_chain(db.session).ok
            db.session.remove()
        # gunicorn's master replaces the worker; the client's retry writes exactly once.
        retry = None
        for _ in range(100):
            try:
                retry = requests.post(server.url + "/v1/entries/bulk", json=items, headers=headers, timeout=120)
                break
            except requests.RequestException:
                time.sleep(0.1)
        assert retry is not None and retry.status_code == 200, retry and retry.text[:300]
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Entry)) == 10_000
            assert db.session.scalar(select(func.count()).select_from(FeedChange)) == 10_000
            assert verify_chain(db.session).ok
            db.session.remove()
    finally:
        server.stop()


def test_database_outage_gives_503_and_the_service_recovers(app, auth, database_url):
    requires_postgres(app)
    server = LiveServer(database_url, workers=2).start()
    name = make_url(database_url).database
    headers = server.bearer(auth.org("consumer"))
    try:
        assert requests.get(server.url + "/v1/entries", headers=headers, timeout=10).status_code == 200
        _admin_sql(database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _admin_sql(database_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        ready = requests.get(server.url + "/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.headers["Content-Type"] == "application/problem+json"
        down = requests.get(server.url + "/v1/entries", headers=headers, timeout=30)
        assert down.status_code == 503, down.text
        assert down.headers["Content-Type"] == "application/problem+json"
        assert down.headers["Retry-After"]
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200  # alive, not ready
    finally:
        _admin_sql(database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    try:
        # no restart: the next requests reconnect by themselves
        deadline = time.monotonic() + 30
        while requests.get(server.url + "/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.2)
        assert requests.get(server.url + "/v1/entries", headers=headers, timeout=10).status_code == 200
    finally:
        server.stop()
        # The outage also killed this process's pooled connections, some used less than the
        # pool's idle-ping interval ago (db.ping_after_idle): drop them before the teardown
        # empties the tables.
        with app.app_context():
            db.engine.dispose()
