"""Request and response shapes for number events and sightings."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..pagination import ID_RANGE
from ..values.kinds import KINDS
from .models import EVENT_TYPES, SIGHTING_TYPES

MAX_BATCH = 10_000


class NumberEventSchema(Schema):
    number = fields.String(
        required=True, validate=validate.Length(min=1, max=64), metadata={"example": "+8613812345678"}
    )
    region = fields.String(load_default=None, validate=validate.Length(equal=2), load_only=True)
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    date = fields.Date(required=True, metadata={"description": "When it happened (not in the future)"})


class NumberEventsInSchema(Schema):
    events = fields.List(
        fields.Nested(NumberEventSchema), required=True, validate=validate.Length(min=1, max=MAX_BATCH)
    )


class NumberEventOutcomeSchema(Schema):
    number = fields.String()
    type = fields.String()
    date = fields.Date()
    result = fields.String(metadata={"enum": ["created", "exists"]})


class NumberEventsOutSchema(Schema):
    events = fields.List(fields.Nested(NumberEventOutcomeSchema))


class ReassignedArgsSchema(Schema):
    since = fields.Date(required=True, metadata={"description": "Was the number reassigned on or after this date?"})


class ReassignedSchema(Schema):
    number = fields.String()
    since = fields.Date()
    reassigned = fields.String(metadata={"enum": ["yes", "no", "no_data"]})


class SightingSchema(Schema):
    entry_id = fields.Integer(load_default=None, validate=ID_RANGE)
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    value = fields.String(load_default=None, validate=validate.Length(min=1, max=2048))
    type = fields.String(required=True, validate=validate.OneOf(SIGHTING_TYPES))
    count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000_000))
    date = fields.Date(required=True, metadata={"description": "The day counted (UTC; not in the future)"})

    @validates_schema
    def _names_one_entry(self, data, **kwargs):
        if data.get("entry_id") is None and (data.get("kind") is None or data.get("value") is None):
            raise ValidationError("Give entry_id, or kind and value.", "entry_id")
        if data.get("entry_id") is not None and data.get("value") is not None:
            raise ValidationError("Give entry_id or kind and value, not both.", "entry_id")


class SightingsInSchema(Schema):
    items = fields.List(fields.Nested(SightingSchema), required=True, validate=validate.Length(min=1, max=MAX_BATCH))


class SightingsOutSchema(Schema):
    accepted = fields.Integer(metadata={"description": "Items received"})
    counts = fields.Integer(metadata={"description": "Distinct (entry, day, type) counts stored"})
    tiers_changed = fields.Integer(metadata={"description": "Entries whose tier moved (each a feed upsert)"})
