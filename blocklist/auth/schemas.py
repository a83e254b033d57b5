from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..freetext import FreeText
from ..pagination import list_schema
from .scopes import ORG_KINDS


class OrgSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    status = fields.String(dump_only=True, metadata={"enum": ["active", "suspended"]})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    suspended_at = fields.DateTime(dump_only=True, allow_none=True)


class OrgStatusChangeSchema(Schema):
    reason = FreeText(load_default=None, validate=validate.Length(max=2000))


class ClientSchema(Schema):
    client_id = fields.String(dump_only=True)
    org_id = fields.Integer(dump_only=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))
    scope = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "Space-separated; default: the org kind's scopes"},
    )
    created_at = fields.DateTime(dump_only=True)
    secret_rotated_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class ClientWithSecretSchema(ClientSchema):
    client_secret = fields.String(dump_only=True, metadata={"description": "Shown only in this response"})


OrgListSchema = list_schema(OrgSchema, "OrgList")
ClientListSchema = list_schema(ClientSchema, "ClientList")
