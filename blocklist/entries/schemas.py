"""Request and response shapes for entries, look-ups, tags, disputes and the allowlist."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from marshmallow import Schema, ValidationError, fields, missing, validate, validates_schema

from ..db import utcnow
from ..freetext import FreeText
from ..pagination import ID_RANGE, PageArgsSchema, list_schema
from ..values.kinds import KINDS
from ..values.subjects import SUBJECT_KINDS
from ..values.trust import TIERS
from .models import MAX_VALUE_LENGTH, STATUSES

DISPUTE_STATUSES = ("open", "acknowledged", "upheld", "overturned")

TAG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,39}:[a-z0-9\u4e00-\u9fff][a-z0-9._\-\u4e00-\u9fff]{0,59}$"
CATEGORY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
MAX_TAGS = 50
MAX_BULK = 10_000
MAX_BATCH_LOOKUP = 1000


class Tag(fields.String):
    """`namespace:value`, lower-cased before validation."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        return text.strip().lower()


class UniqueList(fields.List):
    """A list whose repeats are dropped on load (first one kept): tags are a set."""

    def _deserialize(self, value, attr, data, **kwargs):
        return list(dict.fromkeys(super()._deserialize(value, attr, data, **kwargs)))


def tag_list(**kwargs) -> fields.List:
    return UniqueList(
        Tag(
            validate=validate.Regexp(
                TAG_PATTERN, error="Tags are namespace:value, lower-case (e.g. fraud:ticket-scam)."
            )
        ),
        validate=validate.Length(max=MAX_TAGS),
        **kwargs,
    )


class OrgRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()


# Who may read reports' evidence in what is being dumped now: (org id, is regulator), or None
# (nobody: feeds, snapshots and anything that did not say). Set by `evidence_visible_to`.
_evidence_viewer: ContextVar[tuple[int | None, bool] | None] = ContextVar("evidence_viewer", default=None)


@contextmanager
def evidence_visible_to(org_id: int | None, is_regulator: bool) -> Iterator[None]:
    """Within this block, dumped reports show their evidence to this org (its own reports) or
    to a regulator (every report); everyone else sees only `has_evidence`."""
    token = _evidence_viewer.set((org_id, is_regulator))
    try:
        yield
    finally:
        _evidence_viewer.reset(token)


class ReportSchema(Schema):
    org = fields.Nested(OrgRefSchema)
    via = fields.Method(
        "_via",
        allow_none=True,
        metadata={
            "type": "object",
            "nullable": True,
            "properties": {"subject_entry_id": {"type": "integer"}, "holding_id": {"type": "integer"}},
            "description": "null for the org's own report; else the listed subject (and holding) it comes via: "
            "it follows the subject's listing and the holding, and cannot be withdrawn or changed here",
        },
    )
    raw_value = fields.String()
    reason = fields.String(allow_none=True)
    evidence = fields.Method(
        "_evidence",
        allow_none=True,
        metadata={
            "type": "string",
            "description": "Only for the reporting org and regulators (absent otherwise); never in feeds",
        },
    )
    has_evidence = fields.Function(lambda report: bool(report.evidence))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True, metadata={"description": "This report's own expiry"})
    withdrawn_at = fields.DateTime(allow_none=True, metadata={"description": "When the report closed"})
    close_reason = fields.String(
        allow_none=True,
        metadata={"description": "withdrawn, ttl, the org's own reason, or the regulator's for the whole entry"},
    )

    def _via(self, report):
        holding = getattr(report, "via_holding_id", None)
        if holding is None:
            return None
        return {"subject_entry_id": report.via_subject_entry_id, "holding_id": holding}

    def _evidence(self, report):
        viewer = _evidence_viewer.get()
        if viewer is not None and (viewer[1] or viewer[0] == report.org_id):
            return report.evidence
        return missing


class EntrySchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(KINDS)})
    value = fields.String(metadata={"description": "Canonical value (what matching uses)"})
    raw_value = fields.String(metadata={"description": "The value as first published"})
    status = fields.Function(lambda e: e.effective_status(), metadata={"enum": list(STATUSES)})
    status_reason = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True, metadata={"description": "Subjects only: who it is (free text)"})
    tags = fields.List(fields.String())
    reporters = fields.Integer(metadata={"description": "Distinct orgs with an active report"})
    tier = fields.String(
        allow_none=True,
        metadata={
            "enum": ["block", "label", "watch", None],
            "description": "block: restrict; label: warn the user; watch: known, not acted on (README, Trust). "
            "null: not yet assessed since the upgrade (treated as block)",
        },
    )
    score = fields.Integer(allow_none=True, metadata={"description": "0-100, by the rule in README, Trust"})
    dispute_path = fields.Function(
        lambda e: f"/v1/entries/{e.id}/disputes",
        metadata={"description": "Where to contest this entry (POST a dispute)"},
    )
    reports = fields.List(fields.Nested(ReportSchema))
    expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


