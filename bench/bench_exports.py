"""Export benchmark (run by hand, not in CI) against a scratch PostgreSQL database it wipes:

    .venv/bin/python bench/bench_exports.py \
        --database-url postgresql://postgres@127.0.0.1:5432/blocklist_exports_bench --n 1000000

Loads N active entries with SQL (as bench_feeds.py does; 10% codes, 10% domains, 10% URLs, the
rest numbers; one `upsert` change each), serves the app with gunicorn (gthread), then reads every
export once per run (best of --runs) and reports rows/s next to the JSONL snapshot's, plus the
peak RSS of the serving workers (bounded memory: it must not grow with N). TAXII is paged (1000
objects a request); its rate is measured over the first --taxii-objects objects.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import bench_feeds  # noqa: E402

LOAD_SQL = """
INSERT INTO entries (id, kind, value, raw_value, status, category, reporters, version, expires_at,
                     created_at, updated_at)
SELECT i, k, v, v, 'active', CASE WHEN i % 3 = 0 THEN 'fraud' END, 1, 1,
       now() AT TIME ZONE 'utc' + interval '180 days', now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'
FROM (SELECT i,
        CASE i % 10 WHEN 0 THEN 'code' WHEN 1 THEN 'domain' WHEN 2 THEN 'url' ELSE 'number' END AS k,
        CASE i % 10 WHEN 0 THEN (10000000 + i)::text
                    WHEN 1 THEN 'scam' || i || '.example.com'
                    WHEN 2 THEN 'http://h' || (i % 100000) || '.example.net/p' || i
                    ELSE '+86138' || lpad(i::text, 8, '0') END AS v
      FROM generate_series(1, %(n)s) i) g;
