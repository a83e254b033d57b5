"""The benchmark table (issue #18): every figure against a baseline measured in the same run.

    python bench/run.py --size 100000          # quick (a few minutes)
    python bench/run.py --size 1000000         # by hand
    python bench/run.py --size 100000 --keep   # keep the database for another run
    BENCH_DB=blocklist_bench_10m python bench/run.py --size 10000000 --keep   # 10M (load ≈ 30 min once)
    python bench/run.py --size 100000 --keep --reads-only    # /healthz, look-ups, check only
    python bench/run.py --size 100000 --keep --node-index    # reads served from the node index

BENCH_DB names the scratch database (default blocklist_bench_<size>). Wrap every run in
`flock /work/bench.lock` where several people share the machine.

Creates a scratch PostgreSQL database (BENCH_PG, default
postgresql://postgres@127.0.0.1:5432/<name>), loads `--size` generated entries (bench/generate.py:
through the publish service below 1M, set-based SQL from 1M, `--loader` to choose), checks the
loaded data with `flask tags recount`, starts gunicorn on it, drives it with wrk (Debian package
`wrk`) and prints one table: /healthz (the baseline), single and batch look-up, check, bulk
publish (against COPY of the same rows), snapshot (against COPY), tags, the delta feed,
publish → long-poll with one follower and with `--followers` connected at once (on a second
server with threads for them), the node's memory (RSS and PSS of master and workers), the local
matcher on one core (bench/bench_matcher.py) and audit verify. Nothing here runs in CI.
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

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
import bench_feeds  # noqa: E402
import generate  # noqa: E402

VENV_BIN = Path(sys.executable).parent
BENCH_ENV = {"BLOCKLIST_SECRET_KEY": "bench"}
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
    def __init__(
        self, database_url: str, port: int = 8391, workers: int = 2, threads: int = 8, extra_env: dict | None = None
    ):
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            **(extra_env or {}),
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

    def memory_mib(self) -> dict:
        """The node's memory: RSS and (where smaps_rollup is readable) PSS of the master and
        every worker, summed. PSS counts pages shared between processes (the code and data the
        master loaded before forking) once across them; RSS counts them in each."""
        pids = [str(self.process.pid), *sh("pgrep", "-P", str(self.process.pid), check=False).split()]
        rss = pss = 0.0
        for pid in pids:
            rss += int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                pss += int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1)) / 1024
            except (OSError, AttributeError):
                pss = float("nan")
        return {"processes": len(pids), "rss": rss, "pss": pss}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def build_node_index(database_url: str, path: str) -> dict:
    """Build the node index (`flask node-index build`) from scratch at `path`: seconds, entries,
    file size (MiB)."""
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    env = {"BLOCKLIST_DATABASE_URL": database_url}
    started = time.perf_counter()
    sh(str(VENV_BIN / "flask"), "--app", "wsgi", "node-index", "build", "--path", path, env=env)
    seconds = time.perf_counter() - started
    status = sh(str(VENV_BIN / "flask"), "--app", "wsgi", "node-index", "status", "--path", path, env=env)
    size = sum(Path(path + s).stat().st_size for s in ("", "-wal") if Path(path + s).exists())
    return {"seconds": seconds, "entries": int(status.split()[2]), "mib": size / 2**20}


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


def time_copy_in(database_url: str, after_id: int) -> tuple[float, int]:
    """Seconds PostgreSQL takes to COPY the entry rows with ids above `after_id` (those a bulk
    publish just wrote) into a fresh table shaped like `entries` with all its indexes: the
    database's own floor for writing those rows. Rolled back."""
    with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
        data = bytearray()
        with cursor.copy(f"COPY (SELECT * FROM entries WHERE id > {int(after_id)} ORDER BY id) TO STDOUT") as copy:
            for chunk in copy:
                data += chunk
        rows = data.count(b"\n")
        cursor.execute("CREATE TEMP TABLE bench_copy_in (LIKE entries INCLUDING ALL)")
        started = time.perf_counter()
        with cursor.copy("COPY bench_copy_in FROM STDIN") as copy:
            copy.write(bytes(data))
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds, rows


