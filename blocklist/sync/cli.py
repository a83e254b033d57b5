"""blocklist-sync: mirror the blocklist's active set into a local SQLite file and keep it in
step with the change feed.

    blocklist-sync --url URL --client-id ID [--client-secret-file FILE] --db mirror.sqlite
                   [--kind K] [--min-tier T] [--follow] [--wait 25] [--verify-interval 600]
    blocklist-sync --db mirror.sqlite lookup VALUE [--kind K]
    blocklist-sync --db mirror.sqlite check [--sender S] --text TEXT   (--text - reads stdin)
    blocklist-sync --db mirror.sqlite witness-export > tree-heads.json

Every sync also witnesses the server's audit transparency log (blocklist/sync/witness.py): it
keeps the signed tree heads it sees in the mirror file and checks each new one is consistent
with the last; on an inconsistency it stops, keeps both heads as evidence and exits 3.

The client secret comes from --client-secret-file, else from the systemd credential
`client-secret` ($CREDENTIALS_DIRECTORY/client-secret, `LoadCredential=`), else from the
environment (BLOCKLIST_CLIENT_SECRET); never from the command line, where every local user can
read it in the process list.

Exit codes: sync: 0 ok, 1 error, 2 usage, 3 the audit log is inconsistent with what this
client witnessed before. lookup: 0 listed, 1 not listed, 2 usage or no answer
(no mirror, or a value that is not valid for --kind). check: 0 block, 1 allow, 2 usage or no
answer (no mirror), 3 label (warn the user: only label-tier entries matched).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_never
from tenacity.wait import wait_random_exponential
from tqdm import tqdm

from ..values.kinds import KINDS
from .api import CursorGone, FeedClient, FeedError, Unavailable
from .lookup import check, lookup
from .mirror import Mirror
from .witness import Witness, WitnessAlarm

log = logging.getLogger("blocklist.sync")
T = TypeVar("T")

VERIFY_ATTEMPTS = 5
SECRET_CREDENTIAL = "client-secret"  # the name in systemd's LoadCredential=


class Backoff:
    """Exponential back-off with full jitter (a random wait between 0 and min(max, initial ×
    2^try)), never shorter than the server's `Retry-After` and never longer than `max`."""

    def __init__(self, initial: float, most: float):
        self.jitter = wait_random_exponential(multiplier=initial, max=most)
        self.most = most

    def __call__(self, state: RetryCallState) -> float:
        wait = self.jitter(state)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Unavailable) and error.retry_after:
            wait = max(wait, error.retry_after)
        return min(wait, self.most)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "server unavailable (%s); try %d failed, retrying in %.1f s",
        error,
        state.attempt_number,
        state.next_action.sleep if state.next_action else 0,
    )