INSERT INTO reports (entry_id, org_id, client_id, raw_value, created_at, updated_at)
SELECT id, %(org)s, %(client)s, raw_value, created_at, updated_at FROM entries;
INSERT INTO entry_tags (entry_id, tag) SELECT id, 'fraud:ticket-scam' FROM entries WHERE id % 3 = 0;
INSERT INTO feed_changes (position, entry_id, op, kind, value, created_at)
SELECT id, id, 'upsert', kind, value, created_at + id * interval '1 microsecond' FROM entries;
UPDATE feed_head SET position = %(n)s WHERE id = 1;
SELECT setval(pg_get_serial_sequence('entries', 'id'), %(n)s);
ANALYZE;
"""

EXPORTS = [
    ("snapshot jsonl (baseline)", "/v1/feed/snapshot", {"format": "jsonl"}, lambda n: n),
    ("plain list number.txt", "/v1/export/number.txt", {}, lambda n: n * 7 // 10),
    ("hosts file", "/v1/export/hosts", {}, lambda n: n // 5),
    ("RPZ zone", "/v1/export/rpz", {"zone": "rpz.example.org"}, lambda n: n // 5),
    ("MISP hashes.csv", "/v1/export/misp/hashes.csv", {}, lambda n: n),
]


def time_get(base: str, path: str, headers: dict, params: dict) -> tuple[float, int, int]:
    started, size, lines = time.perf_counter(), 0, 0
    headers = {**headers, "Accept-Encoding": "identity"}
    with requests.get(base + path, params=params, headers=headers, stream=True, timeout=3600) as response:
        response.raise_for_status()
        for chunk in response.raw.stream(1 << 20, decode_content=False):
            size += len(chunk)
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, size, lines


def time_taxii(base: str, headers: dict, cap: int) -> tuple[float, int]:
    collections = requests.get(base + "/taxii2/blocklist/collections/", headers=headers, timeout=60).json()
    everything = collections["collections"][-1]["id"]
    url = f"{base}/taxii2/blocklist/collections/{everything}/objects/"
    started, count, token = time.perf_counter(), 0, None
    while count < cap:
        params = {"limit": 1000, **({"next": token} if token else {})}
        body = requests.get(url, params=params, headers=headers, timeout=600).json()
        count += len(body["objects"])
        token = body.get("next")
        if not body["more"]:
            break
    return time.perf_counter() - started, count


def time_object_lookups(base: str, headers: dict, count: int) -> tuple[float, float, float]:
    """Mean seconds of `objects/{id}/` for `count` listed indicators (taken from the first page)
    and for `count` unknown ids, and of one `match[id]` page naming 50 listed ids (the most that
    fit gunicorn's 4094-byte request line), in the collection `all`."""
    collections = requests.get(base + "/taxii2/blocklist/collections/", headers=headers, timeout=60).json()
    url = f"{base}/taxii2/blocklist/collections/{collections['collections'][-1]['id']}/objects/"
    first = requests.get(url, params={"limit": 1000, "match[type]": "indicator"}, headers=headers, timeout=600)
    known = [o["id"] for o in first.json()["objects"]][-count:]
    unknown = [f"indicator--00000000-0000-4000-8000-{i:012d}" for i in range(count)]
    means = []
    for ids in (known, unknown):
        started = time.perf_counter()
        for object_id in ids:
            status = requests.get(f"{url}{object_id}/", headers=headers, timeout=600).status_code
            assert status == (200 if ids is known else 404), status
        means.append((time.perf_counter() - started) / len(ids))
    fifty = [o["id"] for o in first.json()["objects"]][-50:]
    started = time.perf_counter()
    body = requests.get(url, params={"match[id]": ",".join(fifty)}, headers=headers, timeout=600).json()
    assert len(body["objects"]) == len(fifty), len(body["objects"])
    means.append(time.perf_counter() - started)
    return means[0], means[1], means[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/blocklist_exports_bench")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--taxii-objects", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=20, help="objects/{id}/ requests timed, listed and unknown")
    args = parser.parse_args()
    from conftest import LiveServer

    bench_feeds.LOAD_SQL = LOAD_SQL
    # Loaded at the revision before 0011, so the upgrade times 0011's object_uuid backfill.
    creds = bench_feeds.setup(args.database_url, args.n, load_at="0011-1")
    server = LiveServer(
        args.database_url, workers=2, worker_class="gthread", extra_env={"GUNICORN_CMD_ARGS": "--threads 8"}
    ).start()
    try:
        base = server.url
        reader = bench_feeds.token(base, creds["consumer"])
        print(f"N = {args.n:,} active entries")
        print(f"{'export':28} {'seconds':>8} {'MB':>8} {'lines':>10} {'rows/s':>10} {'vs jsonl':>8}")
        baseline = None
        for label, path, params, rows_of in EXPORTS:
            seconds, size, lines = min(time_get(base, path, reader, params) for _ in range(args.runs))
            rate = rows_of(args.n) / seconds
            baseline = baseline or rate
            print(f"{label:28} {seconds:8.2f} {size / 1e6:8.1f} {lines:10,} {rate:10,.0f} {rate / baseline:8.2f}")
        manifest = requests.get(base + "/v1/export/misp/manifest.json", headers=reader, timeout=60).json()
        number_event = next(u for u, e in manifest.items() if e["info"].endswith(" number entries"))
        seconds, size, _ = min(
            time_get(base, f"/v1/export/misp/{number_event}.json", reader, {}) for _ in range(args.runs)
        )
        rate = args.n * 7 // 10 / seconds
        label = "MISP event (numbers)"
        print(f"{label:28} {seconds:8.2f} {size / 1e6:8.1f} {'':>10} {rate:10,.0f} {rate / baseline:8.2f}")
        seconds, count = time_taxii(base, reader, args.taxii_objects)
        rate, label = count / seconds, "TAXII objects (1000/page)"
        print(f"{label:28} {seconds:8.2f} {'':>8} {count:10,} {rate:10,.0f} {rate / baseline:8.2f}")
        known, unknown, fifty = time_object_lookups(base, reader, args.lookups)
        mean = f"{known * 1000:.1f} ms listed, {unknown * 1000:.1f} ms unknown (mean of {args.lookups})"
        print(f"TAXII objects/{{id}}/: {mean}")
        print(f"TAXII match[id] with 50 ids: {fifty * 1000:.1f} ms")
        print(f"peak RSS of a serving worker: {bench_feeds.worker_peak_rss_kb(server.process.pid) / 1024:.0f} MB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
