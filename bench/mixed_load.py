"""Mixed load for several minutes: publishers, look-ups, message checks and feed followers at
once against a live gunicorn on PostgreSQL. Prints requests and errors per kind of client and
the workers' RSS after warm-up and at the end (the targets: 0 errors, flat memory).

    python bench/mixed_load.py --minutes 5 [--size 100000]

Uses a scratch database like bench/run.py (loaded with --size entries first).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402
import run  # noqa: E402

SMS = "【快递理赔】您的包裹丢失，点击 http://kefu-{n}.top/claim 办理理赔，退款将原路返回，如有疑问回复客服。"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    name = f"blocklist_mixed_{args.size}"
    admin = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
    database_url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    run.psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    run.psql(admin, f"CREATE DATABASE {name}")
    run.sh(str(run.VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade", env={"BLOCKLIST_DATABASE_URL": database_url})
    os.environ["BLOCKLIST_DATABASE_URL"] = database_url
    generate.load_direct(args.size, "bench-carrier")
    known = [v["value"] for v in run.sample_values(database_url, ("number", "code"), 2000)]

    server = run.Server(database_url, workers=args.workers)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    lock = threading.Lock()
    stop = threading.Event()
    try:
        headers = {"Authorization": "Bearer " + run.token_for(server, database_url)}

        def note(kind: str, ok: bool, what: str = "") -> None:
            with lock:
                counts[kind]["requests"] += 1
                if not ok:
                    counts[kind]["errors"] += 1
                    counts[kind][what] += 1

        def call(kind: str, method: str, path: str, session: requests.Session, **kwargs):
            try:
                response = session.request(method, server.url + path, headers=headers, timeout=60, **kwargs)
                note(kind, response.status_code < 400, f"HTTP {response.status_code}")
                return response
            except requests.RequestException as error:
                note(kind, False, type(error).__name__)
                return None

        def publisher(seed: int):
            rng, session, n = random.Random(seed), requests.Session(), 0
            while not stop.is_set():
                n += 1
                items = [{"kind": "code", "value": f"1069{seed}{n:05d}{i:02d}"[:16]} for i in range(50)]
                call("publish (bulk 50)", "POST", "/v1/entries/bulk", session, json={"items": items})
                call(
                    "publish (one)",
                    "POST",
                    "/v1/entries",
                    session,
                    json={"kind": "number", "value": f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"},
                )
                time.sleep(0.2)

        def looker(seed: int):
            rng, session = random.Random(seed), requests.Session()
            while not stop.is_set():
                call("look-up", "GET", "/v1/lookup", session, params={"value": rng.choice(known)})

        def checker(seed: int):
            rng, session = random.Random(seed), requests.Session()
            while not stop.is_set():
                call(
                    "check",
                    "POST",
                    "/v1/check",
                    session,
                    json={"sender": rng.choice(known), "text": SMS.format(n=rng.randrange(1000))},
                )

        def follower(seed: int):
            session, cursor = requests.Session(), None
            while not stop.is_set():
                params = {"wait": 5, "limit": 1000, **({"since": cursor} if cursor else {})}
                response = call("feed follower", "GET", "/v1/feed/changes", session, params=params)
                if response is not None and response.ok:
                    cursor = response.json()["next_cursor"]

        roles = [publisher] * 2 + [looker] * 3 + [checker] * 3 + [follower] * 2
        threads = [threading.Thread(target=role, args=(i,), daemon=True) for i, role in enumerate(roles)]
        for thread in threads:
            thread.start()
        time.sleep(min(30, args.minutes * 60 / 5))
        rss_start = server.worker_rss_mib()
        time.sleep(args.minutes * 60)
        rss_end = server.worker_rss_mib()
        stop.set()
        for thread in threads:
            thread.join(70)
    finally:
        server.stop()
        run.psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    total = sum(c["requests"] for c in counts.values())
    errors = sum(c["errors"] for c in counts.values())
    print(
        f"\nmixed load, {args.minutes:g} min after warm-up, {args.size:,} entries, "
        f"{args.workers} gthread workers, 10 client threads on the same host\n"
    )
    print("| client | requests | errors |\n|---|---|---|")
    for kind, c in sorted(counts.items()):
        detail = ", ".join(f"{k}: {v}" for k, v in c.items() if k not in ("requests", "errors"))
        print(f"| {kind} | {c['requests']:,} | {c['errors']}{' (' + detail + ')' if detail else ''} |")
    print(f"| **all** | {total:,} | {errors} |")
    print(
        f"\nworker RSS after warm-up: {', '.join(f'{r:.0f}' for r in rss_start)} MiB; "
        f"at the end: {', '.join(f'{r:.0f}' for r in rss_end)} MiB"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
