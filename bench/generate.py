"""Deterministic, realistic blocklist data at any size, and two ways to load it.

    python bench/generate.py --size 100000 --via direct   # in-process: the publish service
    python bench/generate.py --size 10000000 --via sql --loaders 2   # set-based (empty database)
    python bench/generate.py --size 100000 --via api --url http://127.0.0.1:8000 \
        --client-id ... --client-secret ...

Both paths run the same code (`blocklist.entries.services.publish`) in batches of 10,000, so
they produce the same rows — entries, reports, tags, change log and audit trail. `direct` skips
HTTP and JSON (it is the fast path for 1M–10M rows: on PostgreSQL the service writes with
COPY); it uses BLOCKLIST_DATABASE_URL and publishes as the org named by --org (created as a
carrier if missing). `sql` (PostgreSQL, an empty database) canonicalises the same items with the
publish service's `prepare` and writes the rows set-based (`load_sql`: about 10 minutes for 10 M
where the publish service takes hours); the rows are those of `direct` except the audit trail.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import random
import sys
import time
from collections.abc import Iterator

BATCH = 10_000

# Shares of each kind, roughly as in a national list: mostly numbers.
MIX = (("number", 0.70), ("code", 0.08), ("range", 0.02), ("keyword", 0.08), ("url", 0.07), ("domain", 0.05))

MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "170",
    "171",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
]
AREA_CODES = [
    "010",
    "020",
    "021",
    "022",
    "023",
    "024",
    "025",
    "027",
    "028",
    "029",
    "0371",
    "0451",
    "0531",
    "0571",
    "0591",
    "0731",
    "0755",
    "0769",
    "0898",
]
ZH_WORDS = [
    "安全账户",
    "刷单",
    "返利",
    "贷款",
    "秒批",
    "无抵押",
    "退款",
    "理赔",
    "中奖",
    "领取",
    "验证码",
    "冻结",
    "解冻",
    "公检法",
    "通缉",
    "洗钱",
    "客服",
    "快递丢失",
    "积分兑换",
    "医保",
    "社保",
    "征信",
    "修复",
    "注销",
    "校园贷",
    "投资",
    "高回报",
    "内幕",
    "带单",
    "充值",
    "游戏装备",
    "低价",
    "代购",
    "机票改签",
    "航班取消",
    "保证金",
    "手续费",
    "点击链接",
]
EN_WORDS = [
    "verify",
    "account",
    "suspended",
    "refund",
    "prize",
    "winner",
    "claim",
    "urgent",
    "loan",
    "approved",
    "crypto",
    "bonus",
    "gift",
    "card",
    "password",
    "reset",
    "parcel",
    "delivery",
    "fee",
    "unlock",
    "bank",
    "security",
    "alert",
    "invest",
    "profit",
]
TLDS = ["com", "cn", "net", "top", "xyz", "vip", "shop", "com.cn", "cc", "info", "online", "site"]
SYLLABLES = [
    "pay",
    "bank",
    "icbc",
    "secure",
    "login",
    "verify",
    "gov",
    "tax",
    "refund",
    "wx",
    "ali",
    "jd",
    "tb",
    "kefu",
    "help",
    "cs",
    "vip",
    "bonus",
    "mall",
    "cloud",
    "app",
    "sso",
    "auth",
    "id",
    "cn",
    "hk",
    "ok",
    "go",
    "mi",
    "hw",
]
TAGS = [
    "fraud:ticket-scam",
    "fraud:loan",
    "fraud:impersonation",
    "fraud:phishing",
    "fraud:task-scam",
    "fraud:investment",
    "channel:sms",
    "channel:voice",
    "channel:web",
    "source:12321",
    "source:user-report",
    "source:carrier",
]


def _pick_kind(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for kind, share in MIX:
        total += share
        if roll < total:
            return kind
    return MIX[-1][0]


def _value(kind: str, rng: random.Random, serial: int) -> str:
    """A value of `kind`; `serial` keeps values distinct at any size."""
    if kind == "number":
        if rng.random() < 0.85:
            return f"{rng.choice(MOBILE_PREFIXES)}{serial % 10**8:08d}"
        area = rng.choice(AREA_CODES)
        return f"{area}-{serial % 10 ** (11 - len(area)):0{11 - len(area)}d}"
    if kind == "code":
        head = rng.choice(["1068", "1069", "95", "96", "400", "800"])
        width = {"1068": 8, "1069": 8, "95": 8, "96": 8, "400": 10, "800": 10}[head]
        return head + f"{serial % 10 ** (width - len(head)):0{width - len(head)}d}"
    if kind == "range":
        prefix = rng.choice(["9527", "1069", "1068", "170", "171", "165"]) + f"{serial % 10**4:04d}"
        return prefix + "x" * rng.choice([2, 3, 4])
    if kind == "keyword":
        if rng.random() < 0.7:
            return "".join(rng.sample(ZH_WORDS, 2)) + str(serial)
        return " ".join(rng.sample(EN_WORDS, 3)) + f" {serial}"
    host = "".join(rng.sample(SYLLABLES, 2)) + f"{serial}.{rng.choice(TLDS)}"
    if kind == "domain":
        return host
    path = "/".join(rng.sample(SYLLABLES, rng.choice([1, 2])))
    return f"{rng.choice(['http', 'https'])}://{host}/{path}?id={serial % 9973}"


def generate(size: int, seed: int = 2026) -> Iterator[dict]:
    """`size` publish items, the same for the same (size, seed)."""
    rng = random.Random(seed)
    for serial in range(size):
        kind = _pick_kind(rng)
        yield {
            "kind": kind,
            "value": _value(kind, rng, serial),
            "tags": rng.sample(TAGS, rng.choice([0, 1, 2])),
            "category": rng.choice(["fraud", "fraud", "spam", "phishing"]),
            "reason": "bench",
        }


def batches(size: int, seed: int = 2026) -> Iterator[list[dict]]:
    items = generate(size, seed)
    while chunk := list(itertools.islice(items, BATCH)):
        yield chunk


# Batches between ANALYZEs while loading. Autovacuum would do it, but it is off on some
# machines (this one's PostgreSQL): with statistics from an emptier table, the planner read
# entry_tags sequentially for every publish and the 10M load slowed from 6,600 to 2,200/s.
ANALYZE_EVERY = 50


def _analyze(db) -> None:
    with db.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE entries, entry_tags, reports")
        connection.commit()


def _load_share(size: int, org_name: str, seed: int, share: int, loaders: int, progress=None) -> None:
    """Publish every `loaders`-th batch, starting at batch `share`, in this process."""
    from sqlalchemy import select

    from blocklist import create_app
    from blocklist.auth.models import Org
    from blocklist.context import Actor
    from blocklist.db import db
    from blocklist.entries import services

    app = create_app()
    with app.app_context():
        org = db.session.scalar(select(Org).where(Org.name == org_name))
        actor = Actor(org.id, org.name, "bench-direct", org.kind)
        db.session.remove()
        done = 0
        for number, chunk in enumerate(batches(size, seed)):
            if number % loaders != share:
                continue
            with app.test_request_context("/v1/entries/bulk", method="POST"):
                services.publish(chunk, actor)
                db.session.commit()
                db.session.remove()
            if share == 0 and number % ANALYZE_EVERY == ANALYZE_EVERY - 1 and db.engine.dialect.name == "postgresql":
                _analyze(db)
            done += len(chunk)
            if progress:
                progress(done * loaders)


def _in_processes(target, args_per_process: list[tuple]) -> None:
    """Run `target` once per argument tuple, each in its own (spawned) process, and wait for
    all; RuntimeError if any failed."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=target, args=args) for args in args_per_process]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if any(worker.exitcode for worker in workers):
        raise RuntimeError(f"a loader failed: exit codes {[w.exitcode for w in workers]}")


