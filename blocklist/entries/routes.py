"""HTTP routes for entries, look-ups, tags, disputes and the allowlist. Thin: validation by
schema, work in the services."""

from __future__ import annotations

import functools
from collections import Counter

from flask import request
from flask.views import MethodView

from ..apidoc import ETAG, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, IF_MATCH, MIN_CURSOR_PARAM, problem
from ..auth.oauth2 import require
from ..auth.scopes import ADMIN, ENTRIES_READ, ENTRIES_WRITE
from ..context import current_actor
from ..jsonio import Blueprint
from ..matching import lookup
from ..reads import at_cursor, read_only
from . import allowlist, disputes, queries, services
from .idempotency import idempotent
from .models import Entry
from .schemas import (
    STORY_ITEMS,
    AllowlistArgsSchema,
    AllowlistItemSchema,
    AllowlistSchema,
    BatchLookupSchema,
    BatchVerdictSchema,
    BulkPublishSchema,
    BulkResultSchema,
    DisputeArgsSchema,
    DisputeListSchema,
    DisputeSchema,
    EntryListArgsSchema,
    EntryListSchema,
    EntryPatchSchema,
    EntrySchema,
    LookupQuerySchema,
    PublishSchema,
    ReasonSchema,
    RequiredReasonSchema,
    ResolveSchema,
    TagArgsSchema,
    TagListSchema,
    VerdictSchema,
    evidence_visible_to,
)

blp = Blueprint("entries", __name__, url_prefix="/v1/entries", description="Blocklist entries")
lookup_blp = Blueprint("lookup", __name__, url_prefix="/v1", description="Look-ups and tags")
disputes_blp = Blueprint("disputes", __name__, url_prefix="/v1/disputes", description="Disputes")
allowlist_blp = Blueprint(
    "allowlist", __name__, url_prefix="/v1/allowlist", description="Values a regulator declared legitimate"
)

BLUEPRINTS = (blp, lookup_blp, disputes_blp, allowlist_blp)


