"""On PostgreSQL, with concurrent writers and the real clock: a follower of the `min_tier=block`
feed (snapshot mid-run, then every change) ends with exactly the server's block set, while
carriers and standard orgs publish, corroborate and withdraw and the tier job (in every serving
process's sweeper) moves entries across tiers as they age. Half-lives of seconds make ageing
happen during the run."""

from __future__ import annotations

import random
import threading
import time

import pytest
import requests
from conftest import requires_postgres
from conftest import threaded_server as start_threaded
from sqlalchemy import func, select
from test_feed_consistency import Follower

from blocklist.db import db
from blocklist.entries.models import Entry
from blocklist.feeds.models import FeedChange

RUN_SECONDS = 5.0


class TierFollower(Follower):
    def __init__(self, server, headers, min_tier):
        super().__init__(server, headers)
        self.min_tier = min_tier

    def snapshot(self) -> None:
        import json

        response = requests.get(
            self.server.url + "/v1/feed/snapshot", headers=self.headers, params={"min_tier": self.min_tier}, timeout=30
        )
        assert response.status_code == 200
        self.set = {(row["kind"], row["value"]) for row in map(json.loads, response.text.splitlines())}
        self.cursor = response.headers["X-Blocklist-Cursor"]

    def page(self, wait: int = 0) -> bool:
        response = requests.get(
            self.server.url + "/v1/feed/changes",
            headers=self.headers,
            timeout=30 + wait,
            params={"since": self.cursor, "limit": 50, "wait": wait, "min_tier": self.min_tier},
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


@pytest.fixture
def threaded_server(app, database_url):
    with app.app_context():
        requires_postgres(app)
    server = start_threaded(
        database_url,
        workers=3,
        threads=8,
        BLOCKLIST_SWEEP_INTERVAL="1",
        BLOCKLIST_HALF_LIFE_NUMBER="4",
        BLOCKLIST_HALF_LIFE_CODE="6",
    )
    yield server
    server.stop()


def _writer(server, headers, stop, seed):
    rng = random.Random(seed)
    mine: list[int] = []
    session = requests.Session()
    while not stop.is_set():
        if rng.random() < 0.8 or not mine:
            items = [
                {"kind": rng.choice(["code", "number"]), "value": str(rng.randint(10690000, 10690060))}
                for _ in range(rng.randint(1, 4))
            ]
            for item in items:
                if item["kind"] == "number":
                    item["value"] = "1381234" + item["value"][-4:]
            response = session.post(server.url + "/v1/entries/bulk", json={"items": items}, headers=headers, timeout=30)
            if response.status_code == 200:
                mine += [item["id"] for item in response.json()["items"]]
        else:
            session.post(f"{server.url}/v1/entries/{rng.choice(mine)}/withdraw", headers=headers, timeout=30)
        time.sleep(rng.uniform(0, 0.05))


def _enough(app, follower: TierFollower) -> bool:
    """Entries moved across tiers in the feed (an upsert below block) and by ageing (an entry now
    at watch), and the follower applied a fair number of changes."""
    with app.app_context():
        below = db.session.scalar(
            select(func.count()).select_from(FeedChange).where(FeedChange.op == "upsert", FeedChange.tier != "block")
        )
        aged = db.session.scalar(select(func.count()).select_from(Entry).where(Entry.tier == "watch"))
        db.session.remove()
    return below > 0 and aged > 0 and follower.applied > 20


def test_a_block_follower_stays_exact_under_concurrent_writes_and_ageing(app, threaded_server, auth):
    server = threaded_server
    writers = [server.bearer(auth.org(kind)) for kind in ("carrier", "carrier", "internet", "internet", "internet")]
    follower = TierFollower(server, server.bearer(auth.org("consumer")), "block")
    stop = threading.Event()
    threads = [threading.Thread(target=_writer, args=(server, h, stop, seed)) for seed, h in enumerate(writers)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(RUN_SECONDS / 3)
        follower.snapshot()
        # RUN_SECONDS in all, and on a loaded machine longer (up to 4 times) until the writers,
        # the tier job and the follower have done enough for the final checks to mean something.
        started = time.monotonic()
        while time.monotonic() < started + RUN_SECONDS * 2 / 3 or (
            time.monotonic() < started + 4 * RUN_SECONDS and not _enough(app, follower)
        ):
            follower.page(wait=1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    # The tier job keeps moving entries as they age: compare at whatever cursor the checksum is
    # taken, catching up to it first.
    for _ in range(20):
        while follower.page():
            pass
        remote = requests.get(
            server.url + "/v1/feed/checksum", headers=follower.headers, params={"min_tier": "block"}, timeout=30
        ).json()
        if remote["cursor"] == follower.cursor:
            break
    else:
        pytest.fail("the follower never reached the checksum's cursor")
    assert (remote["count"], remote["sha256"]) == follower.checksum()
    # the run really moved entries across tiers, in the feed and by ageing
    assert _enough(app, follower)