def load_direct(size: int, org_name: str, seed: int = 2026, progress=None, loaders: int = 1) -> float:
    """Publish in-process through the service layer; returns seconds taken.

    With `loaders` > 1 that many processes publish alternate batches at once. Each publish
    validates and canonicalises outside the entry-writer lock and writes under it (as
    concurrent API clients would), so the rows are the same as a serial load's; only the
    order of change-log positions and audit records interleaves."""

    from sqlalchemy import select

    from blocklist import create_app
    from blocklist.auth import services as auth_services
    from blocklist.auth.models import Org
    from blocklist.context import OPERATOR
    from blocklist.db import db

    with create_app().app_context():
        if db.session.scalar(select(Org).where(Org.name == org_name)) is None:
            auth_services.create_org(org_name, "carrier", actor=OPERATOR)
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    started = time.perf_counter()
    if loaders == 1:
        _load_share(size, org_name, seed, 0, 1, progress)
    else:
        _in_processes(
            _load_share,
            [(size, org_name, seed, share, loaders, progress if share == 0 else None) for share in range(loaders)],
        )
    return time.perf_counter() - started


# --- The SQL loader: the same items, written set-based (minutes for 10 M instead of hours) -----

STAGE = "bench_load_stage"


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _stage_share(size: int, org_name: str, seed: int, share: int, loaders: int) -> None:
    """Canonicalise every `loaders`-th batch (from batch `share`) with the publish service's own
    `prepare` (the same validation and canonical values) and COPY the prepared items into the
    staging table, each with its serial (its place in the generated stream)."""
    import psycopg
    from sqlalchemy import select

    from blocklist import create_app
    from blocklist.auth.models import Org
    from blocklist.context import Actor
    from blocklist.db import db
    from blocklist.entries import services, tagcounts

    app = create_app()
    with app.app_context():
        org = db.session.scalar(select(Org).where(Org.name == org_name))
        actor = Actor(org.id, org.name, "bench-direct", org.kind)
        db.session.remove()
        url = _psycopg_url(str(db.engine.url.render_as_string(hide_password=False)))
        db.engine.dispose()
        columns = "serial, kind, value, raw_value, category, reason, range_prefix, range_length, match_key, tags"
        with psycopg.connect(url) as connection, connection.cursor() as cursor:
            for number, chunk in enumerate(batches(size, seed)):
                if number % loaders != share:
                    continue
                with cursor.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as copy:
                    for item in services.prepare(chunk, actor, single=False):
                        value = item.value
                        copy.write_row(
                            (
                                number * BATCH + item.index,
                                value.kind,
                                value.value,
                                item.raw_value,
                                item.category,
                                item.reason,
                                value.range_prefix,
                                value.range_length,
                                value.match_key,
                                tagcounts.render(item.tags),
                            )
                        )
                connection.commit()


