"""The TAXII 2.1 server's backend: discovery, the API root, collections and pages of STIX
objects over the change log (the routes validate the request and call these).

Paging: a page reads one consistent snapshot. Its window starts after the `next` token's
place (or the position `added_after` names: change times strictly increase with positions, so
a time names exactly one place) and holds the entries whose latest change lies there (see
`reads`). `next` is opaque: `p<position>`, or `e<entry id>` while the page walks the entries
whose latest change was pruned from the retained log (those come first, in id order, before
the log itself).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, select
from stix2.v21 import Identity

from ..db import table_of
from ..entries.models import Entry
from ..exceptions import BadRequest, NotFound
from ..feeds.models import FeedChange, FeedHead
from ..feeds.snapshot import ConsistentRead
from ..values.kinds import KINDS
from . import reads, stix

API_ROOT = "blocklist"
TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
ALL = "all"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 1000
# match[id] ids: 50 keep the request line (~51 bytes an id, URL-encoded) under gunicorn's
# default limit of 4094 bytes; each is one probe of the entries' object_uuid index.
MAX_MATCH_IDS = 50
OBJECT_TYPES = ("indicator", "identity")
_NEXT = re.compile(r"^([ep])(0|[1-9][0-9]{0,18})$")
_STIX_ID = re.compile(r"^([a-z][a-z0-9-]*)--([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


def collection_id(name: str) -> str:
    return str(uuid.uuid5(stix.NAMESPACE, f"collection:{name}"))


COLLECTIONS = {collection_id(name): name for name in (*KINDS, ALL)}


def discovery(base: str) -> dict:
    root = f"{base}/taxii2/{API_ROOT}/"
    return {
        "title": "Blocklist exchange",
        "description": "Violating numbers, codes, ranges, keywords, URLs, domains and subjects as STIX 2.1 indicators",
        "default": root,
        "api_roots": [root],
    }


def api_root() -> dict:
    return {
        "title": "Blocklist exchange",
        "description": "One collection per kind of entry, and one with every kind",
        "versions": [TAXII_MEDIA_TYPE],
        "max_content_length": 0,  # read-only: nothing is accepted
    }


def collection(collection_uuid: str) -> dict:
    name = collection_name(collection_uuid)
    return {
        "id": collection_uuid,
        # The kind itself (or `all`): OpenCTI's TAXII2 connector names collections by title in
        # TAXII2_COLLECTIONS (`blocklist.domain`), so a title needs no quoting there.
        "title": name,
        "description": ("Every entry of the exchange" if name == ALL else f"Entries of kind {name}")
        + " as STIX 2.1 indicators (revoked once it leaves the active set), with an identity per reporting org",
        "can_read": True,
        "can_write": False,
        "media_types": [STIX_MEDIA_TYPE],
    }


def collections() -> dict:
    return {"collections": [collection(cid) for cid in COLLECTIONS]}


def collection_name(collection_uuid: str) -> str:
    """The collection's kind (or `all`); 404 for an unknown id."""
    name = COLLECTIONS.get(collection_uuid)
    if name is None:
        raise NotFound("No such collection; GET the collections resource for their ids.")
    return name


def _kind(name: str) -> str | None:
    return None if name == ALL else name


# --- request values ---------------------------------------------------------------------------


