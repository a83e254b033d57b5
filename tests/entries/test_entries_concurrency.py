"""Concurrent publishers on PostgreSQL, through a live gunicorn: corroboration never makes two
entries for one value, never answers 500, counts every org once; concurrent retries with one
Idempotency-Key write once."""

from __future__ import annotations

import threading

import requests
from conftest import LiveServer, requires_postgres
from sqlalchemy import func, select

from blocklist.db import db
from blocklist.entries.models import Entry, Report
from blocklist.feeds.models import FeedChange


def _hammer(calls, threads=16):
    """Run every call at once (a barrier releases them together); return their responses."""
    barrier = threading.Barrier(threads)
    results, lock = [], threading.Lock()

    def worker(chunk):
        barrier.wait()
        for call in chunk:
            response = call()
            with lock:
                results.append(response)

    chunks = [calls[i::threads] for i in range(threads)]
    pool = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    return results


def test_concurrent_publishers_corroborate_one_entry(app, auth, database_url):
    requires_postgres(app)
    server = LiveServer(database_url, workers=4, worker_class="gthread", extra_env={"BLOCKLIST_THREADS": "4"}).start()
    try:
        orgs = [auth.org("carrier" if i % 2 else "internet") for i in range(8)]
        headers = [server.bearer(creds) for creds in orgs]
        values = ["138 0000 1111", "+8613800001111", "13800001111", "0086 138-0000-1111"]
        calls = [
            lambda h=h, v=v: requests.post(
                server.url + "/v1/entries", json={"kind": "number", "value": v}, headers=h, timeout=30
            )
            for h in headers
            for v in values
        ]
        responses = _hammer(calls)
    finally:
        server.stop()
    assert len(responses) == 32
    assert {r.status_code for r in responses} <= {200, 201}, [r.text for r in responses if r.status_code >= 300][:3]
    assert sum(r.status_code == 201 for r in responses) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Entry)) == 1
        assert db.session.scalar(select(func.count()).select_from(Report)) == 8
        entry = db.session.scalars(select(Entry)).one()
        assert entry.reporters == 8
        positions = list(db.session.scalars(select(FeedChange.position).order_by(FeedChange.position)))
        assert positions == list(range(1, 33))
        db.session.remove()


def test_concurrent_retries_with_one_idempotency_key_write_once(app, auth, database_url):
    requires_postgres(app)
    server = LiveServer(database_url, workers=4).start()
    try:
        headers = {**server.bearer(auth.org("carrier")), "Idempotency-Key": "nightly-0001"}
        body = {"items": [{"kind": "code", "value": f"1069{i:05d}"} for i in range(300)]}
        calls = [
            lambda: requests.post(server.url + "/v1/entries/bulk", json=body, headers=headers, timeout=60)
            for _ in range(8)
        ]
        responses = _hammer(calls, threads=8)
    finally:
        server.stop()
    assert [r.status_code for r in responses] == [200] * 8, [r.text[:200] for r in responses]
    assert all(r.json() == responses[0].json() for r in responses)
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 7
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Entry)) == 300
        assert db.session.scalar(select(func.count()).select_from(FeedChange)) == 300
        db.session.remove()