def load_sql(size: int, org_name: str, seed: int = 2026, loaders: int = 1) -> float:
    """Load the same `size` generated items as `load_direct`, into a database with no entries
    yet, set-based: the items are canonicalised by the publish service's `prepare` (in
    `loaders` processes) and COPYed to a staging table, then written with a few INSERT … SELECTs:
    one active entry per distinct value (a value generated again, as codes and ranges are, is
    merged as the corroboration would: the union of the tags, the last category, one version per
    publish), one report by the org, its tags and tag claims, one `upsert` change each (a
    repeated value's earlier change is not written), score and tier as
    `trust.assess_new` gives a fresh entry with this org's report, object_uuid, tag counts and
    the snapshot's lines. No audit records (the publish service writes one per entry; the SQL
    load does not). Returns seconds taken. PostgreSQL only."""
    import datetime as dt

    from sqlalchemy import func, select, text

    from blocklist import create_app
    from blocklist.auth import services as auth_services
    from blocklist.auth.models import Org
    from blocklist.context import OPERATOR
    from blocklist.db import db
    from blocklist.entries import services, trust
    from blocklist.entries.models import Entry
    from blocklist.feeds import lines
    from blocklist.values.ids import NAMESPACE
    from blocklist.values.kinds import KINDS

    started = time.perf_counter()
    app = create_app()
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            raise RuntimeError("load_sql needs PostgreSQL")
        if db.session.scalar(select(func.count()).select_from(Entry)):
            raise RuntimeError("load_sql loads into a database with no entries yet")
        if db.session.scalar(select(Org).where(Org.name == org_name)) is None:
            auth_services.create_org(org_name, "carrier", actor=OPERATOR)
        org = db.session.scalar(select(Org).where(Org.name == org_name))
        org_id, org_kind = org.id, org.kind
        db.session.execute(text('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"'))
        db.session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
        db.session.execute(
            text(
                f"CREATE UNLOGGED TABLE {STAGE} (serial bigint, kind text, value text, raw_value text, "
                "category text, reason text, range_prefix text, range_length int, match_key text, tags text)"
            )
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

        _in_processes(_stage_share, [(size, org_name, seed, share, loaders) for share in range(loaders)])
        print(f"staged in {time.perf_counter() - started:.0f} s", file=sys.stderr)

        moment = services.utcnow()
        now = moment.astimezone(dt.UTC).replace(tzinfo=None)
        fresh = {kind: trust.assess_new(kind, {org_id: org_kind}, moment) for kind in KINDS}

        def naive(when: dt.datetime | None) -> str:
            return "NULL" if when is None else f"TIMESTAMP '{when.astimezone(dt.UTC).replace(tzinfo=None).isoformat()}'"

        def per_kind(values: dict[str, str]) -> str:
            return "CASE s.kind " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in values.items()) + " END"

        score = per_kind({k: str(a.score) for k, a in fresh.items()})
        tier = per_kind({k: f"'{a.tier}'" for k, a in fresh.items()})
        due = per_kind({k: naive(a.due_at) for k, a in fresh.items()})
        expiry = per_kind({k: naive(services.default_expiry(k, moment)) for k in KINDS})
        steps = [
            # No foreign-key checks in this transaction (the schema has no other triggers): every
            # id written below is taken from the rows just inserted, and the per-row checks were
            # most of the 10 M load's time (entry_tags and tag_claims: minutes each).
            "SET LOCAL session_replication_role = replica",
            f"CREATE INDEX ON {STAGE} (kind, value)",
            f"ANALYZE {STAGE}",
            # One entry per distinct value, ids in the order of the generated stream.
            "INSERT INTO entries (id, kind, value, object_uuid, raw_value, status, category, range_prefix,"
            " range_length, match_key, reporters, version, score, tier, tier_due_at, expires_at, created_at,"
            " updated_at, feed_tags) "
            f"SELECT row_number() OVER (ORDER BY s.serial), s.kind, s.value,"
            f" uuid_generate_v5('{NAMESPACE}', s.kind || ':' || s.value), s.raw_value, 'active', s.category,"
            f" s.range_prefix, s.range_length, s.match_key, 1, 1, {score}, {tier}, {due}, {expiry},"
            f" :now, :now, s.tags"
            f" FROM (SELECT DISTINCT ON (kind, value) * FROM {STAGE} ORDER BY kind, value, serial) s",
            "SELECT setval(pg_get_serial_sequence('entries', 'id'), (SELECT max(id) FROM entries))",
            "INSERT INTO reports (entry_id, org_id, client_id, raw_value, reason, expires_at, created_at, updated_at)"
            " SELECT id, :org, 'bench-direct', raw_value, 'bench', expires_at, :now, :now FROM entries ORDER BY id",
            # Tags: the union over every item of the value.
            "INSERT INTO entry_tags (entry_id, tag) SELECT DISTINCT e.id, t.tag"
            f" FROM {STAGE} s JOIN entries e ON e.kind = s.kind AND e.value = s.value,"
            " json_array_elements_text(s.tags::json) AS t(tag) WHERE s.tags <> '[]'",
            "INSERT INTO tag_claims (entry_id, tag, org_id) SELECT entry_id, tag, :org FROM entry_tags",
            # A value generated more than once: as after its corroborations, the union of the tags,
            # the last item's category and one version per publish.
            "UPDATE entries e SET feed_tags = coalesce((SELECT '[' || string_agg(to_json(t.tag)::text, ','"
            """ ORDER BY t.tag COLLATE "C") || ']' FROM entry_tags t WHERE t.entry_id = e.id), '[]'),"""
            " category = d.category, version = d.n"
            " FROM (SELECT kind, value, count(*) AS n, (array_agg(category ORDER BY serial DESC))[1] AS category"
            f" FROM {STAGE} GROUP BY kind, value HAVING count(*) > 1) d"
            " WHERE e.kind = d.kind AND e.value = d.value",
            "DELETE FROM tag_counts",
            "INSERT INTO tag_counts (tag, count) SELECT tag, count(*) FROM entry_tags GROUP BY tag",
            # One upsert change per entry, times strictly increasing with positions.
            "INSERT INTO feed_changes (position, entry_id, op, kind, value, tier, created_at)"
            " SELECT id, id, 'upsert', kind, value, tier, :now + id * interval '1 microsecond' FROM entries",
            "UPDATE feed_head SET position = (SELECT max(id) FROM entries) WHERE id = 1",
            f"DROP TABLE {STAGE}",
        ]
        for step in steps:
            begun = time.perf_counter()
            db.session.execute(text(step), {"now": now, "org": org_id})
            print(f"  {time.perf_counter() - begun:6.1f} s  {step[:70]}", file=sys.stderr)
        services.lock_for_write()
        lines.rebuild()
        db.session.commit()
        db.session.remove()
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        db.engine.dispose()
    return time.perf_counter() - started


