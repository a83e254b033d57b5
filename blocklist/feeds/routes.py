"""HTTP routes for the feed: changes (with long-poll), snapshot and checksum. Thin."""

from __future__ import annotations

import contextlib
import functools
import time

from flask import Response, request
from flask.views import MethodView

from ..apidoc import CURSOR_HEADER as CURSOR_HEADER_DOC
from ..apidoc import IF_NONE_MATCH, problem
from ..auth.oauth2 import require
from ..auth.scopes import FEEDS_READ
from ..config import current_settings
from ..db import db
from ..jsonio import Blueprint
from . import cursors, longpoll, services, snapshot
from .schemas import ChangesArgsSchema, ChangesSchema, ChecksumArgsSchema, ChecksumSchema, SnapshotArgsSchema
from .watch import watcher

blp = Blueprint("feed", __name__, url_prefix="/v1/feed", description="Snapshots and the change feed")

CURSOR_HEADER = "X-Blocklist-Cursor"
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


@blp.route("/changes")
class Changes(MethodView):
    @require(FEEDS_READ)
    @blp.arguments(ChangesArgsSchema, location="query")
    @blp.response(200, ChangesSchema)
    @blp.doc(
        responses={
            "400": problem("The cursor is malformed"),
            "410": problem("The cursor is older than the retained log: load a new snapshot"),
        }
    )
    def get(self, args):
        """Changes after a cursor, in order; `wait` long-polls when there are none yet"""
        since = cursors.decode(args["since"]) if args["since"] is not None else None
        kind, limit, min_tier = args["kind"], args["limit"], args["min_tier"]
        page = _changes_after(since, kind, limit, min_tier)
        if not page.changes and args["wait"]:
            with longpoll.slot():  # 429 at once when the client or this worker has no slot left
                page = _wait_for_changes(page, kind, limit, min_tier, time.monotonic() + args["wait"])
        return {"changes": page.changes, "next_cursor": cursors.encode(page.next_position), "has_more": page.has_more}


def _changes_after(since: int | None, kind: str | None, limit: int, min_tier: str | None) -> services.ChangesPage:
    """`services.changes_after`, one read for all of this worker's requests asking the same at
    the same time: followers at the head come back together after each change, and long-polls
    a notification wakes ask together (`longpoll.SharedReads`)."""
    question = (since, kind, limit, min_tier)
    return longpoll.SHARED_READS.read(question, functools.partial(services.changes_after, *question))


def _wait_for_changes(page: services.ChangesPage, kind: str | None, limit: int, min_tier: str | None, deadline: float):
    """The first page with changes after `page`'s head, or the last empty one at `deadline`."""
    while not page.changes and time.monotonic() < deadline:
        db.session.remove()  # hold no database connection while waiting
        if not watcher(db.engine).wait_beyond(page.head, deadline - time.monotonic()):
            break
        seen = page.head
        page = _changes_after(seen, kind, limit, min_tier)
        if page.head == seen:  # the watcher was ahead of a reset head: do not spin
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    return page


def _bound_send_time(response: Response, seconds: int) -> None:
    """Under gunicorn, let each write of `response` to the client's socket block at most
    `seconds` (0: no limit): a client that stops reading then fails the write, which ends the
    response and closes its snapshot read, instead of holding a thread and a transaction for
    ever. The socket's own timeout is restored when the response closes."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None or seconds <= 0:
        return
    previous = sock.gettimeout()
    sock.settimeout(seconds)

    def restore() -> None:
        with contextlib.suppress(OSError):  # already closed by a failed write
            sock.settimeout(previous)

    response.call_on_close(restore)


def _etag(position: int, kind: str | None, fmt: str, gzip: bool, min_tier: str | None = None) -> str:
    tier = f"-{min_tier}" if min_tier else ""
    return f'"feed-{position}-{kind or "all"}{tier}-{fmt}{"-gzip" if gzip else ""}"'


_SNAPSHOT_ETAG = {
    "ETag": {
        "description": "Names this snapshot (cursor, kind, format, encoding); send it in If-None-Match",
        "schema": {"type": "string"},
    }
}


@blp.route("/snapshot", parameters=[IF_NONE_MATCH])
class Snapshot(MethodView):
    @require(FEEDS_READ)
    @blp.arguments(SnapshotArgsSchema, location="query")
    @blp.doc(
        responses={
            "200": {
                "description": "Every active entry, one JSON object a line (jsonl) or CSV with a header row; "
                "X-Blocklist-Cursor is the feed cursor to follow changes from",
                "headers": {**CURSOR_HEADER_DOC, **_SNAPSHOT_ETAG},
                "content": {
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            "304": {
                "description": "Not modified: If-None-Match names this snapshot (weak comparison) or is `*`",
                "headers": {**CURSOR_HEADER_DOC, **_SNAPSHOT_ETAG},
            },
        }
    )
    def get(self, args):
        """Stream the whole active set, consistent with the cursor in X-Blocklist-Cursor"""
        kind, fmt = args["kind"], args["format"]
        gzip = request.accept_encodings["gzip"] > 0
        read = snapshot.consistent_read()
        etag = _etag(read.position, kind, fmt, gzip, args["min_tier"])
        headers = {CURSOR_HEADER: cursors.encode(read.position), "ETag": etag, "Vary": "Accept-Encoding"}
        if request.if_none_match.contains_weak(etag.strip('"')):  # RFC 9110 13.1.2: weak, and `*`
            read.close()
            return Response(status=304, headers=headers)
        body = snapshot.stream(read, kind, fmt, args["min_tier"])
        if gzip:
            body = snapshot.gzipped(body)
            headers["Content-Encoding"] = "gzip"
        response = Response(body, mimetype=MEDIA_TYPES[fmt], headers=headers)
        response.call_on_close(read.close)
        _bound_send_time(response, current_settings().snapshot_send_timeout)
        return response


@blp.route("/checksum")
class Checksum(MethodView):
    @require(FEEDS_READ)
    @blp.arguments(ChecksumArgsSchema, location="query")
    @blp.response(200, ChecksumSchema)
    def get(self, args):
        """Count and SHA-256 of the active set at a cursor (sorted `kind\\tvalue\\n` lines)"""
        read = snapshot.consistent_read()
        try:
            count, sha256 = snapshot.checksum(read, args["kind"], args["min_tier"])
        finally:
            read.close()
        return {"cursor": cursors.encode(read.position), "count": count, "sha256": sha256}
