"""Benchmark for the local matcher (run by hand, not in CI): checks and look-ups per second on
one core against a mirror of SIZE entries, as a carrier's interception system embeds it.

    .venv/bin/python bench/bench_matcher.py                     # 1,000,000 entries
    .venv/bin/python bench/bench_matcher.py --size 100000 --messages 20000

Steps:

1. write a mirror file (``blocklist.sync.mirror.Mirror.load_snapshot``, what a snapshot sync
   does) of SIZE generated entries (``bench/generate.py``: numbers, codes, ranges, keywords,
   URLs, domains in a national list's proportions), canonicalised as the server stores them,
   85 % tier block and 15 % label; kept in ``--mirror`` and reused while its size matches;
2. ``LocalMatcher.open`` it: load time and the process's RSS growth;
3. check generated SMS-like messages (``--messages``; 20-140 characters of Chinese and English
   filler, 15 % with a listed keyword (a fifth of those spaced out), 20 % with a link (listed
   URL, host under a listed domain, or unlisted); senders: 25 % listed numbers in several
   formats, 10 % listed codes, 35 % other mobile numbers, 30 % other 1069 codes), single
   thread, pinned to one CPU when the OS allows. Two passes over the same messages: *cold*
   (every sender seen for the first time: phone-number parsing included) and *warm* (senders
   seen before: the sender's reading is cached, as for repeat senders);
4. look-ups of listed and unlisted values in mixed formats, likewise cold and warm.

The figures are per process and single-threaded; the matcher's answers take no lock, so
threads of one process share one copy (but not the GIL) and processes each hold their own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from generate import EN_WORDS, ZH_WORDS, generate  # noqa: E402

from blocklist.sync import LocalMatcher  # noqa: E402
from blocklist.sync.mirror import Mirror  # noqa: E402
from blocklist.values.canonical import canonicalise  # noqa: E402
from blocklist.values.kinds import InvalidValue  # noqa: E402

FILLER = [
    "您好，",
    "您的快递已到",
    "本月账单",
    "请及时查收。",
    "会议改到下午三点",
    "Hello, ",
    "your order ",
    "退订回T",
    "。",
    " ",
]


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build_mirror(path: str, size: int) -> None:
    """Write the mirror."""
    rng = random.Random(18)
    rows = []
    started = time.perf_counter()
    for serial, item in enumerate(generate(size)):
        try:
            value = canonicalise(item["kind"], item["value"], "CN").value
        except InvalidValue:
            continue
        tier = "block" if rng.random() < 0.85 else "label"
        rows.append(
            {
                "id": serial + 1,
                "kind": item["kind"],
                "value": value,
                "status": "active",
                "category": item["category"],
                "tags": item["tags"],
                "reporters": 1,
                "expires_at": None if rng.random() < 0.5 else "2099-01-01T00:00:00+00:00",
                "updated_at": "2026-01-01T00:00:00+00:00",
                "tier": tier,
                "score": 80 if tier == "block" else 50,
            }
        )
    if os.path.exists(path):
        os.remove(path)
    mirror = Mirror(path)
    mirror.load_snapshot("bench", None, rows)
    mirror.close()
    print(f"mirror of {len(rows):,} entries written in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def listed_pairs(path: str) -> list[tuple[str, str]]:
    mirror = Mirror(path)
    try:
        return list(mirror.db.execute("SELECT kind, value FROM entries"))
    finally:
        mirror.close()


def number_format(e164: str, rng: random.Random) -> str:
    national = e164.removeprefix("+86")
    if len(national) == 11 and national.startswith("1"):
        return rng.choice(
            [
                national,
                f"+86 {national[:3]} {national[3:7]} {national[7:]}",
                f"{national[:3]}-{national[3:7]}-{national[7:]}",
            ]
        )
    return e164


def messages(pairs: list[tuple[str, str]], count: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    by_kind: dict[str, list[str]] = {}
    for kind, value in pairs:
        by_kind.setdefault(kind, []).append(value)
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.25:
            sender = number_format(rng.choice(by_kind["number"]), rng)
        elif roll < 0.35:
            sender = rng.choice(by_kind["code"])
        elif roll < 0.70:
            sender = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        else:
            sender = f"1069{rng.randrange(10**8):08d}"
        parts = [rng.choice(FILLER) for _ in range(rng.randint(4, 16))]
        parts.insert(rng.randrange(len(parts)), rng.choice(ZH_WORDS + EN_WORDS))
        if rng.random() < 0.15:
            keyword = rng.choice(by_kind["keyword"])
            parts.insert(rng.randrange(len(parts)), " ".join(keyword) if rng.random() < 0.2 else keyword)
        if rng.random() < 0.2:
            link = rng.choice(
                [
                    rng.choice(by_kind["url"]),
                    "http://m." + rng.choice(by_kind["domain"]) + "/a",
                    f"t{rng.randrange(10**6)}.cn/x",
                ]
            )
            parts.insert(rng.randrange(len(parts)), " " + link + " ")
        out.append((sender, "".join(parts)[:140]))
    return out


def lookups(pairs: list[tuple[str, str]], count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        kind, value = rng.choice(pairs)
        if rng.random() < 0.5:
            out.append(number_format(value, rng) if kind == "number" else value)
        else:
            out.append(f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}")
    return out


def timed(label: str, calls, results: list) -> None:
    """Rate per second of this process's CPU time (the machine may be shared: wall time would
    count other processes' turns), and the wall-clock rate beside it."""
    started, cpu = time.perf_counter(), time.process_time()
    for call in calls:
        call()
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    per = f"{used / len(calls) * 1e6:.1f} µs"
    results.append((label, f"{len(calls) / used:,.0f}/s", per, f"{len(calls) / elapsed:,.0f}/s"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--mirror", default="/tmp/bench-matcher-mirror.sqlite")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    size_file = args.mirror + ".size"
    if os.path.exists(args.mirror) and os.path.exists(size_file) and open(size_file).read() == str(args.size):
        pairs = listed_pairs(args.mirror)
    else:
        # In a child process, so this one's RSS growth is the matcher's alone.
        builder = multiprocessing.Process(target=build_mirror, args=(args.mirror, args.size))
        builder.start()
        builder.join()
        with open(size_file, "w") as file:
            file.write(str(args.size))
        pairs = listed_pairs(args.mirror)

    results: list[tuple[str, str, str, str]] = []
    before = rss_mib()
    started = time.perf_counter()
    matcher = LocalMatcher.open(args.mirror, poll_interval=1.0)
    load = time.perf_counter() - started
    opened = f"LocalMatcher.open, {len(matcher):,} entries"
    results.append((opened, f"{load:.1f} s", f"RSS +{rss_mib() - before:.0f} MiB", ""))

    msgs = messages(pairs, args.messages)
    verdicts = [matcher.check(s, t)["verdict"] for s, t in msgs[:2000]]
    share = {v: verdicts.count(v) / len(verdicts) for v in ("block", "label", "allow")}
    msgs = msgs[2000:] if len(msgs) > 4000 else msgs
    mean = statistics.mean(len(t) for _, t in msgs)
    calls = [lambda s=s, t=t: matcher.check(s, t) for s, t in msgs]
    timed(f"check, cold senders ({len(calls):,} msgs, ~{mean:.0f} chars)", calls, results)
    timed("check, warm (the same messages again)", calls, results)
    values = lookups(pairs, args.messages)
    calls = [lambda v=v: matcher.lookup(v) for v in values]
    timed(f"lookup, cold ({len(calls):,} values, half listed)", calls, results)
    timed("lookup, warm", calls, results)

    print(
        f"\nlocal matcher, mirror of {len(matcher):,} entries, one core (verdicts of the first 2,000: "
        + ", ".join(f"{k} {v:.0%}" for k, v in share.items())
        + ")\n"
    )
    width = max(len(r[0]) for r in results)
    print(f"| {'measure':<{width}} | {'per CPU second':>14} | {'CPU per call':>16} | {'wall-clock rate':>15} |")
    for label, rate, per, wall in results:
        print(f"| {label:<{width}} | {rate:>14} | {per:>16} | {wall:>15} |")
    matcher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