EntryListSchema = list_schema(EntrySchema, "EntryList")


# Examples from the seeds' story (PRODUCT.md): a leased SMS code, a sub-let call-centre range, a
# keyword with spaces inserted to slip past filters, the company that sub-let it.
STORY_ITEMS = [
    {
        "kind": "code",
        "value": "10687415",
        "reason": "Leased 1068 code sending ticket-refund scam texts",
        "category": "fraud",
        "tags": ["fraud:ticket-scam", "channel:sms"],
    },
    {"kind": "range", "value": "952750xx", "reason": "Call-centre block sub-let to a fraud ring", "category": "fraud"},
    {
        "kind": "keyword",
        "value": "安 全 账 户",
        "reason": "'Safe account' transfer scam wording",
        "tags": ["channel:sms"],
    },
    {
        "kind": "enterprise",
        "value": "91110000600037341L",
        "reason": "Sub-let its 95 call-centre numbers to a fraud ring",
        "tags": ["list:bad-operator"],
        "display_name": "某某通信服务有限公司",
    },
]


class PublishSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS), metadata={"example": "code"})
    value = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_VALUE_LENGTH),
        metadata={
            "description": "As published: `10687415` (code), `952750xx` (range), `安 全 账 户` (keyword), a number, "
            "URL or domain; a unified social credit code (enterprise); a resident ID number or `<type>:<number>` "
            "(person: hashed on arrival, never stored or returned; or its 64-hex hash)",
            "example": "10687415",
        },
    )
    region = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^[A-Za-z]{2}$"),
        metadata={"description": "Country of a number without a country code (default CN)"},
    )
    reason = FreeText(load_default=None, validate=validate.Length(max=2000))
    evidence = FreeText(load_default=None, validate=validate.Length(max=10000))
    category = fields.String(
        load_default=None, validate=validate.Regexp(CATEGORY_PATTERN), metadata={"example": "fraud"}
    )
    tags = tag_list(load_default=list, metadata={"example": ["fraud:ticket-scam", "channel:sms"]})
    expires_at = fields.AwareDateTime(load_default=None, default_timezone=None)
    display_name = FreeText(
        load_default=None,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Subjects (enterprise, person) only: who it is, free text"},
    )

    @validates_schema
    def display_name_only_for_subjects(self, data, **kwargs):
        if data.get("display_name") is not None and data.get("kind") not in SUBJECT_KINDS:
            raise ValidationError("Only an enterprise or person entry has a display name.", "display_name")


class BulkPublishSchema(Schema):
    items = fields.List(fields.Nested(PublishSchema), required=True, validate=validate.Length(min=1, max=MAX_BULK))


class BulkOutcomeSchema(Schema):
    index = fields.Integer()
    id = fields.Integer(attribute="entry_id")
    kind = fields.String()
    value = fields.String()
    result = fields.String(metadata={"enum": ["created", "relisted", "corroborated", "refreshed"]})


class BulkResultSchema(Schema):
    items = fields.List(fields.Nested(BulkOutcomeSchema))
    created = fields.Integer()
    relisted = fields.Integer()
    corroborated = fields.Integer()
    refreshed = fields.Integer()


class EntryPatchSchema(Schema):
    tags = tag_list(metadata={"description": "Replace the tags"})
    add_tags = tag_list()
    remove_tags = tag_list()
    category = fields.String(allow_none=True, validate=validate.Regexp(CATEGORY_PATTERN))
    expires_at = fields.AwareDateTime(allow_none=True)
    reason = FreeText(load_default=None, validate=validate.Length(max=2000))

    @validates_schema
    def not_empty(self, data, **kwargs):
        if not set(data) - {"reason"}:
            raise ValidationError(
                "Nothing to change: send tags, add_tags, remove_tags, category or expires_at.", "_schema"
            )


class ReasonSchema(Schema):
    reason = FreeText(load_default=None, validate=validate.Length(max=2000))


class RequiredReasonSchema(Schema):
    reason = FreeText(required=True, validate=validate.Length(min=1, max=2000))


def min_cursor_field() -> fields.String:
    return fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "A cursor from a write's `X-Blocklist-Cursor` (or the feed): answer only once this "
            "node reflects the feed up to it, waiting at most `BLOCKLIST_MIN_CURSOR_WAIT_MS` (2 s), then 503 "
            "with `Retry-After`; a cursor beyond the feed head is a 400"
        },
    )


