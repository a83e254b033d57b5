"""Entry routes. The entries capability itself lands with the entries issue; this lists none."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..auth.oauth2 import require
from ..auth.scopes import ENTRIES_READ
from ..pagination import PageArgsSchema, list_schema

blp = Blueprint("entries", __name__, url_prefix="/v1/entries", description="Blocklist entries")


class EntrySchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    value = fields.String()
    raw_value = fields.String()
    status = fields.String()


EntryListSchema = list_schema(EntrySchema, "EntryList")


@blp.route("")
class Entries(MethodView):
    @require(ENTRIES_READ)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, EntryListSchema)
    def get(self, page):
        """List entries"""
        return {"items": [], "next_cursor": None}
