"""Feed benchmark (run by hand, not in CI) against a scratch PostgreSQL database it wipes:

    .venv/bin/python bench/bench_feeds.py \
        --database-url postgresql://postgres@127.0.0.1:5432/blocklist_feeds_bench --n 100000

Loads N active entries with SQL producing the rows the API would (entries, reports, tags, one
`upsert` change each), serves the app with gunicorn (gthread), then measures:
  - the snapshot endpoint (jsonl, csv, jsonl+gzip): rows/s and seconds ÷ the seconds of
    `COPY (SELECT ... FROM entries WHERE status='active') TO STDOUT` of the same rows;
  - peak RSS of the serving worker processes (VmHWM);
  - `GET /v1/tags` latency (median and worst of 20);
  - changes/s read from the delta feed (pages of 10,000);
  - propagation latency publish → a long-polling client sees it, p50/p99.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

import psycopg
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

# The entries' object_uuid is their UUIDv5 (blocklist/values/ids.py), made by uuid-ossp's
# uuid_generate_v5 (PostgreSQL contrib) in this scratch database.
LOAD_SQL = """
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
INSERT INTO entries (id, kind, value, raw_value, status, category, reporters, version, expires_at,
                     created_at, updated_at, object_uuid, feed_tags)
SELECT i, k, v, raw, 'active', category, 1, 1, expires, now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc',
       uuid_generate_v5('4d1f4a4e-6f0b-5c61-9a57-2f1d0c9e8b31', k || ':' || v), feed_tags FROM (
SELECT i, CASE WHEN i % 10 = 0 THEN 'code' ELSE 'number' END AS k,
       CASE WHEN i % 10 = 0 THEN (10000000 + i)::text ELSE '+86138' || lpad(i::text, 8, '0') END AS v,
       CASE WHEN i % 10 = 0 THEN (10000000 + i)::text ELSE '138' || lpad(i::text, 8, '0') END AS raw,
       CASE WHEN i % 3 = 0 THEN 'fraud' END AS category,
       now() AT TIME ZONE 'utc' + interval '180 days' AS expires,
       CASE WHEN i % 15 = 0 THEN '["channel:sms","fraud:ticket-scam"]' WHEN i % 3 = 0 THEN '["fraud:ticket-scam"]'
            WHEN i % 5 = 0 THEN '["channel:sms"]' ELSE '[]' END AS feed_tags
FROM generate_series(1, %(n)s) i) g;
INSERT INTO reports (entry_id, org_id, client_id, raw_value, created_at, updated_at)
SELECT id, %(org)s, %(client)s, raw_value, created_at, updated_at FROM entries;
INSERT INTO entry_tags (entry_id, tag) SELECT id, 'fraud:ticket-scam' FROM entries WHERE id % 3 = 0;
INSERT INTO entry_tags (entry_id, tag) SELECT id, 'channel:sms' FROM entries WHERE id % 5 = 0;
INSERT INTO tag_counts (tag, count) SELECT tag, count(*) FROM entry_tags GROUP BY tag;
INSERT INTO feed_changes (position, entry_id, op, kind, value, created_at)
SELECT id, id, 'upsert', kind, value, created_at FROM entries;
UPDATE feed_head SET position = %(n)s WHERE id = 1;
SELECT setval(pg_get_serial_sequence('entries', 'id'), %(n)s);
ANALYZE;
"""
COPY_SQL = (
    "COPY (SELECT id, kind, value, status, category, reporters, expires_at, updated_at "
    "FROM entries WHERE status = 'active') TO STDOUT"
)


def setup(url: str, n: int, load_at: str | None = None) -> dict:
    """Wipe the database at `url` (a plain postgresql:// URL), migrate, make clients, load N rows
    (with `load_at`, a migration revision: load there, then time the upgrade to head)."""
    import flask_migrate
    from sqlalchemy import text

    from blocklist import create_app
    from blocklist.auth import services as auth_services
    from blocklist.context import OPERATOR
    from blocklist.db import db

    app = create_app({"database_url": url, "secret_hash_method": "pbkdf2:sha256:1000", "secret_key": "bench"})
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        flask_migrate.upgrade(revision=load_at or "head")
        carrier = auth_services.create_org("bench-carrier", "carrier", actor=OPERATOR)
        carrier_client, carrier_secret = auth_services.create_client(carrier, actor=OPERATOR)
        consumer = auth_services.create_org("bench-consumer", "consumer", actor=OPERATOR)
        consumer_client, consumer_secret = auth_services.create_client(consumer, actor=OPERATOR)
        db.session.commit()
        ids = (carrier.id, carrier_client.client_id)
        creds = {
            "carrier": (carrier_client.client_id, carrier_secret),
            "consumer": (consumer_client.client_id, consumer_secret),
        }
        db.session.remove()
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(
            LOAD_SQL.replace("%(n)s", str(n)).replace("%(org)s", str(ids[0])).replace("%(client)s", f"'{ids[1]}'")
        )
    print(f"loaded {n} entries in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if load_at:
        with app.app_context():
            started = time.perf_counter()
            flask_migrate.upgrade()
            print(f"upgraded {n} entries from {load_at} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return creds


def token(base: str, creds) -> dict[str, str]:
    response = requests.post(base + "/oauth/token", data={"grant_type": "client_credentials"}, auth=creds, timeout=30)
    response.raise_for_status()
    return {"Authorization": "Bearer " + response.json()["access_token"]}


def time_copy(url: str) -> tuple[float, int]:
    with psycopg.connect(url) as conn:
        cur = conn.cursor()
        started, size = time.perf_counter(), 0
        with cur.copy(COPY_SQL) as copy:
            for data in copy:
                size += len(data)
        return time.perf_counter() - started, size


def time_snapshot(base: str, headers: dict, params: dict, gzip: bool = False) -> tuple[float, int, int]:
    headers = {**headers, "Accept-Encoding": "gzip" if gzip else "identity"}
    started, size, lines = time.perf_counter(), 0, 0
    with requests.get(base + "/v1/feed/snapshot", params=params, headers=headers, stream=True, timeout=600) as r:
        r.raise_for_status()
        for chunk in r.raw.stream(1 << 20, decode_content=False):
            size += len(chunk)
            if not gzip:
                lines += chunk.count(b"\n")
    return time.perf_counter() - started, size, lines


def time_tags(base: str, headers: dict, runs: int = 20) -> list[float]:
    """Seconds of each of `runs` `GET /v1/tags` (one connection), sorted."""
    session = requests.Session()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = session.get(base + "/v1/tags", params={"limit": 1000}, headers=headers, timeout=600)
        response.raise_for_status()
        times.append(time.perf_counter() - started)
    return sorted(times)


def worker_peak_rss_kb(master_pid: int) -> int:
    peak = 0
    children = open(f"/proc/{master_pid}/task/{master_pid}/children").read().split()
    for pid in children:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak


def feed_rate(base: str, headers: dict, cap: int) -> tuple[float, int]:
    """Read the delta feed from its start in pages of 10,000, up to `cap` changes."""
    started, count, since = time.perf_counter(), 0, None
    while count < cap:
        params = {"limit": 10000, **({"since": since} if since else {})}
        body = requests.get(base + "/v1/feed/changes", params=params, headers=headers, timeout=120).json()
        count += len(body["changes"])
        since = body["next_cursor"]
        if not body["has_more"]:
            break
    return time.perf_counter() - started, count


def propagation(base: str, reader: dict, writer: dict, samples: int) -> list[float]:
    # A cursor at the head: the checksum of the smallest kind names one (reading the log from
    # its start would take half an hour at 10M entries).
    since = requests.get(base + "/v1/feed/checksum", params={"kind": "range"}, headers=reader, timeout=120).json()[
        "cursor"
    ]
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def follow():
        nonlocal since
        session = requests.Session()
        while not done.is_set():
            body = session.get(
                base + "/v1/feed/changes", params={"since": since, "wait": 5}, headers=reader, timeout=30
            ).json()
            now = time.perf_counter()
            for change in body["changes"]:
                seen.setdefault(change["entry"]["value"], now)
            since = body["next_cursor"]

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(0.5)
    session = requests.Session()
    for i in range(samples):
        value = str(19990000 + i)
        sent[value] = time.perf_counter()
        session.post(base + "/v1/entries", json={"kind": "code", "value": value}, headers=writer, timeout=30)
        time.sleep(0.02)
    deadline = time.monotonic() + 10
    while len(seen) < samples and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    return sorted((seen[v] - sent[v]) * 1000 for v in sent if v in seen)


def head_cursor(base: str, reader: dict) -> str:
    """A cursor at the feed's head: the checksum of the smallest kind names one (reading the log
    from its start would take half an hour at 10M entries)."""
    response = requests.get(base + "/v1/feed/checksum", params={"kind": "range"}, headers=reader, timeout=120)
    response.raise_for_status()
    return response.json()["cursor"]


def _followers(base: str, reader: dict, since: str, count: int, stop, ready, out) -> None:
    """`count` long-poll followers (threads of this process), each recording when it first saw
    each value (wall clock: the same clock as the writer's, in another process); puts
    ([{value: seen}], refused) on `out` once `stop` is set."""
    seen: list[dict[str, float]] = [{} for _ in range(count)]
    refused = [0]

    def follow(mine: dict[str, float]) -> None:
        session, cursor, first = requests.Session(), since, True
        while not stop.is_set():
            if first:
                ready.release()
                first = False
            response = session.get(
                base + "/v1/feed/changes", params={"since": cursor, "wait": 5}, headers=reader, timeout=30
            )
            now = time.time()
            if response.status_code == 429:  # a long-poll bound: counted, then retried
                refused[0] += 1
                time.sleep(0.05)
                continue
            body = response.json()
            for change in body["changes"]:
                mine.setdefault(change["entry"]["value"], now)
            cursor = body["next_cursor"]

    threads = [threading.Thread(target=follow, args=(mine,), daemon=True) for mine in seen]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(10)
    out.put((seen, refused[0]))


def propagation_followers(
    base: str, reader: dict, writer: dict, *, followers: int = 100, samples: int = 30, processes: int = 4
) -> dict:
    """Publish → long-poll delivery with `followers` followers connected at once: `followers`
    clients long-poll `GET /v1/feed/changes?wait=5` from the head (threads in `processes`
    processes, so one client process's GIL does not queue their reads), while one writer
    publishes `samples` codes one at a time (`POST /v1/entries`, 0.25 s apart). The delay of a
    (sample, follower) pair is from the moment the publish request was sent (its commit lies
    inside the request, so this bounds commit → delivery from above) to that follower's receipt.
    Returns the sorted delays (ms), how many pairs were never seen, the publish requests' own
    times (ms) and the 429s the followers got."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    stop, ready, out = context.Event(), context.Semaphore(0), context.Queue()
    session = requests.Session()
    warm = session.post(base + "/v1/entries", json={"kind": "code", "value": "19989999"}, headers=writer, timeout=60)
    warm.raise_for_status()  # the workers' first write (start-up costs) before the measurement
    since = head_cursor(base, reader)
    share = [followers // processes + (i < followers % processes) for i in range(processes)]
    workers = [context.Process(target=_followers, args=(base, reader, since, n, stop, ready, out)) for n in share if n]
    for worker in workers:
        worker.start()
    for _ in range(followers):
        ready.acquire(timeout=30)
    time.sleep(1.0)  # every follower's first long-poll is waiting in the server
    sent: dict[str, float] = {}
    publish_ms = []
    stamp = time.time_ns() // 1000
    for i in range(samples):
        value = f"1999{(stamp + i) % 10**4:04d}"  # a code (8 digits, stored as sent)
        sent[value] = time.time()
        response = session.post(base + "/v1/entries", json={"kind": "code", "value": value}, headers=writer, timeout=30)
        response.raise_for_status()
        publish_ms.append((time.time() - sent[value]) * 1000)
        time.sleep(0.25)
    time.sleep(3)
    stop.set()
    results = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
    delays, missing, refused = [], 0, 0
    for seen_lists, worker_refused in results:
        refused += worker_refused
        for seen in seen_lists:
            for value, at in sent.items():
                if value in seen:
                    delays.append((seen[value] - at) * 1000)
                else:
                    missing += 1
    return {"delays": sorted(delays), "missing": missing, "publish_ms": sorted(publish_ms), "refused": refused}


def percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted values."""
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/blocklist_feeds_bench")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--feed-changes", type=int, default=100_000, help="changes to read for changes/s")
    args = parser.parse_args()
    from conftest import LiveServer

    creds = setup(args.database_url, args.n)
    server = LiveServer(
        args.database_url, workers=2, worker_class="gthread", extra_env={"GUNICORN_CMD_ARGS": "--threads 8"}
    ).start()
    try:
        base = server.url
        reader, writer = token(base, creds["consumer"]), token(base, creds["carrier"])
        copy_s, copy_bytes = min(time_copy(args.database_url) for _ in range(args.runs))
        rows = [("COPY ... TO STDOUT (psql baseline)", copy_s, copy_bytes, args.n)]
        for label, params, gz in (
            ("snapshot jsonl", {"format": "jsonl"}, False),
            ("snapshot csv", {"format": "csv"}, False),
            ("snapshot jsonl + gzip", {"format": "jsonl"}, True),
        ):
            best = min((time_snapshot(base, reader, params, gz) for _ in range(args.runs)), key=lambda r: r[0])
            rows.append((label, best[0], best[1], args.n))
        tags = time_tags(base, reader)
        rss = worker_peak_rss_kb(server.process.pid)
        feed_s, feed_n = feed_rate(base, reader, args.feed_changes)
        latencies = propagation(base, reader, writer, args.samples)
    finally:
        server.stop()

    print(f"\nN = {args.n} active entries (best of {args.runs})\n")
    print(f"{'what':36} {'seconds':>8} {'rows/s':>11} {'MB':>8} {'x COPY':>7}")
    for label, seconds, size, n in rows:
        print(f"{label:36} {seconds:8.2f} {n / seconds:11,.0f} {size / 1e6:8.1f} {seconds / copy_s:7.2f}")
    print(f"\nGET /v1/tags: median {statistics.median(tags) * 1000:.1f} ms, worst {tags[-1] * 1000:.1f} ms")
    print(f"peak RSS of a serving worker: {rss / 1024:.0f} MB")
    print(f"delta feed: {feed_n} changes in {feed_s:.2f} s = {feed_n / feed_s:,.0f} changes/s")
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"propagation publish -> long-poller sees it: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
            f"({len(latencies)}/{args.samples} seen)"
        )


if __name__ == "__main__":
    main()
