"""Benchmark: bulk publish over HTTP against PostgreSQL COPY of the same rows (by hand, not CI).

    flock /work/bench.lock .venv/bin/python bench/bench_bulk.py --template blocklist_bench_bulk_1m
    ... --batches 3 --profile /tmp/bulk.svg     # py-spy record of the worker meanwhile

`--template` names a loaded database (bench/generate.py or bench/run.py --keep), which is never
written: each run copies it (`CREATE DATABASE <scratch> TEMPLATE <template>`, so nobody may be
connected to it) into `--scratch` (default blocklist_bench_bulk_run), dropped at the end unless
`--keep`. Steps, on gunicorn with one worker:

1. `--batches` requests of 10,000 new generated items (`POST /v1/entries/bulk`, as bench/run.py's
   bulk row: some values collide with listed ones and are corroborated);
2. one request of 10,000 values already listed, by a second org (all corroborations);
3. the baseline: the entry rows step 1 created, exported and COPYed by psycopg into an empty
   table with the entries table's columns, indexes and defaults (`LIKE entries INCLUDING ALL`).

Prints entries/s of each step and the ratio of step 1's time to the COPY's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import generate  # noqa: E402
import run  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/"


def admin(sql: str) -> None:
    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        conn.execute(sql)


def post(server: run.Server, token: str, items: list[dict]) -> tuple[float, dict]:
    started = time.perf_counter()
    response = requests.post(
        server.url + "/v1/entries/bulk",
        json={"items": items},
        headers={"Authorization": f"Bearer {token}"},
        timeout=600,
    )
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"bulk answered {response.status_code}: {response.text[:500]}")
    body = response.json()
    return seconds, {k: body[k] for k in ("created", "relisted", "corroborated", "refreshed")}


def copy_baseline(url: str, after_id: int) -> tuple[float, int]:
    """Seconds to COPY the entry rows with id > after_id into an empty table like entries."""
    with psycopg.connect(url) as conn:
        data = bytearray()
        with conn.cursor().copy(f"COPY (SELECT * FROM entries WHERE id > {after_id} ORDER BY id) TO STDOUT") as copy:
            for chunk in copy:
                data += chunk
        rows = data.count(b"\n")
        conn.execute("CREATE TEMP TABLE copy_target (LIKE entries INCLUDING ALL)")
        started = time.perf_counter()
        with conn.cursor().copy("COPY copy_target FROM STDIN") as copy:
            copy.write(bytes(data))
        conn.commit()
        return time.perf_counter() - started, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", required=True, help="a loaded database, copied, never written")
    parser.add_argument("--scratch", default="blocklist_bench_bulk_run")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", help="py-spy record the worker into this SVG")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--port", type=int, default=8397)
    args = parser.parse_args()

    admin(f"DROP DATABASE IF EXISTS {args.scratch} WITH (FORCE)")
    started = time.perf_counter()
    admin(f"CREATE DATABASE {args.scratch} TEMPLATE {args.template}")
    print(f"copied {args.template} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    url = PG + args.scratch
    os.environ["BLOCKLIST_DATABASE_URL"] = url
    with psycopg.connect(url) as conn:
        size = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        max_id = conn.execute("SELECT coalesce(max(id), 0) FROM entries").fetchone()[0]
        listed = [
            {"kind": kind, "value": raw, "tags": ["source:carrier"], "reason": "corroborate"}
            for kind, raw in conn.execute(
                "SELECT kind, raw_value FROM entries WHERE status = 'active' AND kind <> 'person' "
                "ORDER BY id LIMIT 10000 OFFSET 1000"
            )
        ]
    server = run.Server(url, port=args.port, workers=1)
    spy = None
    try:
        token = run.token_for(server, url)
        other = run.token_for(server, url)
        if args.profile:
            worker = run.sh("pgrep", "-P", str(server.process.pid)).split()[0]
            spy = subprocess.Popen(
                [str(run.VENV_BIN / "py-spy"), "record", "-p", worker, "-o", args.profile, "-r", "50"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
        fresh_seconds, fresh_items, results = 0.0, 0, []
        for chunk in generate.batches(args.batches * generate.BATCH, seed=args.seed):
            seconds, counts = post(server, token, chunk)
            fresh_seconds += seconds
            fresh_items += len(chunk)
            results.append({"seconds": round(seconds, 2), **counts})
        corroborate_seconds, corroborated = post(server, other, listed)
    finally:
        if spy is not None:
            spy.terminate()
            spy.wait(60)
        server.stop()
    copy_seconds, copy_rows = copy_baseline(url, max_id)
    if not args.keep:
        admin(f"DROP DATABASE IF EXISTS {args.scratch} WITH (FORCE)")
    report = {
        "entries_before": size,
        "fresh": {
            "items": fresh_items,
            "seconds": round(fresh_seconds, 2),
            "per_s": round(fresh_items / fresh_seconds),
            "requests": results,
        },
        "corroborate": {
            "items": len(listed),
            "seconds": round(corroborate_seconds, 2),
            "per_s": round(len(listed) / corroborate_seconds),
            **corroborated,
        },
        "copy_baseline": {
            "rows": copy_rows,
            "seconds": round(copy_seconds, 3),
            "per_s": round(copy_rows / copy_seconds),
        },
        "fresh_time_per_copy_time": round(fresh_seconds / fresh_items / (copy_seconds / copy_rows), 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
