"""HTTP routes for holdings, representatives, screening and a resource's chain. Thin:
validation by schema, work in the services, reads in the queries."""

from __future__ import annotations

import datetime as dt
import functools

from flask.views import MethodView

from ..apidoc import problem
from ..auth.oauth2 import require
from ..auth.scopes import ENTRIES_READ, ENTRIES_WRITE
from ..context import current_actor
from ..db import utcnow
from ..entries.schemas import evidence_visible_to
from ..entries.services import get_entry
from ..exceptions import Invalid
from ..jsonio import Blueprint
from . import queries, services
from .models import RESOURCE_KINDS
from .schemas import (
    ChainArgsSchema,
    ChainSchema,
    EndSchema,
    HoldingArgsSchema,
    HoldingInSchema,
    HoldingListSchema,
    HoldingSchema,
    RepresentativeArgsSchema,
    RepresentativeInSchema,
    RepresentativeListSchema,
    RepresentativeSchema,
    ScreenInSchema,
    ScreenSchema,
)

holdings_blp = Blueprint("holdings", __name__, url_prefix="/v1/holdings", description="Who holds a resource")
representatives_blp = Blueprint(
    "representatives", __name__, url_prefix="/v1/representatives", description="Enterprises' legal representatives"
)
subjects_blp = Blueprint("subjects", __name__, url_prefix="/v1/subjects", description="Screening applicants")
chain_blp = Blueprint("chain", __name__, url_prefix="/v1/entries", description="A resource's chain of holders")

BLUEPRINTS = (holdings_blp, representatives_blp, subjects_blp, chain_blp)

HOLDING_EXAMPLE = {
    "resource": {"kind": "code", "value": "10687415"},
    "subject": {"kind": "enterprise", "value": "91110000600037341L"},
    "role": "holder",
    "valid_from": "2023-03-01T00:00:00Z",
    "evidence": "Allocation record 2023-0301",
}


def shows_evidence(view):
    """Evidence is shown to the recording org and to regulators (others see `has_evidence`)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        actor = current_actor()
        with evidence_visible_to(actor.org_id, actor.is_regulator):
            return view(*args, **kwargs)

    return wrapper


@holdings_blp.route("")
class Holdings(MethodView):
    @require(ENTRIES_READ)
    @shows_evidence
    @holdings_blp.arguments(HoldingArgsSchema, location="query")
    @holdings_blp.response(200, HoldingListSchema)
    def get(self, args):
        """Holdings of a resource or of a subject (holder, lessee or lessor), optionally valid `at` a date"""
        if "resource" in args:
            args["resource"] = services.canonical_resource(args["resource_kind"], args["resource"], None)
        if "subject" in args:
            args["subject_kind"] = queries.subject_kind_of(args["subject"])
            args["subject"] = services.canonical_subject(
                args["subject_kind"], args["subject"], "subject", in_body=False
            )
        return queries.list_holdings(args).as_dict()

    @require(ENTRIES_WRITE)
    @shows_evidence
    @holdings_blp.arguments(HoldingInSchema, example=HOLDING_EXAMPLE)
    @holdings_blp.response(201, HoldingSchema)
    def post(self, data):
        """Record a holding: carriers what they allocate, regulators any; a listed subject's resource is restricted"""
        return services.record_holding(data, current_actor())


@holdings_blp.route("/<int:holding_id>/end")
class EndHolding(MethodView):
    @require(ENTRIES_WRITE)
    @shows_evidence
    @holdings_blp.arguments(EndSchema)
    @holdings_blp.response(200, HoldingSchema)
    @holdings_blp.doc(
        responses={"404": problem("No holding with this id"), "409": problem("The holding has already ended")}
    )
    def post(self, data, holding_id):
        """End a holding now (the org that recorded it, or a regulator); restrictions via it close"""
        return services.end_holding(holding_id, data["reason"], current_actor())


@representatives_blp.route("")
class Representatives(MethodView):
    @require(ENTRIES_READ)
    @shows_evidence
    @representatives_blp.arguments(RepresentativeArgsSchema, location="query")
    @representatives_blp.response(200, RepresentativeListSchema)
    def get(self, args):
        """Representatives of an enterprise, or enterprises a person (by hash) represents"""
        if "enterprise" in args:
            args["enterprise"] = services.canonical_subject(
                "enterprise", args["enterprise"], "enterprise", in_body=False
            )
        if "person" in args:
            args["person"] = services.canonical_subject("person", args["person"], "person", in_body=False)
        return queries.list_representatives(args).as_dict()

    @require(ENTRIES_WRITE)
    @shows_evidence
    @representatives_blp.arguments(
        RepresentativeInSchema, example={"enterprise": "91110000600037341L", "person": "11010519491231002X"}
    )
    @representatives_blp.response(201, RepresentativeSchema)
    def post(self, data):
        """Record an enterprise's legal representative (carriers and regulators)"""
        return services.record_representative(data, current_actor())


@representatives_blp.route("/<int:representative_id>/end")
class EndRepresentative(MethodView):
    @require(ENTRIES_WRITE)
    @shows_evidence
    @representatives_blp.arguments(EndSchema)
    @representatives_blp.response(200, RepresentativeSchema)
    @representatives_blp.doc(
        responses={
            "404": problem("No representative record with this id"),
            "409": problem("The representation has already ended"),
        }
    )
    def post(self, data, representative_id):
        """End a representation now (the org that recorded it, or a regulator)"""
        return services.end_representative(representative_id, data["reason"], current_actor())


@subjects_blp.route("/screen")
class Screen(MethodView):
    @require(ENTRIES_READ)
    @shows_evidence
    @subjects_blp.arguments(ScreenInSchema, example={"kind": "enterprise", "value": "91110000600037341L"})
    @subjects_blp.response(200, ScreenSchema)
    def post(self, data):
        """Screen an applicant before allocating: its listings, holdings and related subjects' listings"""
        return queries.screen(data["kind"], services.subject_values(data["kind"], data["value"]))


@chain_blp.route("/<int:entry_id>/chain")
class Chain(MethodView):
    @require(ENTRIES_READ)
    @shows_evidence
    @chain_blp.arguments(ChainArgsSchema, location="query")
    @chain_blp.response(200, ChainSchema)
    @chain_blp.doc(responses={"404": problem("No entry with this id")})
    def get(self, args, entry_id):
        """Holders and lessees of a number, code or range at a date (default now), in chain order, with listings"""
        entry = get_entry(entry_id)
        if entry.kind not in RESOURCE_KINDS:
            raise Invalid(f"A {entry.kind} entry has no holders: chains are for numbers, codes and ranges.")
        now = utcnow()
        at = args["at"] or (now, now + dt.timedelta(microseconds=1))
        links = queries.chain(entry.kind, entry.value, at)
        return {
            "entry_id": entry.id,
            "kind": entry.kind,
            "value": entry.value,
            "chain": [
                {
                    "holding": link["holding"],
                    "subject": {"kind": link["holding"].subject_kind, "value": link["holding"].subject_value},
                    "role": link["holding"].role,
                    "lessor": {"kind": link["holding"].lessor_kind, "value": link["holding"].lessor_value}
                    if link["holding"].lessor_kind
                    else None,
                    "listings": [link["listing"]] if link["listing"] is not None else [],
                }
                for link in links
            ],
        }
