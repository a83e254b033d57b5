"""blocklist-sync: mirror the blocklist's active set into a local SQLite file and keep it in
step with the change feed.

    blocklist-sync --url URL --client-id ID --client-secret SECRET --db mirror.sqlite [--kind K]
                   [--follow] [--wait 25]
    blocklist-sync --db mirror.sqlite lookup VALUE [--kind K]

Exit codes: 0 ok, 2 usage, 1 error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .api import CursorGone, FeedClient, FeedError
from .mirror import Mirror

KINDS = ("number", "code", "range", "keyword", "url", "domain")
VERIFY_ATTEMPTS = 5


def log(message: str) -> None:
    print(f"blocklist-sync: {message}", file=sys.stderr, flush=True)


class Syncer:
    def __init__(self, feed: FeedClient, mirror: Mirror, kind: str | None):
        self.feed, self.mirror, self.kind = feed, mirror, kind

    @staticmethod
    def _progress(rows: int) -> None:
        if rows % 100_000 == 0:
            log(f"{rows} rows loaded")

    def snapshot(self) -> None:
        log("loading a snapshot" + (f" of {self.kind} entries" if self.kind else ""))
        started = time.monotonic()
        snap = self.feed.snapshot(self.kind)
        count = self.mirror.load_snapshot(snap.cursor, self.kind, snap.rows, progress=self._progress)
        log(f"snapshot loaded: {count} rows in {time.monotonic() - started:.1f} s")

    def catch_up(self, wait: int = 0) -> int:
        """Apply pages until the feed has nothing more (long-polling `wait` s on an empty first
        page); returns how many changes were applied."""
        applied = 0
        while True:
            page = self.feed.changes(self.mirror.state("cursor"), self.kind, wait=wait if applied == 0 else 0)
            self.mirror.apply(page["changes"], page["next_cursor"])
            applied += len(page["changes"])
            if not page["has_more"]:
                return applied

    def verify(self) -> bool | None:
        """Compare the mirror's checksum with the server's at the same cursor: True / False, or
        None when the list kept changing and no common cursor was reached."""
        for _ in range(VERIFY_ATTEMPTS):
            remote = self.feed.checksum(self.kind)
            if remote["cursor"] == self.mirror.state("cursor"):
                return (remote["count"], remote["sha256"]) == self.mirror.checksum()
            self.catch_up()
        return None

    def ready(self) -> None:
        """Make the mirror current and verified: resume from the stored cursor, or (re)load a
        snapshot when there is none, the kind changed, the cursor is gone, or checksums differ."""
        stored_kind = self.mirror.state("kind")
        if self.mirror.state("cursor") is None or stored_kind != (self.kind or ""):
            self.snapshot()
        for _ in range(3):
            try:
                applied = self.catch_up()
                verified = self.verify()
            except CursorGone:
                log("the stored cursor is older than the server's change log; re-snapshotting")
                self.snapshot()
                continue
            if verified is False:
                log("checksum mismatch; re-snapshotting")
                self.snapshot()
                continue
            count = self.mirror.checksum()[0]
            log(
                f"in sync: {count} entries, {applied} changes applied"
                + ("" if verified else " (not verified: the list kept changing)")
            )
            return
        raise FeedError("could not reach a verified mirror after three snapshots")

    def follow(self, wait: int) -> None:
        while True:
            try:
                applied = self.catch_up(wait=wait)
            except CursorGone:
                log("cursor gone; re-snapshotting")
                self.snapshot()
                continue
            if applied:
                log(f"applied {applied} changes")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blocklist-sync",
        description=__doc__.split("\n\n")[0],
        epilog="lookup answers from the mirror by exact canonical value (e.g. +8613812345678, not "
        "138-1234-5678): pass canonical values, or use the server's /v1/lookup for normalisation.",
    )
    parser.add_argument("--url", default=os.environ.get("BLOCKLIST_URL"), help="server base URL (env BLOCKLIST_URL)")
    parser.add_argument("--client-id", default=os.environ.get("BLOCKLIST_CLIENT_ID"), help="env BLOCKLIST_CLIENT_ID")
    parser.add_argument(
        "--client-secret",
        default=os.environ.get("BLOCKLIST_CLIENT_SECRET"),
        help="env BLOCKLIST_CLIENT_SECRET (keeps it out of the process list); write "
        "--client-secret=VALUE when the secret starts with '-'",
    )
    parser.add_argument("--db", required=True, help="the local SQLite mirror file")
    parser.add_argument("--kind", choices=KINDS, help="mirror only this kind")
    parser.add_argument("--follow", action="store_true", help="keep following the feed (long-poll)")
    parser.add_argument(
        "--wait",
        type=int,
        default=25,
        choices=range(0, 31),
        metavar="0..30",
        help="long-poll seconds per request with --follow (default 25)",
    )
    sub = parser.add_subparsers(dest="command")
    lookup = sub.add_parser(
        "lookup",
        help="look a canonical value up in the mirror",
        description="Exact canonical value only; the server's /v1/lookup normalises.",
    )
    lookup.add_argument("value")
    lookup.add_argument("--kind", choices=KINDS, default=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "lookup":
        mirror = Mirror(args.db)
        matches = mirror.lookup(args.value, args.kind)
        print(
            json.dumps(
                {"value": args.value, "kind": args.kind, "listed": bool(matches), "matches": matches},
                ensure_ascii=False,
            )
        )
        return 0
    missing = [name for name in ("url", "client_id", "client_secret") if not getattr(args, name)]
    if missing:
        parser.print_usage(sys.stderr)
        log("missing " + ", ".join("--" + name.replace("_", "-") for name in missing))
        return 2
    mirror = Mirror(args.db)
    syncer = Syncer(FeedClient(args.url, args.client_id, args.client_secret), mirror, args.kind)
    try:
        syncer.ready()
        if args.follow:
            syncer.follow(args.wait)
    except FeedError as error:
        log(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        log("stopped")
    finally:
        mirror.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