class EntryListArgsSchema(PageArgsSchema):
    min_cursor = min_cursor_field()
    kind = fields.String(validate=validate.OneOf(KINDS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    tag = Tag(validate=validate.Length(max=100))
    reporter = fields.Integer(validate=ID_RANGE, metadata={"description": "Org id with an active report"})
    updated_since = fields.AwareDateTime()
    q = fields.String(
        validate=validate.Length(min=1, max=MAX_VALUE_LENGTH), metadata={"description": "Prefix of the canonical value"}
    )


class LookupArgsSchema(Schema):
    value = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_VALUE_LENGTH),
        metadata={
            "description": "A number in a listed range matches it too (`95275012` in `952750xx`)",
            "example": "95275012",
        },
    )
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))


def min_tier_field() -> fields.String:
    return fields.String(
        load_default=None,
        validate=validate.OneOf(TIERS),
        metadata={"description": "Only entries of this tier or above match (watch < label < block)"},
    )


class LookupQuerySchema(LookupArgsSchema):
    min_tier = min_tier_field()
    min_cursor = min_cursor_field()


class BatchLookupSchema(Schema):
    values = fields.List(
        fields.Nested(LookupArgsSchema), required=True, validate=validate.Length(min=1, max=MAX_BATCH_LOOKUP)
    )
    min_tier = min_tier_field()


class VerdictSchema(Schema):
    value = fields.String(
        allow_none=True,
        metadata={
            "description": "The value looked up; for a person its canonical hash (null when the identifier "
            "sent is not valid), never the identifier"
        },
    )
    kind = fields.String(allow_none=True)
    listed = fields.Boolean()
    matches = fields.List(fields.Nested(EntrySchema))
    error = fields.String(metadata={"description": "Why the value could not be read as the kind asked for"})


class BatchVerdictSchema(Schema):
    results = fields.List(fields.Nested(VerdictSchema))


class TagCountSchema(Schema):
    tag = fields.String()
    count = fields.Integer()


TagListSchema = list_schema(TagCountSchema, "TagList")


class TagArgsSchema(PageArgsSchema):
    namespace = fields.String(validate=validate.Regexp(r"^[a-z0-9][a-z0-9._-]{0,39}$"))


class AllowlistItemSchema(Schema):
    id = fields.Integer(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    value = fields.String(required=True, validate=validate.Length(min=1, max=MAX_VALUE_LENGTH))
    raw_value = fields.String(dump_only=True)
    reason = FreeText(required=True, validate=validate.Length(min=1, max=2000))
    created_by_org_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


AllowlistSchema = list_schema(AllowlistItemSchema, "Allowlist")


class AllowlistArgsSchema(PageArgsSchema):
    kind = fields.String(validate=validate.OneOf(KINDS))


class DisputeSchema(Schema):
    id = fields.Integer(dump_only=True)
    entry_id = fields.Integer(dump_only=True)
    org = fields.Nested(OrgRefSchema, dump_only=True)
    reason = FreeText(required=True, validate=validate.Length(min=1, max=4000))
    status = fields.String(dump_only=True, metadata={"enum": list(DISPUTE_STATUSES)})
    resolution_note = fields.String(dump_only=True, allow_none=True)
    resolved_by_org_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    resolved_at = fields.DateTime(dump_only=True, allow_none=True)
    acknowledged_at = fields.DateTime(dump_only=True, allow_none=True)
    ack_due_at = fields.DateTime(
        dump_only=True, allow_none=True, metadata={"description": "Acknowledge by (BLOCKLIST_DISPUTE_ACK_HOURS)"}
    )
    resolve_due_at = fields.DateTime(
        dump_only=True, allow_none=True, metadata={"description": "Resolve by (BLOCKLIST_DISPUTE_RESOLVE_DAYS)"}
    )
    overdue = fields.Function(
        lambda d: d.overdue(utcnow()), dump_only=True, metadata={"type": "boolean", "description": "Past a deadline"}
    )


DisputeListSchema = list_schema(DisputeSchema, "DisputeList")


class DisputeArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(DISPUTE_STATUSES))
    entry_id = fields.Integer(validate=ID_RANGE)
    overdue = fields.Boolean(
        load_default=None, metadata={"description": "true: only disputes past a deadline; false: only the others"}
    )


class ResolveSchema(Schema):
    resolution = fields.String(required=True, validate=validate.OneOf(["upheld", "overturned"]))
    note = FreeText(load_default=None, validate=validate.Length(max=4000))
