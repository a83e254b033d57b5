"""The benchmark table: every figure against a baseline measured in the same run.

    python bench/run.py --size 100000          # quick (about 2 minutes)
    python bench/run.py --size 1000000         # by hand
    python bench/run.py --size 100000 --keep   # keep the database for another run
    python bench/run.py --size 10000000 --loaders 2 --keep   # 10M: load with 2 processes
    python bench/run.py --size 100000 --keep --reads-only    # /healthz, look-ups, check only

BENCH_DB names the scratch database (default blocklist_bench_<size>).

Creates a scratch PostgreSQL database (BENCH_PG, default
postgresql://postgres@127.0.0.1:5432/<name>), loads `--size` generated entries through the
publish service (bench/generate.py), starts gunicorn on it, drives it with wrk (Debian package
`wrk`) and prints one table. Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
import bench_feeds  # noqa: E402
import generate  # noqa: E402

VENV_BIN = Path(sys.executable).parent
SMS = (
    "【工商银行】尊敬的客户您好，您的账户存在异常登录风险，为保障资金安全请于24小时内点击 "
    "http://icbc-secure{n}.top/verify?id=8841 完成身份核验，逾期将冻结账户。如非本人操作请忽略。"
    "退订回T。客服热线请勿回复本短信，详询官方渠道。感谢您的配合与支持！祝您生活愉快。"
)


def sh(*args: str, env: dict | None = None, check: bool = True) -> str:
    return subprocess.run(args, check=check, capture_output=True, text=True, env={**os.environ, **(env or {})}).stdout


def psql(url: str, sql: str) -> str:
    return sh("psql", url, "-Atqc", sql)


class Server:
    def __init__(self, database_url: str, port: int = 8391, workers: int = 2, threads: int = 8):
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "BLOCKLIST_DATABASE_URL": database_url,
            "BLOCKLIST_BIND": f"127.0.0.1:{port}",
            "BLOCKLIST_WORKERS": str(workers),
            "BLOCKLIST_THREADS": str(threads),
            "BLOCKLIST_ACCESS_LOG": "/dev/null",
            "BLOCKLIST_SECRET_KEY": "bench",
            "BLOCKLIST_RATE_LIMIT_ENABLED": "false",
            "BLOCKLIST_WORKER_TIMEOUT": "600",
        }
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def worker_rss_mib(self) -> list[float]:
        children = sh("pgrep", "-P", str(self.process.pid), check=False).split()
        sizes = []
        for pid in children:
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
        return sizes

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def wrk(
    url: str,
    token: str,
    *,
    script: str | None = None,
    env: dict | None = None,
    seconds: int = 10,
    connections: int = 16,
) -> dict:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}"]
    if script:
        args += ["-s", str(BENCH / "wrk" / script)]
    out = sh(*args, url, env=env)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)

    def pct(p: str) -> float:
        match = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {
        "rps": rps,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def warm_up(url: str, path: str, token: str, body: dict) -> None:
    """Send the request on fresh connections until 20 in a row answer within 200 ms: the first
    check in a worker builds its keyword engine (10-15 s at 10M entries), which a long-running
    server has done long before; timing it would measure start-up, not serving. Fresh
    connections, because wrk's keep-alive connections may all land on one worker and leave
    the other to build in the middle of the measurement (seen: 180 instead of 750 req/s)."""
    fast = 0
    for _ in range(2000):
        started = time.perf_counter()
        response = requests.post(
            url + path, json=body, timeout=300, headers={"Authorization": f"Bearer {token}", "Connection": "close"}
        )
        response.raise_for_status()
        fast = fast + 1 if time.perf_counter() - started < 0.2 else 0
        if fast >= 20:
            return


def sample_values(database_url: str, kinds: tuple[str, ...], count: int) -> list[dict]:
    rows = psql(
        database_url,
        f"SELECT kind, raw_value FROM entries WHERE kind IN "
        f"({','.join(repr(k) for k in kinds)}) ORDER BY random() LIMIT {count}",
    )
    return [{"kind": k, "value": v} for k, v in (line.split("|", 1) for line in rows.splitlines())]


def measure_snapshot(server: Server, headers: dict, database_url: str, fmt: str = "csv") -> dict:
    """A snapshot over HTTP against COPY of the same rows straight from PostgreSQL."""
    seconds, _, lines = bench_feeds.time_snapshot(server.url, headers, {"format": fmt})
    copy_seconds, _ = bench_feeds.time_copy(database_url)
    return {"rows": lines - (fmt == "csv"), "seconds": seconds, "copy_seconds": copy_seconds}


def measure_bulk(server: Server, token: str, size: int, batches: int = 3) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    seconds = 0.0
    items_total = 0
    for chunk in generate.batches(batches * generate.BATCH, seed=size + 99):
        started = time.perf_counter()
        response = requests.post(server.url + "/v1/entries/bulk", json={"items": chunk}, headers=headers, timeout=600)
        response.raise_for_status()
        seconds += time.perf_counter() - started
        items_total += len(chunk)
    return {"items": items_total, "seconds": seconds}


def measure_audit_verify(database_url: str) -> dict:
    out = sh(
        str(VENV_BIN / "flask"),
        "--app",
        "wsgi",
        "audit",
        "verify",
        env={"BLOCKLIST_DATABASE_URL": database_url},
        check=False,
    )
    return json.loads(out)


def token_for(server: Server, database_url: str) -> str:
    """A token of a fresh regulator org (every scope), made with the operator CLI."""
    env = {"BLOCKLIST_DATABASE_URL": database_url, "BLOCKLIST_SECRET_KEY": "bench"}
    flask = str(VENV_BIN / "flask")
    org = json.loads(
        sh(flask, "--app", "wsgi", "org", "create", "--name", f"bench-{time.time_ns()}", "--kind", "regulator", env=env)
    )
    client = json.loads(sh(flask, "--app", "wsgi", "client", "create", "--org", str(org["id"]), env=env))
    response = requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=30,
    )
    return response.json()["access_token"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the scratch database")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per figure")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--loaders", type=int, default=1, help="processes loading at once (2 on this machine: about twice as fast)"
    )
    parser.add_argument(
        "--reads-only", action="store_true", help="only /healthz, look-ups and the check (no writes, feeds, audit)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:  # before minutes of loading, not after
        parser.error("wrk is not installed: apt-get install wrk (Debian/Ubuntu)")

    # BENCH_DB names the scratch database (several people sharing one server: one each).
    name = os.environ.get("BENCH_DB", f"blocklist_bench_{args.size}")
    admin = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
    database_url = os.environ.get("BENCH_PG", f"postgresql://postgres@127.0.0.1:5432/{name}")
    env = {"BLOCKLIST_DATABASE_URL": database_url}
    exists = psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"
    table: list[tuple[str, str, str, str]] = []
    if not (args.keep and exists):
        psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        psql(admin, f"CREATE DATABASE {name}")
        sh(str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade", env=env)
        print(f"loading {args.size:,} entries ...", file=sys.stderr)
        os.environ.update(env)
        load_seconds = generate.load_direct(args.size, "bench-carrier", loaders=args.loaders)
        table.append(
            (
                f"load (in-process publish service, {args.loaders} loader{'s' * (args.loaders > 1)})",
                f"{args.size / load_seconds:,.0f} entries/s",
                "",
                f"{load_seconds:.0f} s for {args.size:,}",
            )
        )
    psql(database_url, "VACUUM ANALYZE")

    server = Server(database_url, workers=args.workers)
    try:
        token = token_for(server, database_url)
        base = wrk(server.url + "/healthz", token, seconds=args.seconds)
        table.append(
            (
                "/healthz (baseline)",
                f"{base['rps']:,.0f} req/s",
                "1.00",
                f"p50 {base['p50_ms']:.2f} ms, p99 {base['p99_ms']:.2f} ms",
            )
        )

        tmp = Path(tempfile.mkdtemp())
        singles = sample_values(database_url, ("number", "code"), 2000)
        (tmp / "values.txt").write_text(
            "\n".join(re.sub(r"[^0-9+]", "", v["value"]).replace("+", "%2B") for v in singles) + "\n"
        )
        single = wrk(
            server.url + "/v1/lookup",
            token,
            script="get_values.lua",
            seconds=args.seconds,
            env={"BENCH_VALUES": str(tmp / "values.txt"), "BENCH_PATH": "/v1/lookup"},
        )
        table.append(
            (
                "single look-up (GET /v1/lookup)",
                f"{single['rps']:,.0f} req/s",
                f"{single['rps'] / base['rps']:.2f} (target ≥ 0.5)",
                f"p50 {single['p50_ms']:.2f} ms, p99 {single['p99_ms']:.2f} ms, errors {single['errors']}",
            )
        )

        mixed = sample_values(database_url, ("number", "code", "url", "domain", "keyword"), 700)
        misses = [{"value": f"139{i:08d}"} for i in range(300)]
        (tmp / "batch.json").write_text(json.dumps({"values": [{"value": v["value"]} for v in mixed] + misses}))
        batch = wrk(
            server.url,
            token,
            script="post_body.lua",
            seconds=args.seconds,
            connections=4,
            env={"BENCH_BODY": str(tmp / "batch.json"), "BENCH_PATH": "/v1/lookup"},
        )
        values_per_s = batch["rps"] * 1000
        table.append(
            (
                "batch look-up (1,000 mixed values)",
                f"{values_per_s:,.0f} values/s",
                f"{values_per_s / base['rps']:.1f} (target ≥ 20)",
                f"p50 {batch['p50_ms']:.0f} ms, p99 {batch['p99_ms']:.0f} ms per request, errors {batch['errors']}",
            )
        )

        check_body = {"sender": "10690000001", "text": SMS.format(n=7)[:200]}
        (tmp / "check.json").write_text(json.dumps(check_body))
        warm_up(server.url, "/v1/check", token, check_body)
        check = wrk(
            server.url,
            token,
            script="post_body.lua",
            seconds=args.seconds,
            env={"BENCH_BODY": str(tmp / "check.json"), "BENCH_PATH": "/v1/check"},
        )
        table.append(
            (
                "message check (200-char SMS with a URL)",
                f"{check['rps']:,.0f} req/s",
                f"{check['rps'] / base['rps']:.2f} (target ≥ 0.5)",
                f"p50 {check['p50_ms']:.2f} ms, p99 {check['p99_ms']:.2f} ms, errors {check['errors']}",
            )
        )

        if not args.reads_only:  # the write and feed rows
            bulk = measure_bulk(server, token, args.size)
            table.append(
                (
                    "bulk publish (10,000-item requests, API)",
                    f"{bulk['items'] / bulk['seconds']:,.0f} entries/s",
                    "(target ≥ 20,000/s)",
                    f"{bulk['seconds']:.1f} s for {bulk['items']:,}",
                )
            )

            headers = {"Authorization": f"Bearer {token}"}
            for fmt in ("csv", "jsonl"):
                snap = measure_snapshot(server, headers, database_url, fmt)
                table.append(
                    (
                        f"snapshot ({fmt}, whole active set)",
                        f"{snap['rows'] / snap['seconds']:,.0f} rows/s",
                        f"{snap['seconds'] / snap['copy_seconds']:.2f}× COPY (target ≤ 1.5)",
                        f"{snap['rows']:,} rows in {snap['seconds']:.1f} s; COPY {snap['copy_seconds']:.2f} s",
                    )
                )

            tags = bench_feeds.time_tags(server.url, headers)
            table.append(
                (
                    "GET /v1/tags (20 requests)",
                    f"median {statistics.median(tags) * 1000:.1f} ms",
                    "(target < 50 ms)",
                    f"worst {tags[-1] * 1000:.1f} ms",
                )
            )

            feed_seconds, feed_changes = bench_feeds.feed_rate(server.url, headers, cap=200_000)
            table.append(
                (
                    "delta feed read (limit 10,000)",
                    f"{feed_changes / feed_seconds:,.0f} changes/s",
                    "",
                    f"{feed_changes:,} changes in {feed_seconds:.1f} s",
                )
            )

            delays = bench_feeds.propagation(server.url, headers, headers, samples=60)
            table.append(
                (
                    "propagation publish → long-poll",
                    f"p50 {statistics.median(delays):.0f} ms",
                    "(target p99 < 1 s)",
                    f"p99 {delays[int(len(delays) * 0.99) - 1]:.0f} ms, {60 - len(delays)} not seen",
                )
            )

        rss = server.worker_rss_mib()
        table.append(
            (
                "worker RSS after the run",
                f"{max(rss):,.0f} MiB (max)",
                "(target < 1 GiB at 10M)",
                ", ".join(f"{r:,.0f}" for r in rss) + " MiB",
            )
        )
    finally:
        server.stop()

    if not args.reads_only:
        audit = measure_audit_verify(database_url)
        table.append(
            (
                "audit verify (CLI)",
                f"{audit.get('records_per_second', 0):,.0f} records/s",
                "",
                f"{audit.get('records', 0):,} records, ok={audit.get('ok')}",
            )
        )
    if not args.keep:
        psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"\nsize {args.size:,} entries · {os.cpu_count()} cores ({cpu}) · PostgreSQL "
        f"{psql(admin, 'SHOW server_version').strip()} · gunicorn {args.workers} gthread workers · "
        f"wrk 2 threads, same host\n"
    )
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    header = ("figure", "absolute", "ratio to baseline", "detail")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=False)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