def measure_followers(database_url: str, workers: int, followers: int) -> tuple[str, str, str, str]:
    """Publish → long-poll delivery with `followers` followers connected, on a server whose
    workers have threads for them (a waiting long-poll holds a gthread thread: PRODUCT.md's
    long-poll bounds, raised here so `followers` fit on `workers` workers however the kernel
    spreads the connections)."""
    threads = max(8, followers + 8)
    server = Server(
        database_url,
        port=8393,
        workers=workers,
        threads=threads,
        extra_env={"BLOCKLIST_LONGPOLL_PER_WORKER": str(threads - 4), "BLOCKLIST_LONGPOLL_PER_CLIENT": str(threads)},
    )
    try:
        headers = {"Authorization": f"Bearer {token_for(server, database_url)}"}
        found = bench_feeds.propagation_followers(server.url, headers, headers, followers=followers)
    finally:
        server.stop()
    delays, pct = found["delays"], bench_feeds.percentile
    return (
        f"publish → long-poll, {followers} followers connected",
        f"p99 {pct(delays, 0.99):,.0f} ms" if delays else "none seen",
        "(target p99 < 100 ms)",
        f"p50 {pct(delays, 0.5):,.0f} ms over {len(delays):,} deliveries, {found['missing']} not seen, "
        f"{found['refused']} long-polls refused (429); from sending the publish (its own p50 "
        f"{pct(found['publish_ms'], 0.5):.0f} ms); {workers} workers × {threads} threads"
        if delays
        else f"{found['missing']} not seen",
    )


def measure_matcher(size: int, messages: int = 20_000) -> tuple[str, str, str, str]:
    """The local matcher (blocklist-sync's) on one core: bench/bench_matcher.py, its warm and cold
    check rows."""
    out = sh(sys.executable, str(BENCH / "bench_matcher.py"), "--size", str(size), "--messages", str(messages))
    rates = {label: rate for label, rate in re.findall(r"^\| (check, \w+)[^|]*\| +([\d,]+)/s", out, re.M)}
    return (
        f"local matcher checks/s, one core, {size:,}-entry mirror",
        f"{rates.get('check, warm', '?')}/s warm",
        "(target ≥ 50,000/s)",
        f"cold senders {rates.get('check, cold', '?')}/s; per CPU second (bench/bench_matcher.py)",
    )


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


