"""HTTP routes of the MISP feed, the DNS exports and the plain lists: plain Flask views (each
answer is a stream), documented with `apidoc.operation`. Thin: authenticate, open one
consistent read, stream what the export module yields."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select

from ..apidoc import IF_NONE_MATCH, RETRY_AFTER, operation, problem
from ..errors import abort
from ..feeds.models import FeedHead
from ..feeds.snapshot import ConsistentRead, consistent_read
from ..values.kinds import KINDS
from . import dns, misp, plain, reads, streaming
from .access import CHALLENGE, SECURITY, authenticate_reader

bp = Blueprint("export", __name__, url_prefix="/v1/export")

_HEADERS = {
    "ETag": {
        "description": "Names this export's content (the feed position it last changed at); send it in If-None-Match",
        "schema": {"type": "string"},
    },
    "X-Blocklist-Cursor": {"description": "The feed cursor the export was read at", "schema": {"type": "string"}},
}
_ERRORS = {
    "401": problem(
        "Missing or wrong credentials (HTTP Basic client id and secret, or a Bearer token)",
        {"WWW-Authenticate": {"schema": {"type": "string"}, "description": f"`{CHALLENGE}`"}},
    ),
    "403": problem("The client lacks feeds:read"),
    "429": problem("The client is over its rate limit", RETRY_AFTER),
    "503": problem("The database is unavailable", RETRY_AFTER),
}


def _doc(summary: str, media: str, *, parameters: list | None = None, extra: dict | None = None) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["exports"],
        "security": SECURITY,
        "parameters": [IF_NONE_MATCH, *(parameters or [])],
        "responses": {
            "200": {
                "description": summary,
                "headers": _HEADERS,
                "content": {media: {"schema": {"type": "object" if media == "application/json" else "string"}}},
            },
            "304": {"description": "Not modified: If-None-Match names this content", "headers": _HEADERS},
            **(extra or {}),
            **_ERRORS,
        },
    }


def _version(read: ConsistentRead, kinds) -> int:
    horizon = read.conn.scalar(select(FeedHead.pruned_through).where(FeedHead.id == 1)) or 0
    return max(reads.last_position(read.conn, kinds, read.position), horizon)


def _open(kinds) -> tuple[ConsistentRead, int]:
    authenticate_reader()
    read = consistent_read()
    try:
        return read, _version(read, kinds)
    except BaseException:
        read.close()
        raise


@bp.get("/misp/manifest.json")
@operation(**_doc("MISP feed manifest: one event per kind", "application/json"))
def misp_manifest() -> Response:
    read, version = _open(KINDS)
    return streaming.stream(
        read,
        "misp-manifest",
        version,
        "application/json",
        lambda: iter([misp.json_text(misp.manifest(read.conn, read.position))]),
        compressible=False,  # a few hundred bytes
    )


@bp.get("/misp/hashes.csv")
@operation(**_doc("MISP feed hashes: MD5 of each attribute value, and its event uuid", "text/csv"))
def misp_hashes() -> Response:
    read, version = _open(KINDS)
    return streaming.stream(read, "misp-hashes", version, "text/csv", lambda: misp.hashes(read.conn))


@bp.get("/misp/<string:event_uuid>.json")
@operation(
    **_doc(
        "One MISP event: the active entries of one kind as attributes",
        "application/json",
        extra={"404": problem("No such event (see manifest.json)")},
    )
)
def misp_event(event_uuid: str) -> Response:
    kind = misp.EVENTS.get(event_uuid)
    if kind is None:
        abort(404, "No such event; manifest.json names the events of this feed.")
    read, version = _open([kind])
    return streaming.stream(
        read, f"misp-{kind}", version, "application/json", lambda: misp.event(read.conn, kind, read.position)
    )


_ZONE = {
    "in": "query",
    "name": "zone",
    "required": False,
    "description": "The zone's name (its $ORIGIN), as your resolver configures it",
    "schema": {"type": "string", "default": "blocklist.rpz", "maxLength": 243},
}


@bp.get("/rpz")
@operation(
    **_doc(
        "DNS response-policy zone: listed domains (and their subdomains) and URL hosts answer NXDOMAIN; "
        "SOA serial = feed position",
        "text/dns",
        parameters=[_ZONE],
        extra={
            "400": problem("The zone name is not a DNS name"),
            "422": problem("The zone name holds a NUL character or an unpaired surrogate"),
        },
    )
)
def rpz() -> Response:
    zone = dns.zone_name(request.args.get("zone", "blocklist.rpz"))
    if zone is None:
        abort(400, "zone must be a DNS name (letters, digits, hyphens, dots).", errors={"zone": ["Not a DNS name."]})
    read, version = _open(("domain", "url"))
    return streaming.stream(read, f"rpz-{zone}", version, "text/dns", lambda: dns.rpz(read.conn, zone, version))


@bp.get("/hosts")
@operation(**_doc("hosts file: 0.0.0.0 for every listed domain and URL host", "text/plain"))
def hosts() -> Response:
    read, version = _open(("domain", "url"))
    return streaming.stream(read, "hosts", version, "text/plain", lambda: dns.hosts_file(read.conn, version))


@bp.get("/<string:kind>.txt")
@operation(
    **_doc(
        "The canonical values of one kind's active entries, one a line",
        "text/plain",
        parameters=[
            {"in": "path", "name": "kind", "required": True, "schema": {"type": "string", "enum": list(KINDS)}}
        ],
        extra={"404": problem("No such kind")},
    )
)
def plain_list(kind: str) -> Response:
    if kind not in KINDS:
        abort(404, f"No such kind; one of {', '.join(KINDS)}.")
    read, version = _open([kind])
    return streaming.stream(read, f"list-{kind}", version, "text/plain", lambda: plain.values(read.conn, kind))
