"""The node index (blocklist/nodeindex): its build, its file, and a node's memory with and without it.

    BENCH_DB=blocklist_bench_100000 python bench/bench_nodeindex.py [--workers 2]

On an existing bench database (bench/run.py --keep makes one):

1. builds the node index (`flask node-index build`) into a scratch file: seconds, entries/s,
   file size;
2. starts gunicorn (deploy/gunicorn.conf.py, `--workers`) on the database twice, without and with
   `BLOCKLIST_NODE_INDEX` (its master then runs the follower), sends look-ups and checks of
   listed values to every worker, and reports the node's memory: the proportional set size (PSS:
   shared pages — the index file in the page cache, code — counted once across processes) of the
   master, every worker and the follower, summed; and the largest worker's RSS.

The look-up/check rates against /healthz are bench/run.py's rows: run it with
`BLOCKLIST_NODE_INDEX` set to an index built here (`--keep-index PATH`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from run import SMS, Server, build_node_index, sample_values, sh, token_for


def _pss_kib(pid: str) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next(int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:"))


def _tree(pid: int) -> list[str]:
    out, todo = [], [str(pid)]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(sh("pgrep", "-P", current, check=False).split())
    return out


def _drive(server: Server, token: str, values: list[dict], seconds: float = 10) -> int:
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    body = {"sender": "10690000001", "text": SMS.format(n=7)[:200]}
    deadline = time.monotonic() + seconds

    def one(i: int) -> int:
        value = values[i % len(values)]
        requests.get(server.url + "/v1/lookup", params=value, headers=headers, timeout=60).raise_for_status()
        requests.post(server.url + "/v1/check", json=body, headers=headers, timeout=60).raise_for_status()
        return 1

    done = 0
    with ThreadPoolExecutor(8) as pool:
        while time.monotonic() < deadline:
            done += sum(pool.map(one, range(done, done + 64)))
    return done


def _node_memory(database_url: str, workers: int, values: list[dict], index: str | None) -> dict:
    if index:
        os.environ["BLOCKLIST_NODE_INDEX"] = index
    else:
        os.environ.pop("BLOCKLIST_NODE_INDEX", None)
    server = Server(database_url, workers=workers)
    try:
        token = token_for(server, database_url)
        requests_done = _drive(server, token, values)
        pids = _tree(server.process.pid)
        return {
            "pss_mib": sum(_pss_kib(pid) for pid in pids) / 1024,
            "processes": len(pids),
            "worker_rss_mib": max(server.worker_rss_mib()),
            "requests": requests_done,
        }
    finally:
        server.stop()
        os.environ.pop("BLOCKLIST_NODE_INDEX", None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-index", help="build the index at this path and keep it")
    args = parser.parse_args()
    name = os.environ.get("BENCH_DB", "blocklist_bench_100000")
    database_url = os.environ.get("BENCH_PG", f"postgresql://postgres@127.0.0.1:5432/{name}")
    index = args.keep_index or os.path.join(tempfile.mkdtemp(), "node.sqlite")
    built = build_node_index(database_url, index)
    print(
        f"{name}: {built['entries']:,} active entries built in {built['seconds']:.1f} s "
        f"({built['entries'] / built['seconds']:,.0f} entries/s), {built['mib']:,.0f} MiB"
    )

    values = sample_values(database_url, ("number", "code", "url", "domain"), 500)
    for label, path in (("database path", None), ("node index", index)):
        m = _node_memory(database_url, args.workers, values, path)
        print(
            f"{label}: node PSS {m['pss_mib']:,.0f} MiB over {m['processes']} processes "
            f"({args.workers} workers), largest worker RSS {m['worker_rss_mib']:,.0f} MiB, "
            f"{m['requests']} look-up+check pairs driven"
        )
    if not args.keep_index:
        for suffix in ("", "-wal", "-shm"):
            Path(index + suffix).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
