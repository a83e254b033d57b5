"""HTTP routes for number events and sightings. Thin: schema in, service call, schema out."""

from __future__ import annotations

from flask.views import MethodView

from ..apidoc import problem
from ..auth.oauth2 import require
from ..auth.scopes import ENTRIES_READ, ENTRIES_WRITE
from ..context import current_actor
from ..jsonio import Blueprint
from . import services
from .schemas import (
    NumberEventsInSchema,
    NumberEventsOutSchema,
    ReassignedArgsSchema,
    ReassignedSchema,
    SightingsInSchema,
    SightingsOutSchema,
)

numbers_blp = Blueprint("numbers", __name__, url_prefix="/v1/numbers", description="Number lifecycle")
sightings_blp = Blueprint("sightings", __name__, url_prefix="/v1/sightings", description="Sightings")

BLUEPRINTS = (numbers_blp, sightings_blp)


@numbers_blp.route("/events")
class NumberEvents(MethodView):
    @require(ENTRIES_WRITE)
    @numbers_blp.arguments(
        NumberEventsInSchema,
        example={"events": [{"number": "+8613812345678", "type": "reassigned", "date": "2026-10-01"}]},
    )
    @numbers_blp.response(200, NumberEventsOutSchema)
    def post(self, data):
        """Carriers and regulators: dated `reassigned` / `disconnected` events (a batch, all or nothing).
        A `reassigned` event closes every report on the number made before its date."""
        return {"events": services.record_events(data["events"], current_actor())}


@numbers_blp.route("/<string:e164>/reassigned")
class Reassigned(MethodView):
    @require(ENTRIES_READ)
    @numbers_blp.arguments(ReassignedArgsSchema, location="query")
    @numbers_blp.response(200, ReassignedSchema)
    @numbers_blp.doc(responses={"422": problem("Not a phone number, or no valid `since`")})
    def get(self, args, e164):
        """Was the number reassigned (or disconnected) on or after `since`? yes, no or no_data"""
        return services.reassigned_since(e164, args["since"])


@sightings_blp.route("")
class Sightings(MethodView):
    @require(ENTRIES_WRITE)
    @sightings_blp.arguments(
        SightingsInSchema,
        example={
            "items": [{"kind": "number", "value": "+8613812345678", "type": "hit", "count": 12, "date": "2026-11-24"}]
        },
    )
    @sightings_blp.response(200, SightingsOutSchema)
    def post(self, data):
        """Sightings, counted per entry, org, day and type: carriers' hits keep an entry fresh; standard
        orgs' false positives lower its score (README, Trust)"""
        return services.record_sightings(data["items"], current_actor())
