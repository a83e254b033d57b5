"""Trust benchmark (run by hand, not in CI): does storing score and tier slow the read path, and
does the tier job keep its memory bounded?

    .venv/bin/python bench/bench_trust.py --before /work/main --size 100000
    .venv/bin/python bench/bench_trust.py --tier-only --sql-load 10000000 --tier-seconds 600

1. Makes a scratch PostgreSQL database (WIPED: `blocklist_bench_trust`), migrates it with this
   checkout and loads `--size` generated entries through the publish service (bench/generate.py).
2. Read path, before and after in the same run: serves the same database alternately with the
   code `--before` (a checkout of the code before this change, with its own .venv; it ignores
   the new columns) and with this checkout, `--rounds` times each, and drives single look-ups
   and message checks with wrk (same settings, same values). Prints each round and the median
   ratio after/before.
3. Tier job: marks every active entry due, then times `retier_all_due` (batches of
   BLOCKLIST_TIER_BATCH, each committed) in this process and reports entries/s and the growth
   of the process's peak RSS.

`--tier-only` skips step 2. `--sql-load N` loads the same N generated items set-based
(`generate.load_sql`, the loader `run.py` uses at 1 M and over: minutes for 10 M instead of
hours); `--tier-seconds S` stops the tier job after S seconds (it commits per batch, so this is
the job interrupted, as a restart would), printing throughput and peak RSS along the way.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
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
import generate  # noqa: E402
from run import SMS, psql, sample_values, sh, token_for, warm_up, wrk  # noqa: E402

VENV_BIN = Path(sys.executable).parent


class Server:
    def __init__(self, root: Path, database_url: str, port: int, workers: int = 2):
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "BLOCKLIST_DATABASE_URL": database_url,
            "BLOCKLIST_BIND": f"127.0.0.1:{port}",
            "BLOCKLIST_WORKERS": str(workers),
            "BLOCKLIST_THREADS": "8",
            "BLOCKLIST_ACCESS_LOG": "/dev/null",
            "BLOCKLIST_SECRET_KEY": "bench",
            "BLOCKLIST_RATE_LIMIT_ENABLED": "false",
            "BLOCKLIST_SWEEP_INTERVAL": "0",
            "BLOCKLIST_AUDIT_SIGNING_KEY_FILE": os.environ["BLOCKLIST_AUDIT_SIGNING_KEY_FILE"],
            "BLOCKLIST_SUBJECT_PEPPER": os.environ["BLOCKLIST_SUBJECT_PEPPER"],
        }
        self.process = subprocess.Popen(
            [str(root / ".venv" / "bin" / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
            cwd=root,
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
        raise RuntimeError(f"gunicorn from {root} did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="checkout of the code before (with its .venv); required unless --tier-only")
    parser.add_argument("--tier-only", action="store_true", help="measure the tier job only")
    parser.add_argument("--sql-load", type=int, default=0, help="load this many entries with plain SQL instead")
    parser.add_argument(
        "--tier-seconds", type=float, default=0, help="stop the tier job after this long (0: run it out)"
    )
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="reuse the scratch database if it exists")
    args = parser.parse_args()
    if not args.tier_only and not args.before:
        parser.error("--before is required unless --tier-only")

    admin = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
    database_url = "postgresql://postgres@127.0.0.1:5432/blocklist_bench_trust"
    exists = psql(admin, "SELECT 1 FROM pg_database WHERE datname = 'blocklist_bench_trust'").strip() == "1"
    load = not (args.keep and exists)
    if load:
        psql(admin, "DROP DATABASE IF EXISTS blocklist_bench_trust WITH (FORCE)")
        psql(admin, "CREATE DATABASE blocklist_bench_trust")
    tmp = Path(tempfile.mkdtemp())
    (tmp / "pepper").write_text("bench-pepper-0123456789abcdef\n")
    os.environ.update(
        {
            "BLOCKLIST_DATABASE_URL": database_url,
            "BLOCKLIST_SUBJECT_PEPPER": str(tmp / "pepper"),
            "BLOCKLIST_AUDIT_SIGNING_KEY_FILE": str(tmp / "key.pem"),
        }
    )
    sh(str(VENV_BIN / "flask"), "--app", "wsgi", "audit", "keygen")
    if load:
        sh(str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade")
        print(f"loading {args.sql_load or args.size:,} entries ...", file=sys.stderr)
        load_seconds = (
            generate.load_sql(args.sql_load, "bench-carrier", loaders=2)
            if args.sql_load
            else generate.load_direct(args.size, "bench-carrier")
        )
        print(f"loaded in {load_seconds:.0f} s", file=sys.stderr)
    psql(database_url, "VACUUM ANALYZE")
    if not args.tier_only:
        read_path(args, Path(args.before).resolve(), database_url, tmp)
    tier_job(database_url, args.tier_seconds)
    return 0


def read_path(args: argparse.Namespace, before: Path, database_url: str, tmp: Path) -> None:
    singles = sample_values(database_url, ("number", "code"), 2000)
    (tmp / "values.txt").write_text(
        "\n".join(re.sub(r"[^0-9+]", "", v["value"]).replace("+", "%2B") for v in singles) + "\n"
    )
    check_body = {"sender": "10690000001", "text": SMS.format(n=7)[:200]}
    (tmp / "check.json").write_text(json.dumps(check_body))

    results: dict[str, dict[str, list[float]]] = {
        "before": {"lookup": [], "check": []},
        "after": {"lookup": [], "check": []},
    }
    port = 8461
    for round_ in range(args.rounds):
        for label, root in (("before", before), ("after", ROOT)):
            port += 1
            server = Server(root, database_url, port)
            try:
                bearer = token_for(server, database_url)
                lookup = wrk(
                    server.url + "/v1/lookup",
                    bearer,
                    script="get_values.lua",
                    seconds=args.seconds,
                    env={"BENCH_VALUES": str(tmp / "values.txt"), "BENCH_PATH": "/v1/lookup"},
                )
                warm_up(server.url, "/v1/check", bearer, check_body)
                check = wrk(
                    server.url,
                    bearer,
                    script="post_body.lua",
                    seconds=args.seconds,
                    env={"BENCH_BODY": str(tmp / "check.json"), "BENCH_PATH": "/v1/check"},
                )
            finally:
                server.stop()
            results[label]["lookup"].append(lookup["rps"])
            results[label]["check"].append(check["rps"])
            print(
                f"round {round_ + 1} {label:6}: look-up {lookup['rps']:7.0f} req/s (p50 {lookup['p50_ms']:.1f} ms, "
                f"errors {lookup['errors']}), check {check['rps']:7.0f} req/s (p50 {check['p50_ms']:.1f} ms, "
                f"errors {check['errors']})"
            )
    for what in ("lookup", "check"):
        b, a = statistics.median(results["before"][what]), statistics.median(results["after"][what])
        print(f"{what}: before {b:,.0f} req/s, after {a:,.0f} req/s, after/before {a / b:.3f}")


def tier_job(database_url: str, seconds_limit: float) -> None:
    """The tier job over every active entry (all marked due), in committed batches, until done
    or `seconds_limit` passed."""
    from blocklist import create_app
    from blocklist.db import db
    from blocklist.feeds.sweeper import retier_all_due

    active = int(psql(database_url, "SELECT count(*) FROM entries WHERE status = 'active'"))
    psql(database_url, "UPDATE entries SET tier_due_at = now() - interval '1 second' WHERE status = 'active'")
    psql(database_url, "VACUUM ANALYZE entries")
    app = create_app()
    done, report_at = 0, 60.0
    with app.app_context():
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        while True:
            count = retier_all_due(max_batches=1)
            done += count
            elapsed = time.perf_counter() - started
            if elapsed >= report_at:
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"  {elapsed:6.0f} s: {done:,} re-assessed ({done / elapsed:,.0f}/s), peak RSS {rss:.0f} MiB")
                report_at += 60
            if count == 0 or (seconds_limit and elapsed >= seconds_limit):
                break
        seconds = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        db.session.remove()
    print(
        f"tier job: {done:,} of {active:,} active entries re-assessed in {seconds:.1f} s "
        f"({done / seconds:,.0f} entries/s); peak RSS {rss_before:.0f} -> {rss_after:.0f} MiB"
    )


if __name__ == "__main__":
    sys.exit(main())
