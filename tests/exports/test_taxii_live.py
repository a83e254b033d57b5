"""Done-when for TAXII: the stock `taxii2_client.v21` pages through every collection of a live
gunicorn while writers publish (in bulks sharing one time), withdraw, expire (by request and by
the sweeper) and revoke; following `next` and then `added_after` (as OpenCTI and MISP poll), the
latest version it holds of each object equals the server's entries: every id, every version,
`revoked` exactly for the entries that left the active set."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import requests
from conftest import threaded_server
from sqlalchemy import func, select
from taxii2client.v21 import Server, as_pages

from blocklist.db import db, utcnow
from blocklist.entries.models import Entry
from blocklist.exports import stix
from blocklist.feeds.models import FeedChange

RUN_SECONDS = 4.0
PER_REQUEST = 7  # small pages: many page boundaries inside bulks that share one time
KINDS = ("code", "number", "domain", "url")


def _value(rng: random.Random, kind: str) -> str:
    n = rng.randint(0, 150)
    return {
        "code": f"1069{n:04d}",
        "number": f"+861381234{n:04d}",
        "domain": f"d{n}.example.com",
        "url": f"http://u{n % 20}.example.net/p{n}",
    }[kind]


def _writer(url, headers, regulator, stop, seed, counts):
    rng = random.Random(seed)
    mine: list[int] = []
    session = requests.Session()
    while not stop.is_set():
        roll = rng.random()
        if roll < 0.55 or not mine:
            items = []
            for _ in range(rng.randint(1, 12)):
                kind = rng.choice(KINDS)
                item = {"kind": kind, "value": _value(rng, kind)}
                if rng.random() < 0.2:
                    item["expires_at"] = (utcnow() + dt.timedelta(seconds=rng.uniform(0.5, 1.5))).isoformat()
                items.append(item)
            response = session.post(url + "/v1/entries/bulk", json={"items": items}, headers=headers, timeout=30)
            if response.status_code == 200:
                mine += [item["id"] for item in response.json()["items"]]
                counts["publish"] += 1
        elif roll < 0.75:
            if session.post(f"{url}/v1/entries/{rng.choice(mine)}/withdraw", headers=headers, timeout=30).ok:
                counts["withdraw"] += 1
        elif roll < 0.9:
            path = f"{url}/v1/entries/{rng.choice(mine)}/expire"
            if session.post(path, json={"reason": "recycled"}, headers=headers, timeout=30).ok:
                counts["expire"] += 1
        else:
            path = f"{url}/v1/entries/{rng.choice(mine)}/revoke"
            if session.post(path, json={"reason": "official"}, headers=regulator, timeout=30).ok:
                counts["revoke"] += 1


def _enough(counts: dict[str, int]) -> bool:
    return counts["publish"] > 10 and all(counts[action] for action in ("withdraw", "expire", "revoke"))


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Subscriber:
    """What a TAXII consumer keeps per collection: the latest version of each object, and the
    `added_after` to poll from next."""

    def __init__(self, collection):
        self.collection = collection
        self.held: dict[str, dict] = {}
        self.last: str | None = None
        self.requests = 0

    def poll(self) -> int:
        """One poll (every page of it); returns how many objects came."""
        came = 0
        params = {"added_after": self.last} if self.last else {}
        for envelope in as_pages(self.collection.get_objects, per_request=PER_REQUEST, **params):
            self.requests += 1
            for obj in envelope.get("objects", []):
                came += 1
                held = self.held.get(obj["id"])
                assert held is None or _time(held["modified"]) <= _time(obj["modified"]), "an older version came later"
                assert held is None or held["modified"] != obj["modified"] or obj["type"] == "identity", "repeated"
                self.held[obj["id"]] = obj
                if obj["type"] == "indicator" and (self.last is None or _time(obj["modified"]) > _time(self.last)):
                    self.last = obj["modified"]
        return came

    def indicators(self) -> dict[str, tuple[dt.datetime, bool]]:
        return {
            i: (_time(o["modified"]), o.get("revoked", False)) for i, o in self.held.items() if o["type"] == "indicator"
        }


def test_taxii2_client_pages_every_collection_under_concurrent_writes(app, database_url, auth):
    server = threaded_server(database_url, workers=2, threads=6, BLOCKLIST_SWEEP_INTERVAL="1")
    try:
        reader = auth.org("consumer")
        writers = [server.bearer(auth.org("carrier")) for _ in range(2)] + [server.bearer(auth.org("internet"))]
        regulator = server.bearer(auth.org("regulator"))
        api_root = Server(server.url + "/taxii2/", user=reader.client_id, password=reader.client_secret).default
        collections = api_root.collections
        assert len(collections) == 9
        subscribers = [Subscriber(c) for c in collections]
        stop, counts = threading.Event(), {"publish": 0, "withdraw": 0, "expire": 0, "revoke": 0}
        threads = [
            threading.Thread(target=_writer, args=(server.url, h, regulator, stop, seed, counts))
            for seed, h in enumerate(writers)
        ]
        for thread in threads:
            thread.start()
        try:
            # RUN_SECONDS, and on a loaded machine longer (up to 4 times) until the writers have
            # done enough of every write for the final check to mean something.
            started = time.monotonic()
            while time.monotonic() < started + RUN_SECONDS or (
                time.monotonic() < started + 4 * RUN_SECONDS and not _enough(counts)
            ):
                for subscriber in subscribers:
                    subscriber.poll()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        time.sleep(2.5)  # the sweeper expires the last short-lived entries
        for subscriber in subscribers:
            while subscriber.poll():
                pass
    finally:
        server.stop()

    with app.app_context():
        latest = (
            select(FeedChange.entry_id, func.max(FeedChange.position).label("position"))
            .group_by(FeedChange.entry_id)
            .subquery()
        )
        rows = db.session.execute(
            select(Entry.kind, Entry.value, Entry.status, FeedChange.created_at)
            .join(latest, latest.c.entry_id == Entry.id)
            .join(FeedChange, FeedChange.position == latest.c.position)
        ).all()
        expired_by_sweeper = db.session.scalar(select(func.count()).where(Entry.status_reason == "ttl"))
        db.session.remove()
    expected = {
        kind: {
            stix.indicator_id(k, v): (changed, status != "active")
            for k, v, status, changed in rows
            if kind in (k, "all")
        }
        for kind in (*KINDS, "all")
    }
    by_title = {s.collection.title: s for s in subscribers}
    assert by_title["all"].indicators() == expected["all"]
    for kind in KINDS:
        assert by_title[kind].indicators() == expected[kind], kind
    for kind in ("range", "keyword", "enterprise", "person"):
        assert by_title[kind].indicators() == {}
    # The run really exercised what it claims.
    active = sum(not revoked for _, revoked in expected["all"].values())
    assert active > 20 and len(expected["all"]) - active > 5
    assert _enough(counts) and expired_by_sweeper
    assert sum(s.requests for s in subscribers) > 50
