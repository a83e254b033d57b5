"""How stale can a read be without `min_cursor`? (README, Performance: "Consistency".)

    BENCH_DB=blocklist_bench_100000 python bench/bench_reads.py --samples 100

Starts gunicorn (2 gthread workers) on an existing bench database (bench/run.py --keep makes
one), and per sample publishes a new keyword, then sends the check of a message containing it,
without `min_cursor`, on fresh connections (so either worker answers) until the verdict is
`block`: the time from the publish's answer to the first such verdict is how long the other
worker's caches and keyword engine lagged (the NOTIFY's way to its listener). Then the same with
`min_cursor` (must be `block` on the first try, every time) and the same for allowlisting
(a domain allowlisted, until a look-up of a URL on it is no longer listed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

import requests
from run import Server, token_for


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    name = os.environ.get("BENCH_DB", "blocklist_bench_100000")
    database_url = os.environ.get("BENCH_PG", f"postgresql://postgres@127.0.0.1:5432/{name}")
    server = Server(database_url, port=8392)
    try:
        token = token_for(server, database_url)
        headers = {"Authorization": f"Bearer {token}"}
        fresh = {**headers, "Connection": "close"}
        lags, tries_with_cursor, allow_lags = [], [], []
        for i in range(args.samples):
            word = f"验证资金{uuid.uuid4().hex[:8]}"
            published = requests.post(
                server.url + "/v1/entries", json={"kind": "keyword", "value": word}, headers=headers, timeout=30
            )
            published.raise_for_status()
            done = time.perf_counter()
            body = {"sender": "10690000001", "text": f"请立即{word}转账"}
            while True:
                verdict = requests.post(server.url + "/v1/check", json=body, headers=fresh, timeout=30).json()
                if verdict["verdict"] == "block":
                    lags.append((time.perf_counter() - done) * 1000)
                    break
            word = f"核验账户{uuid.uuid4().hex[:8]}"
            published = requests.post(
                server.url + "/v1/entries", json={"kind": "keyword", "value": word}, headers=headers, timeout=30
            )
            cursor = published.headers["X-Blocklist-Cursor"]
            body = {"sender": "10690000001", "text": f"请立即{word}转账"}
            answer = requests.post(f"{server.url}/v1/check?min_cursor={cursor}", json=body, headers=fresh, timeout=30)
            tries_with_cursor.append(answer.json()["verdict"] == "block")

            host = f"bank{i}-{uuid.uuid4().hex[:6]}.example.cn"
            url = f"http://{host}/login"
            requests.post(server.url + "/v1/entries", json={"kind": "url", "value": url}, headers=headers, timeout=30)
            added = requests.post(
                server.url + "/v1/allowlist",
                json={"kind": "domain", "value": host, "reason": "bench"},
                headers=headers,
                timeout=30,
            )
            added.raise_for_status()
            done = time.perf_counter()
            while requests.get(
                f"{server.url}/v1/lookup", params={"value": url, "kind": "url"}, headers=fresh, timeout=30
            ).json()["listed"]:
                pass
            allow_lags.append((time.perf_counter() - done) * 1000)
    finally:
        server.stop()
    print(f"{args.samples} samples, 2 gthread workers, client on the same host")
    print(
        f"keyword published -> matched by a check without min_cursor: p50 {statistics.median(lags):.1f} ms, "
        f"p99 {_pct(lags, 0.99):.1f} ms, max {max(lags):.1f} ms"
    )
    print(
        f"allowlisted -> look-up no longer listed: p50 {statistics.median(allow_lags):.1f} ms, "
        f"p99 {_pct(allow_lags, 0.99):.1f} ms, max {max(allow_lags):.1f} ms"
    )
    print(f"with min_cursor: matched on the first try {sum(tries_with_cursor)} of {len(tries_with_cursor)}")
    return 0 if all(tries_with_cursor) else 1


if __name__ == "__main__":
    sys.exit(main())
