"""Benchmark for POST /v1/check (run by hand, not in CI).

    .venv/bin/python bench/bench_check.py                       # scratch SQLite in /tmp
    .venv/bin/python bench/bench_check.py --database-url postgresql://postgres@127.0.0.1:5432/SCRATCH

The database is WIPED (SQLite: the file is deleted; PostgreSQL: the public schema is dropped):
give it a scratch database only. Steps:

1. migrate, then insert generated entries through the SQL fast path (executemany): keywords
   (Chinese and English scam phrases, folded as publishing folds them), URL and domain entries
   and numbers;
2. build the engine from that database through the code path a worker uses (``refresh``),
   timing it and the Aho-Corasick build alone, and measuring the process's RSS growth;
3. time ``matcher.rules.keyword_matches`` and ``Link.found_in`` (folding, the automaton, finding and
   canonicalising links: the in-memory part of a check) on 200-character messages with a link,
   p50/p99 in µs, and the whole ``services.check`` (with its database queries: the change-log
   head, one probe for sender, URLs and domains, the allowlist) in a request context;
4. start gunicorn on the same database and drive ``/healthz`` and ``/v1/check`` with the same
   client and concurrency in the same run; report requests/s and their ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import http.client
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import flask_migrate  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from blocklist import create_app  # noqa: E402
from blocklist.auth import services as auth_services  # noqa: E402
from blocklist.context import OPERATOR  # noqa: E402
from blocklist.db import db  # noqa: E402
from blocklist.entries.models import Entry  # noqa: E402
from blocklist.matcher import rules  # noqa: E402
from blocklist.matcher.probe import Link  # noqa: E402
from blocklist.matching import engine as engine_module  # noqa: E402
from blocklist.matching import services  # noqa: E402
from blocklist.values.folding import fold  # noqa: E402
from blocklist.values.urls import url_expression  # noqa: E402

ZH_A = [
    "安全",
    "冻结",
    "刷单",
    "返利",
    "中奖",
    "客服",
    "退款",
    "贷款",
    "征信",
    "公检法",
    "医保",
    "快递",
    "理赔",
    "兼职",
    "投资",
    "博彩",
    "积分",
    "兑换",
    "验证码",
    "账户",
    "涉嫌",
    "洗钱",
    "解冻",
    "保证金",
]
ZH_B = [
    "账户",
    "通知",
    "专员",
    "平台",
    "链接",
    "资金",
    "操作",
    "认证",
    "审核",
    "补贴",
    "名额",
    "奖励",
    "清查",
    "核实",
    "激活",
    "升级",
    "入口",
    "热线",
    "流水",
    "额度",
]
EN_A = ["claim", "win", "verify", "urgent", "free", "refund", "unlock", "bonus", "crypto", "loan"]
EN_B = ["prize", "account", "reward", "gift", "payment", "wallet", "code", "card", "credit", "cash"]
FILLER = (
    "您好我们是客户服务中心今天为您带来最新的活动信息请您留意短信内容如有疑问请回复咨询感谢您的支持"
    "祝您生活愉快工作顺利本条消息由系统自动发送请勿直接回复"
)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def keywords(n: int, rng: random.Random) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        if rng.random() < 0.7:
            word = rng.choice(ZH_A) + rng.choice(ZH_B) + str(rng.randrange(10_000))
        else:
            word = f"{rng.choice(EN_A)} your {rng.choice(EN_B)} {rng.randrange(100_000)}"
        out.add(fold(word))
    return sorted(out)


def rows(args) -> dict[str, list[dict]]:
    rng = random.Random(42)
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(days=365)

    def row(kind, value, **extra):
        return {
            "kind": kind,
            "value": value,
            "raw_value": value,
            "status": "active",
            "reporters": 1,
            "version": 1,
            "expires_at": later,
            "created_at": now,
            "updated_at": now,
            **extra,
        }

    half = args.urls // 2
    url_values = [f"http://pay{i}.scam{i % 997}.com/login{i}/" for i in range(half)]
    return {
        "keyword": [row("keyword", k) for k in keywords(args.keywords, rng)],
        "url": [row("url", u, match_key=url_expression(u)) for u in url_values],
        "domain": [
            row("domain", f"phish{i}.{rng.choice(['cn', 'top', 'xyz', 'com'])}") for i in range(args.urls - half)
        ],
        "number": [row("number", f"+86138{i:08d}") for i in range(args.numbers)],
    }


def setup_database(app, args) -> dict[str, list[dict]]:
    if args.reuse:
        return rows(args)  # the same generated rows, already in the database
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        flask_migrate.upgrade(directory=os.path.join(ROOT, "migrations"))
        data = rows(args)
        started = time.perf_counter()
        for _kind, batch in data.items():
            for i in range(0, len(batch), 20_000):
                db.session.execute(insert(Entry), batch[i : i + 20_000])
            db.session.commit()
        print(
            f"inserted {sum(map(len, data.values())):,} entries in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
        return data


def messages(data, n: int, rng: random.Random) -> list[str]:
    """~200-character messages, each with one link; a third hold a listed keyword, a third a
    listed URL or domain, the rest are clean."""
    kws = [r["value"] for r in data["keyword"]]
    links = [r["value"].split("://")[1] + "x" for r in data["url"]] + [r["value"] + "/a" for r in data["domain"]]
    out = []
    for i in range(n):
        start = rng.randrange(len(FILLER))
        body = (FILLER * 3)[start : start + 150]
        kw = rng.choice(kws) if i % 3 == 0 else "正常内容"
        link = rng.choice(links) if i % 3 == 1 else f"www.example{i}.com/path/{i}"
        msg = f"{body[:70]}{kw}{body[70:]} 详情 {link} 回T退订"
        out.append(msg[:230])
    return out


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


# --- live server load ----------------------------------------------------------------------------


def _load_worker(port, path, bodies, headers, seconds, threads, queue):
    import threading

    counts, errors = [0] * threads, [0] * threads

    def run(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        deadline = time.monotonic() + seconds
        n = i
        while time.monotonic() < deadline:
            n += 1
            body = bodies[n % len(bodies)] if bodies else None
            try:
                if body is None:
                    conn.request("GET", path, headers=headers)
                else:
                    conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    counts[i] += 1
                else:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    queue.put((sum(counts), sum(errors)))


def load(port, path, bodies, headers, seconds, processes, threads) -> tuple[float, int]:
    queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=_load_worker, args=(port, path, bodies, headers, seconds, threads, queue))
        for _ in range(processes)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    return sum(r[0] for r in results) / elapsed, sum(r[1] for r in results)


def live(args, app, msgs) -> dict[str, float]:
    with app.app_context():
        org = auth_services.create_org(f"bench-consumer-{int(time.time())}", "consumer", actor=OPERATOR)
        client, secret = auth_services.create_client(org, actor=OPERATOR)
        db.session.commit()
        client_id = client.client_id
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "BLOCKLIST_DATABASE_URL": args.database_url,
        "BLOCKLIST_SECRET_KEY": "bench",
        "BLOCKLIST_RATE_LIMIT_ENABLED": "false",
    }  # measuring throughput, not the limiter
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    server = subprocess.Popen(
        [
            gunicorn,
            "-c",
            os.path.join(ROOT, "deploy", "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--access-logfile",
            "/dev/null",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        form = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
        conn.request("POST", "/oauth/token", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
        token = json.loads(conn.getresponse().read())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        # the messages of step 3; a third of the senders are listed numbers
        bodies = [
            json.dumps({"sender": f"1380000{i:04d}" if i % 3 == 2 else f"1390000{i:04d}", "text": m})
            for i, m in enumerate(msgs[:500])
        ]
        # warm-up: every worker builds its engine on its first check
        load(port, "/v1/check", bodies, headers, args.warmup, args.processes, args.concurrency)
        health, health_errors = load(port, "/healthz", None, {}, args.seconds, args.processes, args.concurrency)
        check, check_errors = load(port, "/v1/check", bodies, headers, args.seconds, args.processes, args.concurrency)
        return {"healthz": health, "check": check, "errors": health_errors + check_errors}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="sqlite:////tmp/blocklist_bench_check.sqlite")
    parser.add_argument("--keywords", type=int, default=100_000)
    parser.add_argument("--urls", type=int, default=100_000, help="URL + domain entries (half each)")
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--processes", type=int, default=2, help="load-client processes")
    parser.add_argument("--concurrency", type=int, default=4, help="connections per client process")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--no-live", action="store_true")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="the database already holds this run's rows (same sizes): skip wiping and inserting",
    )
    args = parser.parse_args()

    if args.database_url.startswith("sqlite:///") and not args.reuse:
        path = args.database_url[len("sqlite:///") :]
        if os.path.exists(path):
            os.remove(path)
    app = create_app({"database_url": args.database_url, "secret_key": "bench"})
    data = setup_database(app, args)

    results: list[tuple[str, str]] = []
    words = [(i, r["value"]) for i, r in enumerate(data["keyword"])]
    started = time.perf_counter()
    engine_module._automaton(words)
    results.append((f"Aho-Corasick build, {len(words):,} keywords", f"{time.perf_counter() - started:.3f} s"))

    gc.collect()
    rss_before = rss_bytes()
    engine = engine_module.get_engine(app)
    with app.app_context():
        started = time.perf_counter()
        engine.refresh(db.session)
        build = time.perf_counter() - started
    gc.collect()
    rss_after = rss_bytes()
    stats = engine.stats()
    results.append(("keyword engine build from the database", f"{build:.3f} s"))
    results.append(("engine contents", f"{stats['keyword']:,} keywords"))
    results.append(("engine memory (RSS growth of this process)", f"{(rss_after - rss_before) / 2**20:.0f} MiB"))

    rng = random.Random(7)
    msgs = messages(data, args.messages, rng)
    now = time.time()
    timings, matched = [], 0
    for msg in msgs:
        started = time.perf_counter()
        found = rules.keyword_matches(engine, msg, now)
        Link.found_in(msg)
        timings.append((time.perf_counter() - started) * 1e6)
        matched += bool(found)
    results.append(
        (
            f"keywords + link finding, {len(msgs):,} msgs of ~{int(statistics.mean(map(len, msgs)))} chars "
            f"({matched:,} with a keyword)",
            f"p50 {percentile(timings, 50):.0f} µs, p99 {percentile(timings, 99):.0f} µs",
        )
    )

    full = []
    with app.test_request_context():
        for i, msg in enumerate(msgs[:1000]):
            sender = f"1380000{i:04d}" if i % 3 == 2 else f"1390000{i:04d}"
            started = time.perf_counter()
            services.check(sender, msg)
            full.append((time.perf_counter() - started) * 1e6)
            db.session.rollback()
    results.append(
        (
            "services.check incl. head, sender/URL/domain probe and allowlist queries",
            f"p50 {percentile(full, 50):.0f} µs, p99 {percentile(full, 99):.0f} µs",
        )
    )

    if not args.no_live:
        rates = live(args, app, msgs)
        results.append(
            (
                f"live gunicorn ({args.workers} gthread workers x {args.threads} threads; client "
                f"{args.processes} procs x {args.concurrency} conns)",
                f"/healthz {rates['healthz']:.0f} req/s, /v1/check {rates['check']:.0f} req/s",
            )
        )
        results.append(("/v1/check : /healthz", f"{rates['check'] / rates['healthz']:.2f} (errors: {rates['errors']})"))

    width = max(len(k) for k, _ in results)
    print(f"\ndatabase: {app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")
    for key, value in results:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
