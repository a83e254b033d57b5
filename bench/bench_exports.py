"""Export benchmark (run by hand, not in CI): rows/s of every export against the JSONL snapshot
of the same run, and the serving node's memory while streaming (issue #19: bounded memory, so
the figures at 10 M should match those at 1 M).

    # a scratch database it (re)creates and loads (bench/generate.py's set-based loader):
    .venv/bin/python bench/bench_exports.py \
        --database-url postgresql://postgres@127.0.0.1:5432/blocklist_bench_exports --n 1000000
    # a database already loaded (bench/run.py's, or blocklist_bench_10m), read as it is:
    .venv/bin/python bench/bench_exports.py --existing \
        --database-url postgresql://postgres@127.0.0.1:5432/blocklist_bench_10m --runs 1

Serves the database with gunicorn (bench/run.py's Server: 2 gthread workers), reads each export
once per run (best of --runs) and counts its lines: the snapshot (baseline), the plain number
list, the hosts file, the RPZ zone, MISP's hashes.csv and its number event, and the first
--taxii-objects objects of TAXII's collection `all` (1,000 a page). Then TAXII look-ups by id, and
the workers' peak RSS (VmHWM) and the node's PSS after streaming everything.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import bench_feeds  # noqa: E402
import generate  # noqa: E402
import run  # noqa: E402

# (label, path, params, lines that are not rows)
EXPORTS = [
    ("snapshot jsonl (baseline)", "/v1/feed/snapshot", {"format": "jsonl"}, 0),
    ("plain list number.txt", "/v1/export/number.txt", {}, 0),
    ("hosts file", "/v1/export/hosts", {}, None),
    ("RPZ zone", "/v1/export/rpz", {"zone": "rpz.example.org"}, None),
    ("MISP hashes.csv", "/v1/export/misp/hashes.csv", {}, 0),
]


HEAD_BYTES = 1 << 20


def time_get(base: str, path: str, headers: dict, params: dict) -> tuple[float, int, int, int]:
    """Seconds, bytes, lines and comment/header lines (starting with '#', ';', '$' or '@', or a
    zone's SOA/NS records: all in the first MiB) of one streamed GET. Linear in the body: a MISP
    event is one line of a gigabyte at 10 M, which must not be buffered to find its newlines."""
    started, size, lines = time.perf_counter(), 0, 0
    headers = {**headers, "Accept-Encoding": "identity"}
    head = b""
    with requests.get(base + path, params=params, headers=headers, stream=True, timeout=3600) as response:
        response.raise_for_status()
        for chunk in response.raw.stream(1 << 20, decode_content=False):
            size += len(chunk)
            lines += chunk.count(b"\n")
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
    seconds = time.perf_counter() - started
    other = sum(
        1
        for line in head.split(b"\n")[:-1]
        if line.startswith((b"#", b";", b"$", b"@")) or b" SOA " in line or b" NS " in line
    )
    return seconds, size, lines, other


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


def load(database_url: str, n: int) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
    run.psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    run.psql(admin, f"CREATE DATABASE {name}")
    env = {"BLOCKLIST_DATABASE_URL": database_url, **run.BENCH_ENV}
    run.sh(str(run.VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade", env=env)
    os.environ.update(env)
    seconds = generate.load_sql(n, "bench-carrier", loaders=2)
    print(f"loaded {n:,} entries in {seconds:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/blocklist_bench_exports")
    parser.add_argument("--n", type=int, default=1_000_000, help="entries to load (not with --existing)")
    parser.add_argument("--existing", action="store_true", help="read the database as it is (no load)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--taxii-objects", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=20, help="objects/{id}/ requests timed, listed and unknown")
    args = parser.parse_args()

    if not args.existing:
        load(args.database_url, args.n)
    run.node_keys(args.database_url)
    active = int(run.psql(args.database_url, "SELECT count(*) FROM entries WHERE status = 'active'"))
    numbers = int(
        run.psql(args.database_url, "SELECT count(*) FROM entries WHERE status = 'active' AND kind = 'number'")
    )
    server = run.Server(args.database_url, port=8394, workers=2)
    try:
        base = server.url
        reader = {"Authorization": f"Bearer {run.token_for(server, args.database_url)}"}
        print(f"\n{active:,} active entries ({numbers:,} numbers)")
        print(f"| {'export':28} | {'seconds':>8} | {'MB':>8} | {'rows':>10} | {'rows/s':>10} | {'÷ jsonl':>7} |")
        baseline = None
        for label, path, params, _ in EXPORTS:
            seconds, size, lines, other = min(time_get(base, path, reader, params) for _ in range(args.runs))
            rows = lines - other
            rate = rows / seconds
            baseline = baseline or rate
            print(
                f"| {label:28} | {seconds:8.2f} | {size / 1e6:8.1f} | {rows:10,} | {rate:10,.0f} | "
                f"{rate / baseline:7.2f} |"
            )
        manifest = requests.get(base + "/v1/export/misp/manifest.json", headers=reader, timeout=60).json()
        number_event = next(u for u, e in manifest.items() if e["info"].endswith(" number entries"))
        seconds, size, _, _ = min(
            time_get(base, f"/v1/export/misp/{number_event}.json", reader, {}) for _ in range(args.runs)
        )
        rate, label = numbers / seconds, "MISP event (numbers)"
        row = f"| {label:28} | {seconds:8.2f} | {size / 1e6:8.1f} | {numbers:10,} | {rate:10,.0f} |"
        print(f"{row} {rate / baseline:7.2f} |")
        seconds, count = time_taxii(base, reader, args.taxii_objects)
        rate, label = count / seconds, "TAXII objects (1000/page)"
        print(f"| {label:28} | {seconds:8.2f} | {'':>8} | {count:10,} | {rate:10,.0f} | {rate / baseline:7.2f} |")
        known, unknown, fifty = time_object_lookups(base, reader, args.lookups)
        mean = f"{known * 1000:.1f} ms listed, {unknown * 1000:.1f} ms unknown (mean of {args.lookups})"
        print(f"\nTAXII objects/{{id}}/: {mean}")
        print(f"TAXII match[id] with 50 ids: {fifty * 1000:.1f} ms")
        memory = server.memory_mib()
        print(
            f"peak RSS of a serving worker: {bench_feeds.worker_peak_rss_kb(server.process.pid) / 1024:.0f} MiB; "
            f"node after streaming: PSS {memory['pss']:.0f} MiB, RSS sum {memory['rss']:.0f} MiB "
            f"({memory['processes']} processes)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