def node_keys(database_url: str) -> None:
    """What every node needs to start (README "Deploy"), made in a scratch directory and named in
    this process's environment (which the servers started here inherit): an audit signing key
    and a subject pepper."""
    keys = Path(tempfile.mkdtemp(prefix="bench-keys-"))
    (keys / "pepper").write_text("bench-pepper-0123456789abcdef\n")
    os.environ.update(
        {
            "BLOCKLIST_AUDIT_SIGNING_KEY_FILE": str(keys / "audit-signing-key.pem"),
            "BLOCKLIST_SUBJECT_PEPPER": str(keys / "pepper"),
        }
    )
    sh(
        str(VENV_BIN / "flask"),
        "--app",
        "wsgi",
        "audit",
        "keygen",
        env={"BLOCKLIST_DATABASE_URL": database_url, **BENCH_ENV},
    )


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
        "--loaders", type=int, default=2, help="processes loading at once (2 on this machine: about twice as fast)"
    )
    parser.add_argument(
        "--loader",
        choices=["service", "sql"],
        help="how to load: the publish service in-process, or set-based SQL (generate.load_sql: the same "
        "entries without their audit records); default sql from 1,000,000 entries, service below",
    )
    parser.add_argument("--followers", type=int, default=100, help="long-poll followers connected at once")
    parser.add_argument("--matcher-size", type=int, default=1_000_000, help="the local matcher's mirror size")
    parser.add_argument(
        "--reads-only", action="store_true", help="only /healthz, look-ups and the check (no writes, feeds, audit)"
    )
    parser.add_argument(
        "--node-index",
        action="store_true",
        help="build the node index (blocklist/nodeindex) first and serve from it (BLOCKLIST_NODE_INDEX): "
        "look-ups and checks read it, its follower (in gunicorn's master) applies the writes",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:  # before minutes of loading, not after
        parser.error("wrk is not installed: apt-get install wrk (Debian/Ubuntu)")

    # BENCH_DB names the scratch database (several people sharing one server: one each).
    name = os.environ.get("BENCH_DB", f"blocklist_bench_{args.size}")
    admin = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
    database_url = os.environ.get("BENCH_PG", f"postgresql://postgres@127.0.0.1:5432/{name}")
    env = {"BLOCKLIST_DATABASE_URL": database_url}
    node_keys(database_url)
    exists = psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"
    table: list[tuple[str, str, str, str]] = []
    if not (args.keep and exists):
        psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        psql(admin, f"CREATE DATABASE {name}")
        sh(str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade", env=env)
        loader = args.loader or ("sql" if args.size >= 1_000_000 else "service")
        print(f"loading {args.size:,} entries ({loader}) ...", file=sys.stderr)
        os.environ.update(env)
        if loader == "sql":
            load_seconds = generate.load_sql(args.size, "bench-carrier", loaders=args.loaders)
        else:
            load_seconds = generate.load_direct(args.size, "bench-carrier", loaders=args.loaders)
        how = "set-based SQL, generate.load_sql" if loader == "sql" else "in-process publish service"
        table.append(
            (
                f"load ({how}, {args.loaders} loader{'s' * (args.loaders > 1)})",
                f"{args.size / load_seconds:,.0f} entries/s",
                "",
                f"{load_seconds:.0f} s for {args.size:,}",
            )
        )
        recount = json.loads(
            sh(str(VENV_BIN / "flask"), "--app", "wsgi", "tags", "recount", env={**env, **BENCH_ENV}, check=False)
        )
        table.append(
            (
                "loaded data consistent (flask tags recount)",
                f"ok={recount['ok']}",
                "",
                f"tags drifted {len(recount['tags'])}, stale snapshot tags {recount['entries']}, "
                f"lines off {recount['lines']}",
            )
        )
    psql(database_url, "VACUUM ANALYZE")

    served = {}
    if args.node_index:
        index_path = str(Path(tempfile.mkdtemp()) / "node.sqlite")
        built = build_node_index(database_url, index_path)
        table.append(
            (
                "node index build (flask node-index build)",
                f"{built['entries'] / built['seconds']:,.0f} entries/s",
                "",
                f"{built['entries']:,} active entries in {built['seconds']:.0f} s, file {built['mib']:,.0f} MiB",
            )
        )
        served = {"BLOCKLIST_NODE_INDEX": index_path}
    server = Server(database_url, workers=args.workers, extra_env=served)
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
            before = int(psql(database_url, "SELECT coalesce(max(id), 0) FROM entries").strip())
            bulk = measure_bulk(server, token, args.size)
            copy_seconds, copied = time_copy_in(database_url, before)
            bulk_rate, copy_rate = bulk["items"] / bulk["seconds"], copied / copy_seconds
            table.append(
                (
                    "bulk publish (10,000-item requests, API)",
                    f"{bulk_rate:,.0f} entries/s",
                    f"{bulk_rate / copy_rate:.3f} of COPY (target ≥ 20,000/s)",
                    f"{bulk['seconds']:.1f} s for {bulk['items']:,}; COPY of the {copied:,} new entry rows "
                    f"into a copy of entries with its indexes {copy_rate:,.0f} rows/s",
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
        memory = server.memory_mib()
        table.append(
            (
                f"memory of the node after the run ({memory['processes']} processes)",
                f"PSS {memory['pss']:,.0f} MiB",
                "(target < 2 GiB in all at 10M)",
                f"RSS sum {memory['rss']:,.0f} MiB; workers' RSS " + ", ".join(f"{r:,.0f}" for r in rss) + " MiB",
            )
        )
    finally:
        server.stop()

    if not args.reads_only:
        table.append(measure_followers(database_url, args.workers, args.followers))
    table.append(measure_matcher(args.matcher_size))

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
        f"\nsize {args.size:,} entries · {'node index · ' if args.node_index else ''}{os.cpu_count()} cores "
        f"({cpu}) · PostgreSQL "
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