class Syncer:
    def __init__(
        self,
        feed: FeedClient,
        mirror: Mirror,
        kind: str | None,
        *,
        tries: int | None = 5,
        backoff: tuple[float, float] = (1.0, 60.0),
        progress: bool = False,
        witness: Witness | None = None,
        audit_key: str | None = None,
    ):
        """`tries`: how many times one step is tried while the server is unavailable (None:
        forever, for --follow); `backoff`: (initial, longest) wait in seconds."""
        self.feed, self.mirror, self.kind = feed, mirror, kind
        # What the mirror holds (stored as its `kind` state): a kind and/or a minimum tier.
        self.scope = (kind or "") + (f"@{feed.min_tier}" if feed.min_tier else "")
        self.tries, self.backoff, self.progress = tries, backoff, progress
        self.witness, self.audit_key = witness, audit_key

    def retrying(self, step: Callable[..., T], *args: Any) -> T:
        """Run one step, trying again with back-off while the server is unavailable."""
        retrying = Retrying(
            retry=retry_if_exception_type(Unavailable),
            wait=Backoff(*self.backoff),
            stop=stop_never if self.tries is None else stop_after_attempt(self.tries),
            before_sleep=_log_retry,
            reraise=True,
        )
        result = retrying(step, *args)
        if (tries := retrying.statistics.get("attempt_number", 1)) > 1:
            log.warning("server reachable again after %d tries", tries)
        return result

    def snapshot(self) -> None:
        log.info("loading a snapshot" + (f" of {self.kind} entries" if self.kind else ""))
        started = time.monotonic()
        # The bar's total is the server's count now: the snapshot taken next may differ by the
        # few entries published in between. Asked for only when a bar is shown.
        total = self.feed.checksum(self.kind)["count"] if self.progress else None
        snap = self.feed.snapshot(self.kind)
        with tqdm(
            total=total,
            unit=" entries",
            unit_scale=total is None or total >= 100_000,  # 1.2M/10.0M; small counts exactly
            desc="snapshot",
            disable=not self.progress,
            file=sys.stderr,
            mininterval=0.5,
        ) as bar:

            def advance(count: int) -> None:
                bar.update(count - bar.n)

            count = self.mirror.load_snapshot(snap.cursor, self.scope, snap.rows, progress=advance)
            advance(count)
        log.info(f"snapshot loaded: {count} rows in {time.monotonic() - started:.1f} s")

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

    def ready(self, *, periodic: bool = False) -> None:
        """Make the mirror current and verified: resume from the stored cursor, or (re)load a
        snapshot when there is none, the kind changed, the cursor is gone, or checksums differ.
        `periodic`: a re-check while following, logged only when it finds something. Witnesses
        the audit log first: WitnessAlarm stops everything."""
        if self.witness is not None:
            self.witness.check(self.feed, self.audit_key)
        stored_kind = self.mirror.state("kind")
        if self.mirror.state("cursor") is None or stored_kind != self.scope:
            self.snapshot()
        for _ in range(3):
            try:
                applied = self.catch_up()
                verified = self.verify()
            except CursorGone:
                log.warning("the stored cursor is older than the server's change log; re-snapshotting")
                self.snapshot()
                continue
            if verified is False:
                local = self.mirror.checksum()
                log.warning(f"checksum mismatch (the mirror has {local[0]} entries); re-snapshotting")
                self.snapshot()
                continue
            count = self.mirror.checksum()[0]
            note = "" if verified else " (not verified: the list kept changing)"
            log.log(logging.DEBUG if periodic else logging.INFO, f"in sync: {count} entries, {applied} changes{note}")
            return
        raise FeedError("could not reach a verified mirror after three snapshots")

    def follow(self, wait: int, verify_interval: float) -> None:
        """Long-poll for changes forever; every `verify_interval` seconds (0: never) compare
        checksums with the server and re-snapshot on a difference."""
        next_check = time.monotonic() + verify_interval
        while True:
            try:
                applied = self.retrying(self.catch_up, wait)
            except CursorGone:
                log.warning("the cursor is older than the server's change log; re-snapshotting")
                self.retrying(self.snapshot)
                continue
            if applied:
                log.info(f"applied {applied} changes")
            if verify_interval and time.monotonic() >= next_check:
                log.debug("verifying the mirror against /v1/feed/checksum")
                self.retrying(lambda: self.ready(periodic=True))
                next_check = time.monotonic() + verify_interval


def read_secret(path: str | None) -> str | None:
    """The client secret: from `path`, else the systemd credential, else the environment."""
    if not path and (directory := os.environ.get("CREDENTIALS_DIRECTORY")):
        candidate = os.path.join(directory, SECRET_CREDENTIAL)
        path = candidate if os.path.exists(candidate) else None
    if path:
        with open(path, encoding="utf-8") as file:
            return file.read().strip() or None
    return os.environ.get("BLOCKLIST_CLIENT_SECRET") or None


