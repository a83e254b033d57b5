from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..pagination import ID_RANGE, PageArgsSchema, list_schema


class AuditQuerySchema(PageArgsSchema):
    target_type = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    target_id = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    actor_org = fields.Integer(load_default=None, validate=ID_RANGE, metadata={"description": "Actor org id"})
    action = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Action prefix: `entry.` matches `entry.publish`"},
    )
    since = fields.AwareDateTime(
        load_default=None,
        default_timezone=dt.UTC,
        metadata={"description": "Records at or after (ISO 8601; UTC if no offset)"},
    )
    until = fields.AwareDateTime(
        load_default=None,
        default_timezone=dt.UTC,
        metadata={"description": "Records before (ISO 8601; UTC if no offset)"},
    )
    order = fields.String(
        load_default="desc",
        validate=validate.OneOf(["asc", "desc"]),
        metadata={"description": "By seq; newest first by default"},
    )

    @validates_schema
    def _window(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ValidationError("Must be after since.", "until")


class AuditRecordSchema(Schema):
    seq = fields.Integer()
    created_at = fields.DateTime()
    action = fields.String()
    actor_org_id = fields.Integer(allow_none=True)
    actor_org_name = fields.String(allow_none=True)
    actor_client_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    remote_addr = fields.String(allow_none=True)
    target_type = fields.String()
    target_id = fields.String(allow_none=True)
    before = fields.Raw(allow_none=True, metadata={"description": "Snapshot before the change"})
    after = fields.Raw(allow_none=True, metadata={"description": "Snapshot after the change"})
    reason = fields.String(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String(metadata={"description": "SHA-256 of the canonical JSON of the other fields"})


class VerifySchema(Schema):
    ok = fields.Boolean()
    records = fields.Integer(metadata={"description": "Records that checked out"})
    head = fields.String(metadata={"description": "Hash of the last good record"})
    first_bad = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    from_seq = fields.Integer(metadata={"description": "The records after this seq were checked (0: the whole chain)"})


class VerifyArgsSchema(Schema):
    from_checkpoint = fields.Integer(
        load_default=None,
        validate=ID_RANGE,
        metadata={
            "description": "Check only the records after this signed checkpoint (its id), starting "
            "from the hash it signed: for verifiers that checked up to it before"
        },
    )


class CheckpointSchema(Schema):
    id = fields.Integer()
    seq = fields.Integer()
    head_hash = fields.String()
    created_at = fields.DateTime()
    signature = fields.String(metadata={"description": "Base64 Ed25519 signature (see README, Audit trail)"})
    key_id = fields.String()


class PublicKeySchema(Schema):
    key_id = fields.String()
    algorithm = fields.String()
    public_key = fields.String(metadata={"description": "SubjectPublicKeyInfo PEM"})


AuditRecordListSchema = list_schema(AuditRecordSchema, "AuditRecordList")
CheckpointListSchema = list_schema(CheckpointSchema, "CheckpointList")


class TreeHeadSchema(Schema):
    tree_size = fields.Integer(metadata={"description": "Records in the tree"})
    timestamp = fields.Integer(metadata={"description": "Milliseconds since the epoch (UTC)"})
    root_hash = fields.String(metadata={"description": "RFC 9162 Merkle tree hash (hex)"})
    key_id = fields.String()
    signature = fields.String(
        metadata={"description": "Hex Ed25519 signature over RFC 9162 TreeHeadDataV2 (README, Audit trail)"}
    )


class ConsistencyArgsSchema(Schema):
    first = fields.Integer(required=True, validate=validate.Range(min=1, max=2**62))
    second = fields.Integer(required=True, validate=validate.Range(min=1, max=2**62))


class ConsistencySchema(Schema):
    first = fields.Integer()
    second = fields.Integer()
    proof = fields.List(fields.String(), metadata={"description": "RFC 9162 consistency proof (hex hashes)"})


class InclusionArgsSchema(Schema):
    tree_size = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=2**62),
        metadata={"description": "Default: the latest signed tree head's size"},
    )


class InclusionSchema(Schema):
    seq = fields.Integer()
    leaf_index = fields.Integer()
    tree_size = fields.Integer()
    leaf = fields.String(metadata={"description": "The record's RFC 8785 canonical JSON: the leaf's bytes"})
    leaf_hash = fields.String()
    inclusion_proof = fields.List(fields.String(), metadata={"description": "RFC 9162 inclusion proof (hex)"})


class BundleArgsSchema(Schema):
    entry_id = fields.Integer(required=True, validate=ID_RANGE)


TreeHeadListSchema = list_schema(TreeHeadSchema, "TreeHeadList")