def shows_evidence(view):
    """The entries this view dumps show reports' evidence to the caller's own org and to
    regulators (PRODUCT.md: evidence is the reporter's and the regulators'). Goes under
    `require` (the caller is known) and above the response schema (which dumps)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        actor = current_actor()
        with evidence_visible_to(actor.org_id, actor.is_regulator):
            return view(*args, **kwargs)

    return wrapper


def _with_etag(entry: Entry, status: int = 200):
    return entry, status, {"ETag": entry.etag}


# Answers the entry routes can give besides their success and the 401/403/422/429 every route
# documents (`require`, `arguments`).
NOT_FOUND = {"404": problem("No entry with this id")}
PUBLISH_CONFLICT = {
    "409": problem(
        "The value (or one a range/keyword covers) is allowlisted (`allowlist_reason`), or it was revoked and only "
        "a regulator may list it again"
    )
}
IDEMPOTENCY_DOC = {
    "parameters": [IDEMPOTENCY_KEY],
    "responses": {"400": problem("Malformed Idempotency-Key")},
}


# --- entries ---------------------------------------------------------------------------------


@blp.route("")
class Entries(MethodView):
    @read_only
    @require(ENTRIES_READ)
    @at_cursor
    @shows_evidence
    @blp.arguments(EntryListArgsSchema, location="query")
    @blp.response(200, EntryListSchema)
    def get(self, args):
        """List entries, filtered, oldest first (keyset pagination)"""
        return queries.list_entries(args).as_dict()

    @require(ENTRIES_WRITE)
    @shows_evidence
    @idempotent
    @blp.arguments(PublishSchema, example=STORY_ITEMS[0])
    @blp.response(
        201,
        EntrySchema,
        description="A new entry, or one re-listed after it expired",
        headers={**ETAG, **IDEMPOTENT_REPLAYED},
    )
    @blp.alt_response(
        200,
        schema=EntrySchema,
        description="Corroborated: the entry was already listed",
        headers={**ETAG, **IDEMPOTENT_REPLAYED},
    )
    @blp.doc(**IDEMPOTENCY_DOC)
    @blp.doc(responses=PUBLISH_CONFLICT)
    def post(self, item):
        """Publish one value (honours Idempotency-Key)"""
        outcome = services.publish([item], current_actor(), single=True)[0]
        return _with_etag(services.fresh(outcome.entry_id), 201 if outcome.listed_anew else 200)


@blp.route("/bulk")
class BulkPublish(MethodView):
    @require(ENTRIES_WRITE)
    @idempotent
    @blp.arguments(BulkPublishSchema, example={"items": STORY_ITEMS})
    @blp.response(200, BulkResultSchema, headers=IDEMPOTENT_REPLAYED)
    @blp.doc(**IDEMPOTENCY_DOC)
    @blp.doc(responses=PUBLISH_CONFLICT)
    def post(self, data):
        """Publish up to 10,000 values, all or nothing (honours Idempotency-Key)"""
        outcomes = services.publish(data["items"], current_actor())
        counts = Counter(o.result for o in outcomes)
        return {
            "items": outcomes,
            **{k: counts.get(k, 0) for k in ("created", "relisted", "corroborated", "refreshed")},
        }


@blp.route("/<int:entry_id>")
class EntryById(MethodView):
    @read_only
    @require(ENTRIES_READ)
    @at_cursor
    @shows_evidence
    @blp.response(200, EntrySchema, headers=ETAG)
    @blp.doc(responses=NOT_FOUND, parameters=[MIN_CURSOR_PARAM])
    def get(self, entry_id):
        """One entry with its reports and tags (ETag)"""
        return _with_etag(services.get_entry(entry_id))

    @require(ENTRIES_WRITE)
    @shows_evidence
    @blp.arguments(EntryPatchSchema, example={"add_tags": ["source:12321"], "expires_at": "2027-06-30T00:00:00Z"})
    @blp.response(200, EntrySchema, headers=ETAG)
    @blp.doc(
        parameters=[IF_MATCH],
        responses={**NOT_FOUND, "412": problem("If-Match does not name the entry's current ETag (strong comparison)")},
    )
    def patch(self, data, entry_id):
        """Change tags, category or expires_at (own entries, or regulator; If-Match optional)"""
        if_match = request.if_match if "If-Match" in request.headers else None
        return _with_etag(services.update(entry_id, data, if_match, current_actor()))


@blp.route("/<int:entry_id>/withdraw")
class Withdraw(MethodView):
    @require(ENTRIES_WRITE)
    @shows_evidence
    @blp.arguments(ReasonSchema, required=False)
    @blp.response(200, EntrySchema, headers=ETAG)
    @blp.doc(responses={**NOT_FOUND, "409": problem("The caller's org has no active report on this entry")})
    def post(self, data, entry_id):
        """Withdraw the caller's org's report; with none left the entry expires"""
        return _with_etag(services.withdraw(entry_id, (data or {}).get("reason"), current_actor()))


@blp.route("/<int:entry_id>/expire")
class Expire(MethodView):
    @require(ENTRIES_WRITE)
    @shows_evidence
    @blp.arguments(RequiredReasonSchema)
    @blp.response(200, EntrySchema, headers=ETAG)
    @blp.doc(responses={**NOT_FOUND, "409": problem("The entry is not active")})
    def post(self, data, entry_id):
        """Expire now with a reason (e.g. `recycled`)"""
        return _with_etag(services.expire(entry_id, data["reason"], current_actor()))


@blp.route("/<int:entry_id>/revoke")
class Revoke(MethodView):
    @require(ADMIN, regulator=True)
    @shows_evidence
    @blp.arguments(RequiredReasonSchema)
    @blp.response(200, EntrySchema, headers=ETAG)
    @blp.doc(responses={**NOT_FOUND, "409": problem("The entry is already revoked")})
    def post(self, data, entry_id):
        """A regulator revokes the entry"""
        return _with_etag(services.revoke(entry_id, data["reason"], current_actor()))


@blp.route("/<int:entry_id>/disputes")
class EntryDisputes(MethodView):
    @require(ENTRIES_WRITE)
    @blp.arguments(DisputeSchema, example={"reason": "Number reassigned to a new subscriber on 2026-10-01"})
    @blp.response(201, DisputeSchema)
    @blp.doc(responses={**NOT_FOUND, "409": problem("The caller's org already has an open dispute on this entry")})
    def post(self, data, entry_id):
        """Dispute an entry (e.g. a recycled number's new owner)"""
        return disputes.file(entry_id, data["reason"], current_actor())


# --- look-ups and tags -----------------------------------------------------------------------


@lookup_blp.route("/lookup")
class Lookup(MethodView):
    @read_only
    @require(ENTRIES_READ)
    @at_cursor
    @shows_evidence
    @lookup_blp.arguments(LookupQuerySchema, location="query")
    @lookup_blp.response(200, VerdictSchema)
    def get(self, args):
        """Is this value listed? Numbers also match covering ranges; a person only by its hash"""
        return lookup.lookup_one(args["value"], args["kind"], args["min_tier"])

    @read_only
    @require(ENTRIES_READ)
    @at_cursor
    @shows_evidence
    @lookup_blp.doc(parameters=[MIN_CURSOR_PARAM])
    @lookup_blp.arguments(
        BatchLookupSchema,
        example={
            "values": [
                {"value": "10687415"},
                {"value": "95275012", "kind": "number"},
                {"value": "安全账户"},
                {"value": "91110000600037341L", "kind": "enterprise"},
                {"value": "11010519491231002X", "kind": "person"},
            ]
        },
    )
    @lookup_blp.response(200, BatchVerdictSchema)
    def post(self, data):
        """Look up to 1,000 values; one verdict each, in request order (a person by ID number only here)"""
        return lookup.lookup_batch(data["values"], data["min_tier"])


@lookup_blp.route("/tags")
class Tags(MethodView):
    @require(ENTRIES_READ)
    @lookup_blp.arguments(TagArgsSchema, location="query")
    @lookup_blp.response(200, TagListSchema)
    def get(self, args):
        """Tags with the number of active entries carrying each, by tag name"""
        return queries.list_tags(args).as_dict()


# --- disputes --------------------------------------------------------------------------------


@disputes_blp.route("")
class Disputes(MethodView):
    @require(ENTRIES_WRITE)
    @disputes_blp.arguments(DisputeArgsSchema, location="query")
    @disputes_blp.response(200, DisputeListSchema)
    def get(self, args):
        """Disputes: a regulator sees all; an org those it filed or on entries it reports; `overdue=true`
        lists those past a deadline"""
        return queries.list_disputes(args, current_actor()).as_dict()


@disputes_blp.route("/<int:dispute_id>/acknowledge")
class AcknowledgeDispute(MethodView):
    @require(ADMIN, regulator=True)
    @disputes_blp.response(200, DisputeSchema)
    @disputes_blp.doc(
        responses={"404": problem("No dispute with this id"), "409": problem("The dispute is past `open`")}
    )
    def post(self, dispute_id):
        """Acknowledge: a regulator has taken the dispute up (before BLOCKLIST_DISPUTE_ACK_HOURS)"""
        return disputes.acknowledge(dispute_id, current_actor())


@disputes_blp.route("/<int:dispute_id>/resolve")
class ResolveDispute(MethodView):
    @require(ADMIN, regulator=True)
    @disputes_blp.arguments(ResolveSchema)
    @disputes_blp.response(200, DisputeSchema)
    @disputes_blp.doc(
        responses={"404": problem("No dispute with this id"), "409": problem("The dispute is already resolved")}
    )
    def post(self, data, dispute_id):
        """Resolve: `upheld` keeps the entry, `overturned` revokes it"""
        return disputes.resolve(dispute_id, data["resolution"], data["note"], current_actor())


# --- allowlist -------------------------------------------------------------------------------


@allowlist_blp.route("")
class Allowlist(MethodView):
    @require(ENTRIES_READ)
    @allowlist_blp.arguments(AllowlistArgsSchema, location="query")
    @allowlist_blp.response(200, AllowlistSchema)
    def get(self, args):
        """The allowlist"""
        return queries.list_allowlist(args).as_dict()

    @require(ADMIN, regulator=True)
    @allowlist_blp.arguments(
        AllowlistItemSchema, example={"kind": "code", "value": "95588", "reason": "ICBC customer service"}
    )
    @allowlist_blp.response(201, AllowlistItemSchema)
    @allowlist_blp.doc(responses={"409": problem("The value is already on the allowlist")})
    def post(self, data):
        """Allowlist a value (an active entry with that value is revoked)"""
        return allowlist.add(data["kind"], data["value"], data["reason"], current_actor())


@allowlist_blp.route("/<int:item_id>")
class AllowlistItemById(MethodView):
    @require(ADMIN, regulator=True)
    @allowlist_blp.response(204)
    @allowlist_blp.doc(responses={"404": problem("No allowlist item with this id")})
    def delete(self, item_id):
        """Remove a value from the allowlist"""
        allowlist.remove(item_id, current_actor())
