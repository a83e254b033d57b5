"""The feed's promise on PostgreSQL: a follower that loads a snapshot mid-way through concurrent
publishing, withdrawing, expiring (by request and by the sweeper) and revoking, then applies every
change after the snapshot's cursor, ends with exactly the server's active set."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import threading
import time

import pytest
import requests
from conftest import requires_postgres
from conftest import threaded_server as start_threaded
from sqlalchemy import select

from blocklist.db import db, utcnow
from blocklist.entries.models import Entry

RUN_SECONDS = 4.0


@pytest.fixture
def threaded_server(app, database_url):
    with app.app_context():
        requires_postgres(app)
    server = start_threaded(database_url, workers=3, threads=8, BLOCKLIST_SWEEP_INTERVAL="1")
    yield server
    server.stop()


def _publisher(server, headers, stop, seed, counts, regulator=None):
    rng = random.Random(seed)
    mine: list[int] = []
    session = requests.Session()
    while not stop.is_set():
        roll = rng.random()
        if roll < 0.55 or not mine:
            items = []
            for _ in range(rng.randint(1, 5)):
                item = {"kind": rng.choice(["code", "number"]), "value": str(rng.randint(10690000, 10690300))}
                if item["kind"] == "number":
                    item["value"] = "1381234" + item["value"][-4:]
                if rng.random() < 0.2:
                    item["expires_at"] = (utcnow() + dt.timedelta(seconds=rng.uniform(0.5, 1.5))).isoformat()
                items.append(item)
            response = session.post(server.url + "/v1/entries/bulk", json={"items": items}, headers=headers, timeout=30)
            if response.status_code == 200:
                mine += [item["id"] for item in response.json()["items"]]
            counts["publish"] += 1
        elif roll < 0.8:
            session.post(f"{server.url}/v1/entries/{rng.choice(mine)}/withdraw", headers=headers, timeout=30)
            counts["withdraw"] += 1
        elif roll < 0.95 or regulator is None:
            session.post(
                f"{server.url}/v1/entries/{rng.choice(mine)}/expire",
                json={"reason": "recycled"},
                headers=headers,
                timeout=30,
            )
            counts["expire"] += 1
        else:
            session.post(
                f"{server.url}/v1/entries/{rng.choice(mine)}/revoke",
                json={"reason": "official"},
                headers=regulator,
                timeout=30,
            )
            counts["revoke"] += 1


class Follower:
    def __init__(self, server, headers):
        self.server, self.headers = server, headers
        self.set: set[tuple[str, str]] = set()
        self.cursor: str | None = None
        self.applied = 0

    def snapshot(self) -> None:
        response = requests.get(
            self.server.url + "/v1/feed/snapshot", headers={**self.headers, "Accept-Encoding": "gzip"}, timeout=30
        )
        assert response.status_code == 200
        self.set = {(row["kind"], row["value"]) for row in map(json.loads, response.text.splitlines())}
        self.cursor = response.headers["X-Blocklist-Cursor"]

    def page(self, wait: int = 0) -> bool:
        """Apply one page; True when more are waiting."""
        response = requests.get(
            self.server.url + "/v1/feed/changes",
            headers=self.headers,
            timeout=30 + wait,
            params={"since": self.cursor, "limit": 50, "wait": wait},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        for change in body["changes"]:
            key = (change["entry"]["kind"], change["entry"]["value"])
            if change["op"] == "upsert":
                self.set.add(key)
            else:
                self.set.discard(key)
        self.applied += len(body["changes"])
        self.cursor = body["next_cursor"]
        return body["has_more"]

    def checksum(self) -> tuple[int, str]:
        lines = sorted(f"{kind}\t{value}\n".encode() for kind, value in self.set)
        return len(lines), hashlib.sha256(b"".join(lines)).hexdigest()


def _enough(counts: dict[str, int], follower: Follower) -> bool:
    return follower.applied > 50 and counts["withdraw"] > 0 and counts["expire"] > 0


def test_snapshot_plus_changes_equals_the_active_set_under_concurrent_writes(app, threaded_server, auth):
    server = threaded_server
    publishers = [server.bearer(auth.org("carrier")) for _ in range(3)] + [server.bearer(auth.org("internet"))]
    regulator = server.bearer(auth.org("regulator"))
    follower = Follower(server, server.bearer(auth.org("consumer")))
    stop = threading.Event()
    counts = {"publish": 0, "withdraw": 0, "expire": 0, "revoke": 0}
    threads = [
        threading.Thread(
            target=_publisher, args=(server, headers, stop, seed, counts, regulator if seed == 0 else None)
        )
        for seed, headers in enumerate(publishers)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(RUN_SECONDS / 3)
        follower.snapshot()
        snapshot_size = len(follower.set)
        # RUN_SECONDS in all, and on a loaded machine longer (up to 4 times) until the writers
        # and the follower have done enough for the final checks to mean something.
        started = time.monotonic()
        while time.monotonic() < started + RUN_SECONDS * 2 / 3 or (
            time.monotonic() < started + 4 * RUN_SECONDS and not _enough(counts, follower)
        ):
            follower.page(wait=1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    time.sleep(2.5)  # the sweeper expires the last short-lived entries

    for _ in range(10):
        while follower.page():
            pass
        remote = requests.get(server.url + "/v1/feed/checksum", headers=follower.headers, timeout=30).json()
        if remote["cursor"] == follower.cursor:
            break
    else:
        pytest.fail("the follower never reached the checksum's cursor")
    with app.app_context():
        active = {tuple(r) for r in db.session.execute(select(Entry.kind, Entry.value).where(Entry.status == "active"))}
        expired_by_sweeper = db.session.scalar(
            select(db.func.count()).select_from(Entry).where(Entry.status_reason == "ttl")
        )
        db.session.remove()
    assert follower.set == active
    assert (remote["count"], remote["sha256"]) == follower.checksum()
    # the run really exercised what it claims
    assert snapshot_size > 0 and _enough(counts, follower) and expired_by_sweeper > 0