class _RefuseSecretOnCommandLine(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(
            "--client-secret is not accepted: a secret on the command line can be read by every "
            "local user in the process list. Use --client-secret-file FILE, the systemd credential "
            f"'{SECRET_CREDENTIAL}' (LoadCredential=) or the environment variable BLOCKLIST_CLIENT_SECRET."
        )


class _Formatter(logging.Formatter):
    """`blocklist-sync: warning: message`, the shape of other command-line tools' messages."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"blocklist-sync: {record.levelname.lower()}: {record.getMessage()}"
        return text + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError("seconds between 0 and 86400")
    return value


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="blocklist-sync",
        description=__doc__.split("\n\n")[0],
        epilog="Exit codes: sync 0 ok, 1 error, 2 usage; lookup 0 listed, 1 not listed, 2 usage or no answer; "
        "check 0 block, 1 allow, 2 usage or no answer, 3 label.",
    )
    parser.add_argument("--url", default=env("BLOCKLIST_URL"), help="server base URL (env BLOCKLIST_URL)")
    parser.add_argument("--client-id", default=env("BLOCKLIST_CLIENT_ID"), help="env BLOCKLIST_CLIENT_ID")
    parser.add_argument(
        "--client-secret-file",
        default=env("BLOCKLIST_CLIENT_SECRET_FILE"),
        metavar="FILE",
        help="read the client secret from FILE (env BLOCKLIST_CLIENT_SECRET_FILE); otherwise from "
        f"$CREDENTIALS_DIRECTORY/{SECRET_CREDENTIAL} (systemd LoadCredential=) or env BLOCKLIST_CLIENT_SECRET",
    )
    parser.add_argument("--client-secret", nargs="?", action=_RefuseSecretOnCommandLine, help=argparse.SUPPRESS)
    parser.add_argument("--db", required=True, help="the local SQLite mirror file")
    parser.add_argument("--kind", choices=KINDS, help="mirror only this kind")
    parser.add_argument(
        "--min-tier",
        choices=("watch", "label", "block"),
        help="mirror only entries of this tier or above (a carrier blocking on `block` mirrors only that)",
    )
    parser.add_argument("--follow", action="store_true", help="keep following the feed (long-poll), retrying forever")
    parser.add_argument(
        "--wait",
        type=int,
        default=25,
        choices=range(0, 31),
        metavar="0..30",
        help="long-poll seconds per request with --follow (default 25)",
    )
    parser.add_argument(
        "--verify-interval",
        type=_seconds,
        default=env("BLOCKLIST_SYNC_VERIFY_INTERVAL", "600"),  # a string default: argparse checks it
        metavar="SECONDS",
        help="with --follow, compare checksums with the server this often and re-snapshot on a "
        "difference; 0 never (default 600; env BLOCKLIST_SYNC_VERIFY_INTERVAL)",
    )
    parser.add_argument(
        "--tries",
        type=int,
        default=env("BLOCKLIST_SYNC_TRIES", "5"),
        metavar="N",
        help="without --follow, how many times a step is tried while the server is unavailable "
        "(default 5; env BLOCKLIST_SYNC_TRIES); --follow retries forever",
    )
    parser.add_argument(
        "--backoff",
        type=_seconds,
        nargs=2,
        default=None,
        metavar=("INITIAL", "MAX"),
        help="retry waits: exponential from INITIAL seconds with full jitter, at most MAX "
        "(default 1 60; env BLOCKLIST_SYNC_BACKOFF='1 60')",
    )
    parser.add_argument("--timeout", type=_seconds, default=60.0, help="seconds to wait for an answer (default 60)")
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="snapshot progress bar on stderr: auto shows it when stderr is a terminal (default)",
    )
    parser.add_argument(
        "--log-level", default=env("BLOCKLIST_SYNC_LOG_LEVEL", "INFO"), choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    parser.add_argument("--region", default=env("BLOCKLIST_DEFAULT_REGION", "CN"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--audit-public-key",
        default=env("BLOCKLIST_AUDIT_PUBLIC_KEY"),
        metavar="HEX",
        help="the operator's Ed25519 audit key (64 hex digits) to check tree heads with; default: "
        "the server's, pinned on first use (env BLOCKLIST_AUDIT_PUBLIC_KEY)",
    )
    parser.add_argument(
        "--no-witness", action="store_true", help="do not witness the audit transparency log (not recommended)"
    )
    sub = parser.add_subparsers(dest="command")
    lookup_parser = sub.add_parser(
        "lookup",
        help="is VALUE listed? (the mirror, matched as the server's /v1/lookup does)",
        description="Answers from the mirror by the server's rules: the value is canonicalised "
        "(138-1234-5678 is +8613812345678; keywords folded), ranges cover numbers and codes, a "
        "domain covers its subdomains and URLs on them. Exit 0 listed, 1 not listed, 2 no answer.",
    )
    lookup_parser.add_argument("value")
    lookup_parser.add_argument("--kind", choices=KINDS, default=argparse.SUPPRESS)
    lookup_parser.add_argument(
        "--region",
        default=argparse.SUPPRESS,
        help="country of a number written without a country code (default CN; env BLOCKLIST_DEFAULT_REGION)",
    )
    check_parser = sub.add_parser(
        "check",
        help="check a message (the mirror, matched as the server's /v1/check does)",
        description="Answers from the mirror by the server's rules: the sender as a number or code "
        "(and the ranges covering it), links in the text (URLs by Safe Browsing expression, domains "
        "covering their hosts), keywords in the folded text. Prints {verdict, matches} as JSON. "
        "Exit 0 block, 1 allow, 3 label (only label-tier matches: warn, do not block), 2 no answer.",
    )
    check_parser.add_argument("--sender", help="the number or code the message came from")
    check_parser.add_argument("--text", required=True, help="the message text; - reads it from stdin")
    check_parser.add_argument(
        "--min-tier",
        choices=("watch", "label", "block"),
        default=argparse.SUPPRESS,
        help="only entries of this tier or above match",
    )
    check_parser.add_argument("--region", default=argparse.SUPPRESS, help="country of a sender without a country code")
    sub.add_parser(
        "witness-export",
        help="print the audit tree heads this client witnessed (and any evidence) as JSON",
        description="For `flask --app wsgi audit verify --witness FILE` on the server, or an auditor.",
    )
    return parser


def _witness_export(args: argparse.Namespace) -> int:
    if not os.path.exists(args.db):
        log.error(f"no mirror at {args.db}: run blocklist-sync first")
        return 2
    witness = Witness(args.db)
    try:
        print(json.dumps(witness.export(), indent=1))
    finally:
        witness.close()
    return 0


def _lookup(args: argparse.Namespace) -> int:
    if not os.path.exists(args.db):
        log.error(f"no mirror at {args.db}: run blocklist-sync first")
        return 2
    mirror = Mirror(args.db)
    try:
        if mirror.state("cursor") is None:
            log.error(f"{args.db} holds no snapshot yet: run blocklist-sync first")
            return 2
        verdict = lookup(mirror, args.value, args.kind, args.region.upper())
    finally:
        mirror.close()
    print(json.dumps(verdict, ensure_ascii=False))
    if args.kind and verdict.get("error"):
        log.error(f"not a valid {args.kind}: {verdict['error']}")
        return 2
    return 0 if verdict["listed"] else 1


CHECK_EXIT = {"block": 0, "allow": 1, "label": 3}


def _check(args: argparse.Namespace) -> int:
    if not os.path.exists(args.db):
        log.error(f"no mirror at {args.db}: run blocklist-sync first")
        return 2
    text = sys.stdin.read() if args.text == "-" else args.text
    mirror = Mirror(args.db)
    try:
        if mirror.state("cursor") is None:
            log.error(f"{args.db} holds no snapshot yet: run blocklist-sync first")
            return 2
        answer = check(mirror, args.sender, text, args.region.upper(), getattr(args, "min_tier", None))
    finally:
        mirror.close()
    print(json.dumps(answer, ensure_ascii=False))
    return CHECK_EXIT[answer["verdict"]]


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = _parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=args.log_level, handlers=[handler])
    if args.command == "lookup":
        return _lookup(args)
    if args.command == "check":
        return _check(args)
    if args.command == "witness-export":
        return _witness_export(args)
    if args.audit_public_key is not None and not re.fullmatch(r"[0-9a-f]{64}", args.audit_public_key):
        parser.error("--audit-public-key is 64 lowercase hex digits (the raw Ed25519 key)")
    try:
        secret = read_secret(args.client_secret_file)
    except OSError as error:
        log.error(f"cannot read the client secret: {error}")
        return 2
    missing = [f"--{name.replace('_', '-')}" for name in ("url", "client_id") if not getattr(args, name)]
    if not secret:
        missing.append("the client secret (--client-secret-file, or env BLOCKLIST_CLIENT_SECRET)")
    if missing or not secret:
        parser.print_usage(sys.stderr)
        log.error("missing " + ", ".join(missing))
        return 2
    progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    mirror = Mirror(args.db)
    feed = FeedClient(args.url, args.client_id, secret, timeout=args.timeout, min_tier=args.min_tier)
    tries = None if args.follow else max(args.tries, 1)
    if args.backoff is None:  # not on the command line: the environment, else 1 and 60 s
        try:
            args.backoff = [_seconds(text) for text in env("BLOCKLIST_SYNC_BACKOFF", "1 60").split()]
            if len(args.backoff) != 2:
                raise ValueError
        except (ValueError, argparse.ArgumentTypeError):
            parser.error("BLOCKLIST_SYNC_BACKOFF is two numbers of seconds, e.g. '1 60'")
    backoff = (args.backoff[0], args.backoff[1])
    witness = None if args.no_witness else Witness(args.db)
    syncer = Syncer(
        feed,
        mirror,
        args.kind,
        tries=tries,
        backoff=backoff,
        progress=progress,
        witness=witness,
        audit_key=args.audit_public_key,
    )
    # systemd stops the service with SIGTERM: end like Ctrl-C (a local transaction rolls back).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        syncer.retrying(syncer.ready)
        if args.follow:
            syncer.follow(args.wait, args.verify_interval)
    except WitnessAlarm as error:
        log.error(
            f"the server's audit log is inconsistent with what this client witnessed before: {error}. "
            f"Stopped; both signed tree heads are kept as evidence in {args.db} "
            "(blocklist-sync --db FILE witness-export)"
        )
        return 3
    except FeedError as error:
        log.error(f"{error}")
        return 1
    except KeyboardInterrupt:
        log.info("stopped")
    finally:
        mirror.close()
        if witness is not None:
            witness.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