def encode_next(phase: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{phase}{number}".encode()).decode().rstrip("=")


def decode_next(token: str) -> tuple[str, int]:
    try:
        text = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()).decode("ascii")
        match = _NEXT.match(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        match = None
    if match is None:
        raise BadRequest("`next` is not a value this server returned.", errors={"next": ["Malformed."]})
    return match.group(1), int(match.group(2))


def parse_time(text: str, name: str) -> dt.datetime:
    """An RFC 3339 timestamp (TAXII 2.1 §3.2), as aware UTC."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or "T" not in text.upper():
        raise BadRequest(
            f"`{name}` must be an RFC 3339 time with its offset, e.g. 2026-11-25T04:00:00.000Z.",
            errors={name: ["Not an RFC 3339 timestamp."]},
        )
    return when.astimezone(dt.UTC)


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or int(text) < 1 or len(text) > 9:
        raise BadRequest("`limit` must be a positive whole number.", errors={"limit": ["Not a positive integer."]})
    return min(int(text), MAX_LIMIT)


def _split(text: str | None) -> list[str]:
    return [] if text is None else [part.strip() for part in text.split(",") if part.strip()]


@dataclass
class Filters:
    """TAXII's filter parameters, checked."""

    limit: int = DEFAULT_LIMIT
    next: tuple[str, int] | None = None
    added_after: dt.datetime | None = None
    ids: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    spec_versions: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, args) -> Filters:
        filters = cls(limit=parse_limit(args.get("limit")))
        if args.get("next"):
            filters.next = decode_next(args["next"])
        if args.get("added_after"):
            filters.added_after = parse_time(args["added_after"], "added_after")
        filters.ids = _split(args.get("match[id]"))
        if len(filters.ids) > MAX_MATCH_IDS:
            raise BadRequest(f"At most {MAX_MATCH_IDS} ids in match[id].", errors={"match[id]": ["Too many ids."]})
        for stix_id in filters.ids:
            if not _STIX_ID.match(stix_id):
                raise BadRequest(
                    "match[id] holds STIX ids (type--uuid).", errors={"match[id]": [f"Not a STIX id: {stix_id[:80]}"]}
                )
        filters.types = _split(args.get("match[type]"))
        filters.versions = _split(args.get("match[version]"))
        for version in filters.versions:
            if version not in ("first", "last", "all"):
                parse_time(version, "match[version]")
        filters.spec_versions = _split(args.get("match[spec_version]"))
        return filters

    def wants_version(self, modified: dt.datetime) -> bool:
        """Only the latest version of each object's content is kept (`versions/` lists the
        others), so first = last = all = it."""
        explicit = [parse_time(v, "match[version]") for v in self.versions if v not in ("first", "last", "all")]
        return not explicit or len(explicit) < len(self.versions) or modified in explicit

    def wants_type(self, stix_type: str) -> bool:
        return not self.types or stix_type in self.types


# --- pages ------------------------------------------------------------------------------------


@dataclass
class Page:
    """Objects in order, each with its `date_added`; `next` when `more`."""

    objects: list[tuple[object, dt.datetime]] = field(default_factory=list)
    more: bool = False
    next: str | None = None


_changes = table_of(FeedChange)
_entries = table_of(Entry)


def _horizon(read: ConsistentRead) -> int:
    return read.conn.scalar(select(FeedHead.pruned_through).where(FeedHead.id == 1)) or 0


def _pruned_entries(read: ConsistentRead, kind: str | None, after_id: int, horizon: int, since, limit: int, ids):
    """Active entries with no change retained in the log at or before the head, after entry
    `after_id` in id order: the first phase of a full read once the log has been pruned."""
    later = select(_changes.c.position).where(
        and_(_changes.c.entry_id == _entries.c.id, _changes.c.position > horizon, _changes.c.position <= read.position)
    )
    stmt = (
        select(_entries.c.id, _entries.c.updated_at, _entries.c.tier)
        .where(_entries.c.status == "active", _entries.c.id > after_id, ~exists(later))
        .order_by(_entries.c.id)
        .limit(limit)
    )
    if kind is not None:
        stmt = stmt.where(_entries.c.kind == kind)
    if since is not None:
        stmt = stmt.where(_entries.c.updated_at > since)
    if ids is not None:
        stmt = stmt.where(_entries.c.id.in_(ids))
    # The entry's stored tier is its latest upsert's: the tier moves only with a feed change.
    return [reads.Change(-row.id, row.id, row.updated_at, row.tier) for row in read.conn.execute(stmt)]


