"""A MISP feed (the format MISP's "Fetch and store all feed data" reads): `manifest.json`
naming one event per kind, `hashes.csv` (MD5 of each attribute value and its event's uuid), and
each event as `{uuid}.json` with one attribute per active entry. Event and attribute uuids are
UUIDv5 (an attribute's is its STIX indicator's: the entry's stored `object_uuid`, read with the
row rather than derived per row), so MISP updates rather than duplicates them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator

from sqlalchemy import Connection

from ..values.kinds import KINDS
from . import reads, stix

ORG = {"name": "Blocklist exchange", "uuid": str(uuid.uuid5(stix.NAMESPACE, "misp-org"))}
# MISP attribute type and category per kind (pairs MISP's describeTypes allows).
ATTRIBUTE_TYPES = {
    "number": ("phone-number", "Financial fraud"),
    "code": ("phone-number", "Financial fraud"),
    "url": ("url", "Network activity"),
    "domain": ("domain", "Network activity"),
}
OTHER_TYPE = ("text", "Financial fraud")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def event_uuid(kind: str) -> str:
    return str(uuid.uuid5(stix.NAMESPACE, f"misp-event:{kind}"))


EVENTS = {event_uuid(kind): kind for kind in KINDS}


def _epoch(when: dt.datetime | None) -> int:
    return int((when or stix.EPOCH).timestamp())


def event_header(conn: Connection, kind: str, head: int) -> dict:
    """The event's fields (as in the manifest): its timestamp is its kind's last change."""
    changed = reads.last_change_time(conn, kind, head)
    return {
        "info": f"Blocklist exchange: active {kind} entries",
        "Orgc": dict(ORG),
        "analysis": "2",
        "threat_level_id": "2",
        "distribution": "3",
        "published": True,
        "date": (changed or stix.EPOCH).date().isoformat(),
        "timestamp": str(_epoch(changed)),
        "publish_timestamp": str(_epoch(changed)),
        "Tag": [{"name": f'blocklist:kind="{kind}"'}],
    }


def json_text(document: dict) -> str:
    return _dumps(document)


def manifest(conn: Connection, head: int) -> dict:
    return {uuid_: event_header(conn, kind, head) for uuid_, kind in EVENTS.items()}


def _attribute(kind: str, row: reads.ActiveRow) -> str:
    attribute_type, category = ATTRIBUTE_TYPES.get(kind, OTHER_TYPE)
    attribute = {
        "uuid": reads.uuid_of(row),
        "type": attribute_type,
        "category": category,
        "value": row.value,
        "to_ids": True,
        "distribution": "5",
        "timestamp": str(row.updated),
        "comment": f"{kind} entry",
    }
    if row.tags:
        attribute["Tag"] = [{"name": tag} for tag in sorted(row.tags.split(" "))]
    return _dumps(attribute)


def event(conn: Connection, kind: str, head: int) -> Iterator[str]:
    """The event JSON, streamed: its attributes are the active entries of `kind`."""
    header = {"uuid": event_uuid(kind), **event_header(conn, kind, head)}
    yield '{"Event":' + _dumps(header)[:-1] + ',"Attribute":['
    first = True
    for row in reads.active_entries(conn, [kind], with_tags=True, with_uuid=True):
        yield ("" if first else ",") + _attribute(kind, row)
        first = False
    yield "]}}\n"


def hashes(conn: Connection) -> Iterator[str | bytes]:
    """`md5(value),event uuid` for every attribute of every event."""
    uuids = {kind: uuid_ for uuid_, kind in EVENTS.items()}
    if reads.is_postgres(conn):
        cases = " ".join(f"WHEN '{kind}' THEN '{uuid_}'" for kind, uuid_ in uuids.items())
        sql = (
            f"SELECT md5(value) || ',' || CASE kind {cases} END FROM entries WHERE status = 'active' ORDER BY kind, id"
        )
        yield from reads.copy_lines(conn, sql, {})
        return
    for row in reads.active_entries(conn, KINDS):
        yield f"{hashlib.md5(row.value.encode(), usedforsecurity=False).hexdigest()},{uuids[row.kind]}\n"
