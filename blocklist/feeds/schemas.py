"""Request and response shapes for the feed."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..values.kinds import KINDS
from ..values.trust import TIERS
from .snapshot import FORMATS

MAX_LIMIT = 10_000
MAX_WAIT = 30


def min_tier_field() -> fields.String:
    return fields.String(
        load_default=None,
        validate=validate.OneOf(TIERS),
        metadata={
            "description": "Only entries of this tier or above (watch < label < block); in the change feed an "
            "upsert of an entry below it reads as a remove, so a copy stays exactly that subset"
        },
    )


class ChangesArgsSchema(Schema):
    since = fields.String(
        load_default=None,
        metadata={
            "description": "A cursor (next_cursor or X-Blocklist-Cursor); omitted: the start of the retained log"
        },
    )
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=MAX_LIMIT))
    wait = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_WAIT),
        metadata={"description": "Seconds to long-poll when there is nothing after the cursor"},
    )
    min_tier = min_tier_field()


class ChangeSchema(Schema):
    op = fields.String(metadata={"enum": ["upsert", "remove"]})
    position = fields.Integer()
    entry = fields.Dict(
        metadata={"description": "upsert: the entry as it now is (Entry shape); remove: id, kind and value"}
    )


class ChangesSchema(Schema):
    changes = fields.List(fields.Nested(ChangeSchema))
    next_cursor = fields.String()
    has_more = fields.Boolean()


class SnapshotArgsSchema(Schema):
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    format = fields.String(load_default="jsonl", validate=validate.OneOf(FORMATS))
    min_tier = min_tier_field()


class ChecksumArgsSchema(Schema):
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    min_tier = min_tier_field()


class ChecksumSchema(Schema):
    cursor = fields.String()
    count = fields.Integer()
    sha256 = fields.String()