def _entry_filter(read: ConsistentRead, kind: str | None, filters: Filters) -> list[int] | None:
    """Entry ids that match[id] / match[type] allow (None: any)."""
    if filters.types and not set(filters.types) & set(OBJECT_TYPES):
        return []
    wanted = {uuid.UUID(i.split("--", 1)[1]) for i in filters.ids if i.startswith("indicator--")}
    if not filters.ids:
        return None
    return reads.entry_ids_for_uuids(read.conn, kind, wanted) if wanted else []


def page(read: ConsistentRead, collection_uuid: str, filters: Filters) -> Page:
    """One page of the collection's objects (indicators, each preceded the first time in the
    page by the identity of its first reporter), at most `filters.limit`."""
    kind = _kind(collection_name(collection_uuid))
    result = Page()
    if filters.spec_versions and "2.1" not in filters.spec_versions:
        return result
    ids = _entry_filter(read, kind, filters)
    if ids == []:
        return result
    horizon, head = _horizon(read), read.position
    phase, number = filters.next or ("e" if horizon else "p", 0 if horizon else horizon)
    since = filters.added_after
    if filters.next is None and since is not None:
        start = reads.last_position_at_or_before(read.conn, since, horizon, head)
        phase, number = ("p", start) if start > horizon or not horizon else ("e", 0)
    if phase == "p" and number > head:
        raise BadRequest("`next` is ahead of this server's log; use a value it returned.", errors={"next": ["Ahead."]})
    if phase == "p" and number < horizon:
        raise BadRequest(
            "The changes after this `next` were pruned from the retained log; start again without `next`.",
            errors={"next": ["Older than the retained log."]},
        )
    fetch = filters.limit + 1
    changes: list[reads.Change] = []
    if phase == "e":
        changes = _pruned_entries(read, kind, number, horizon, since, fetch, ids)
        number = horizon
    if len(changes) < fetch:
        changes += reads.latest_changes(
            read.conn, after=number, head=head, kind=kind, limit=fetch - len(changes), entry_ids=ids
        )
    _fill(read, result, changes, filters)
    return result


def _fill(read: ConsistentRead, result: Page, changes: list[reads.Change], filters: Filters) -> None:
    states = reads.entry_states(read.conn, changes)
    seen_identities: set[str] = set()
    want_identity = filters.wants_type("identity") and not filters.ids
    used = 0
    for index, change in enumerate(changes):
        state = states.get(change.entry_id)
        if state is None:
            continue
        indicator = stix.indicator(state)
        objects: list[tuple[object, dt.datetime]] = []
        if want_identity and state.reporters and state.reporters[0].org_id not in seen_identities:
            objects.append((stix.identity(state.reporters[0]), change.created_at))
        if filters.wants_type("indicator") and filters.wants_version(indicator.modified):
            objects.append((indicator, change.created_at))
        if not used and len(objects) > filters.limit:
            objects = objects[-filters.limit :]  # limit 1: the indicator without its identity
        if used and used + len(objects) > filters.limit or index == filters.limit:
            result.more = True
            previous = changes[index - 1]
            result.next = (
                encode_next("e", -previous.position) if previous.position < 0 else encode_next("p", previous.position)
            )
            return
        if state.reporters and objects and isinstance(objects[0][0], Identity):
            seen_identities.add(state.reporters[0].org_id)  # type: ignore[arg-type]
        result.objects.extend(objects)
        used += len(objects)


def _entry_of(read: ConsistentRead, collection_uuid: str, object_id: str) -> int | None:
    """The id of the entry whose indicator `object_id` names, in the collection (None: no such
    indicator); 404 for a malformed id. One probe of the object_uuid index."""
    kind = _kind(collection_name(collection_uuid))
    match = _STIX_ID.match(object_id)
    if match is None:
        raise NotFound("No such object: a STIX id is type--uuid.")
    if match.group(1) != "indicator":
        return None
    found = reads.entry_ids_for_uuids(read.conn, kind, [uuid.UUID(match.group(2))])
    return found[0] if found else None