def load_api(size: int, url: str, client_id: str, client_secret: str, seed: int = 2026, progress=None) -> float:
    """Publish through POST /v1/entries/bulk; returns seconds taken."""
    import requests

    session = requests.Session()
    token = session.post(
        url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret), timeout=30
    ).json()["access_token"]
    session.headers["Authorization"] = "Bearer " + token
    started, done = time.perf_counter(), 0
    for number, chunk in enumerate(batches(size, seed)):
        response = session.post(
            url + "/v1/entries/bulk",
            json={"items": chunk},
            timeout=600,
            headers={"Idempotency-Key": f"bench-{seed}-{size}-{number}"},
        )
        response.raise_for_status()
        done += len(chunk)
        if progress:
            progress(done)
    return time.perf_counter() - started


def print_progress(done: int, size: int) -> None:
    print(f"\r{done:,} / {size:,}", end="", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--via", choices=["direct", "sql", "api"], default="direct")
    parser.add_argument("--org", default="bench-carrier", help="direct: the publishing org's name")
    parser.add_argument("--loaders", type=int, default=1, help="direct: processes publishing at once")
    parser.add_argument("--url")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    args = parser.parse_args(argv)

    progress = functools.partial(print_progress, size=args.size)  # picklable, for --loaders

    if args.via == "api":
        if not (args.url and args.client_id and args.client_secret):
            parser.error("--via api needs --url, --client-id and --client-secret")
        seconds = load_api(args.size, args.url.rstrip("/"), args.client_id, args.client_secret, args.seed, progress)
    elif args.via == "sql":
        seconds = load_sql(args.size, args.org, args.seed, args.loaders)
    else:
        seconds = load_direct(args.size, args.org, args.seed, progress, args.loaders)
    print(f"\nloaded {args.size:,} items in {seconds:.1f} s ({args.size / seconds:,.0f}/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
