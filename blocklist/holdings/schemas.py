"""Request and response shapes for holdings, representatives, screening and chains."""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, missing, validate, validates_schema

from ..entries.schemas import EntrySchema, _evidence_viewer
from ..freetext import FreeText
from ..pagination import PageArgsSchema, list_schema
from ..values.subjects import SUBJECT_KINDS
from .models import RESOURCE_KINDS, ROLES

MAX_RAW = 200  # a resource or subject as sent
SUBJECT_VALUE_DOC = (
    "A unified social credit code (enterprise), or a person's resident ID number or `<type>:<number>` "
    "(hashed on arrival, never stored or returned) or its 64-hex hash"
)


class Moment(fields.Field):
    """A date (`2023-07-15`: that whole UTC day) or an aware date-time (that instant), loaded as
    the interval [start, end) it names."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or len(value) > 40:
            raise ValidationError("A date (YYYY-MM-DD) or a date-time with its offset.")
        try:
            if len(value) == 10:
                start = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=dt.UTC)
                return start, start + dt.timedelta(days=1)
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValidationError("A date-time needs its offset (e.g. Z or +08:00).")
            moment = moment.astimezone(dt.UTC)
            return moment, moment + dt.timedelta(microseconds=1)
        except ValueError:
            raise ValidationError("A date (YYYY-MM-DD) or a date-time with its offset.") from None
        except OverflowError:
            raise ValidationError("Out of range once converted to UTC.") from None


def moment_field(**kwargs) -> Moment:
    return Moment(
        metadata={
            "type": "string",
            "description": "A date (that whole UTC day) or a date-time with offset; what was valid then",
            "example": "2023-07-15",
        },
        **kwargs,
    )


class _DatedOut(Schema):
    """The fields every dated record (holding, representative) answers with; its evidence only
    for the org that recorded it and regulators."""

    valid_from = fields.DateTime()
    valid_to = fields.DateTime(allow_none=True)
    has_evidence = fields.Boolean()
    evidence = fields.Method(
        "_evidence",
        allow_none=True,
        metadata={"type": "string", "description": "Only for the recording org and regulators (absent otherwise)"},
    )
    recorded_by_org_id = fields.Integer(attribute="org_id")
    created_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    ended_by_org_id = fields.Integer(allow_none=True)
    end_reason = fields.String(allow_none=True)

    def _evidence(self, obj):
        viewer = _evidence_viewer.get()
        if viewer is not None and (viewer[1] or viewer[0] == obj.org_id):
            return obj.evidence
        return missing


class ResourceInSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(RESOURCE_KINDS))
    value = fields.String(required=True, validate=validate.Length(min=1, max=MAX_RAW))
    region = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z]{2}$"))


class SubjectInSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(SUBJECT_KINDS))
    value = fields.String(
        required=True, validate=validate.Length(min=1, max=MAX_RAW), metadata={"description": SUBJECT_VALUE_DOC}
    )


class _DatedIn(Schema):
    valid_from = fields.AwareDateTime(
        load_default=None, metadata={"description": "Default now; may be past, not future"}
    )
    valid_to = fields.AwareDateTime(load_default=None, metadata={"description": "After valid_from; omitted: open"})
    evidence = FreeText(load_default=None, validate=validate.Length(max=10000))
    reason = FreeText(load_default=None, validate=validate.Length(max=2000))


class HoldingInSchema(_DatedIn):
    resource = fields.Nested(ResourceInSchema, required=True)
    subject = fields.Nested(SubjectInSchema, required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    lessor = fields.Nested(SubjectInSchema, load_default=None, metadata={"description": "Required for lessee"})


class RefSchema(Schema):
    kind = fields.String()
    value = fields.String()


class HoldingSchema(_DatedOut):
    id = fields.Integer()
    resource = fields.Function(
        lambda h: {"kind": h.resource_kind, "value": h.resource_value}, metadata={"type": "object"}
    )
    subject = fields.Function(lambda h: {"kind": h.subject_kind, "value": h.subject_value}, metadata={"type": "object"})
    role = fields.String(metadata={"enum": list(ROLES)})
    lessor = fields.Function(
        lambda h: {"kind": h.lessor_kind, "value": h.lessor_value} if h.lessor_kind else None,
        allow_none=True,
        metadata={"type": "object", "nullable": True},
    )


HoldingListSchema = list_schema(HoldingSchema, "HoldingList")


class HoldingArgsSchema(PageArgsSchema):
    resource_kind = fields.String(validate=validate.OneOf(RESOURCE_KINDS))
    resource = fields.String(validate=validate.Length(min=1, max=MAX_RAW))
    subject = fields.String(
        validate=validate.Length(min=1, max=MAX_RAW),
        metadata={"description": "A USCC or a person's 64-hex hash (holder, lessee or lessor)"},
    )
    at = moment_field()

    @validates_schema
    def one_filter(self, data, **kwargs):
        if "resource" in data and "resource_kind" not in data:
            raise ValidationError("resource_kind is required with resource.", "resource_kind")
        if "resource" not in data and "subject" not in data:
            raise ValidationError("Give resource (with resource_kind) or subject.", "resource")


class EndSchema(Schema):
    reason = FreeText(load_default=None, validate=validate.Length(max=2000))


class RepresentativeInSchema(_DatedIn):
    enterprise = fields.String(required=True, validate=validate.Length(min=1, max=MAX_RAW))
    person = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_RAW),
        metadata={"description": "Resident ID number or `<type>:<number>` (hashed on arrival), or its hash"},
    )


class RepresentativeSchema(_DatedOut):
    id = fields.Integer()
    enterprise = fields.String()
    person = fields.String(metadata={"description": "The person's hash"})


RepresentativeListSchema = list_schema(RepresentativeSchema, "RepresentativeList")


class RepresentativeArgsSchema(PageArgsSchema):
    enterprise = fields.String(validate=validate.Length(min=1, max=MAX_RAW))
    person = fields.String(validate=validate.Length(min=1, max=MAX_RAW), metadata={"description": "64-hex hash"})
    at = moment_field()

    @validates_schema
    def one_filter(self, data, **kwargs):
        if "enterprise" not in data and "person" not in data:
            raise ValidationError("Give enterprise or person.", "enterprise")


class ScreenInSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(SUBJECT_KINDS))
    value = fields.String(
        required=True, validate=validate.Length(min=1, max=MAX_RAW), metadata={"description": SUBJECT_VALUE_DOC}
    )


class RelatedSchema(Schema):
    relation = fields.String(
        metadata={"enum": ["representative", "represents", "shares_representative", "lessor", "lessee"]}
    )
    kind = fields.String()
    value = fields.String()
    via = fields.String(allow_none=True, metadata={"description": "The shared person, or the holding"})
    listings = fields.List(fields.Nested(EntrySchema))


class ScreenSchema(Schema):
    restricted = fields.Boolean()
    listings = fields.List(fields.Nested(EntrySchema))
    holdings = fields.List(fields.Nested(HoldingSchema))
    related = fields.List(fields.Nested(RelatedSchema))


class ChainArgsSchema(Schema):
    at = moment_field(load_default=None)


class ChainLinkSchema(Schema):
    holding = fields.Nested(HoldingSchema)
    subject = fields.Nested(RefSchema)
    role = fields.String()
    lessor = fields.Nested(RefSchema, allow_none=True)
    listings = fields.List(fields.Nested(EntrySchema))


class ChainSchema(Schema):
    entry_id = fields.Integer()
    kind = fields.String()
    value = fields.String()
    chain = fields.List(fields.Nested(ChainLinkSchema))