def _pruned_version(read: ConsistentRead, entry_id: int) -> reads.Change:
    """An entry none of whose changes is retained: its one version is its `updated_at`, with
    its stored tier (its latest upsert's)."""
    row = read.conn.execute(select(_entries.c.updated_at, _entries.c.tier).where(_entries.c.id == entry_id)).one()
    return reads.Change(0, entry_id, reads.aware(row.updated_at), row.tier)


def find(read: ConsistentRead, collection_uuid: str, object_id: str) -> tuple[object, dt.datetime] | None:
    """The latest version of one object of the collection, with its date_added (None: absent)."""
    for static in stix.STATIC_OBJECTS:
        if static.id == object_id:
            return static, stix.EPOCH
    entry_id = _entry_of(read, collection_uuid, object_id)
    if entry_id is None:
        return None
    change = reads.latest_change_of(read.conn, entry_id, read.position) or _pruned_version(read, entry_id)
    state = reads.entry_states(read.conn, [change])[entry_id]
    return stix.indicator(state), change.created_at


@dataclass
class Versions:
    """Versions of one object in order, each (version, date_added); `next` when `more`."""

    versions: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)
    more: bool = False
    next: str | None = None


def versions(read: ConsistentRead, collection_uuid: str, object_id: str, filters: Filters) -> Versions | None:
    """Up to `filters.limit` versions of one object (TAXII 2.1 §5.7), oldest first: for an
    indicator, one per change of its entry still in the change log (each change gave the object
    a new `modified`), or its one current version if none is; None: no such object."""
    for static in stix.STATIC_OBJECTS:
        if static.id == object_id:
            return Versions([(stix.EPOCH, stix.EPOCH)])
    entry_id = _entry_of(read, collection_uuid, object_id)
    if entry_id is None:
        return None
    result = Versions()
    if filters.spec_versions and "2.1" not in filters.spec_versions:
        return result
    horizon = _horizon(read)
    phase, after = filters.next or ("p", horizon)
    if phase != "p" or after > read.position:
        raise BadRequest("`next` is not a value this resource returned.", errors={"next": ["Not for these versions."]})
    if after < horizon:
        raise BadRequest(
            "The versions after this `next` were pruned from the retained log; start again without `next`.",
            errors={"next": ["Older than the retained log."]},
        )
    changes = reads.changes_of(
        read.conn, entry_id, after=after, head=read.position, since=filters.added_after, limit=filters.limit + 1
    )
    if not changes and filters.next is None and reads.latest_change_of(read.conn, entry_id, read.position) is None:
        changes = [_pruned_version(read, entry_id)]
        if filters.added_after is not None and changes[0].created_at <= filters.added_after:
            changes = []
    if len(changes) > filters.limit:
        changes = changes[: filters.limit]
        result.more, result.next = True, encode_next("p", changes[-1].position)
    created = read.conn.scalar(select(_entries.c.created_at).where(_entries.c.id == entry_id))
    result.versions = [(max(c.created_at, reads.aware(created)), c.created_at) for c in changes]
    return result


def envelope_json(result: Page, serialise) -> str:
    """The TAXII envelope, with each object serialised once by `serialise`."""
    parts = ['{"more":', "true" if result.more else "false"]
    if result.next is not None:
        parts.append(f',"next":"{result.next}"')
    parts.append(',"objects":[')
    parts.append(",".join(serialise(obj) for obj, _ in result.objects))
    parts.append("]}")
    return "".join(parts)


def manifest(result: Page) -> dict:
    records = [
        {"id": obj["id"], "date_added": stamp(added), "version": stamp(obj["modified"]), "media_type": STIX_MEDIA_TYPE}  # type: ignore[index]
        for obj, added in result.objects
    ]
    body: dict = {"more": result.more}
    if result.next is not None:
        body["next"] = result.next
    body["objects"] = records
    return body


def stamp(when: dt.datetime) -> str:
    """A TAXII timestamp: UTC, microseconds, Z."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def date_headers(added: Sequence[dt.datetime]) -> dict[str, str]:
    if not added:
        return {}
    return {"X-TAXII-Date-Added-First": stamp(min(added)), "X-TAXII-Date-Added-Last": stamp(max(added))}
