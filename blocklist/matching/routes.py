"""POST /v1/check. Thin: validation by schema, the work in ``services.check``."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ..apidoc import MIN_CURSOR_PARAM
from ..auth.oauth2 import require
from ..auth.scopes import ENTRIES_READ
from ..config import current_settings
from ..errors import abort
from ..jsonio import Blueprint
from ..reads import at_cursor, read_only
from ..values.trust import TIERS
from . import services

blp = Blueprint("check", __name__, url_prefix="/v1", description="Message checks")

MAX_SENDER = 64


class CheckSchema(Schema):
    sender = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_SENDER),
        metadata={"description": "Number or code the message came from"},
    )
    # The length limit is enforced in the view, as a 413 rather than a 422.
    text = fields.String(
        required=True,
        metadata={"description": "Message text, at most BLOCKLIST_CHECK_MAX_TEXT characters (default 65536)"},
    )
    min_tier = fields.String(
        load_default=None,
        validate=validate.OneOf(TIERS),
        metadata={"description": "Only entries of this tier or above match (watch < label < block)"},
    )


class MatchSchema(Schema):
    kind = fields.String()
    entry_id = fields.Integer()
    value = fields.String()
    field = fields.String(metadata={"description": "sender or text"})
    span = fields.List(fields.Integer(), metadata={"description": "[start, end) in the original string, in characters"})
    tier = fields.String(metadata={"enum": list(TIERS)})
    score = fields.Integer(allow_none=True)
    category = fields.String(allow_none=True)
    dispute_path = fields.String(metadata={"description": "Where to contest the entry (POST a dispute)"})


class SenderLinkSchema(Schema):
    holding_id = fields.Integer()
    role = fields.String(metadata={"enum": ["holder", "lessee"]})
    subject = fields.Dict(metadata={"description": "{kind, value} of the holder or lessee"})
    listed = fields.Boolean(metadata={"description": "The subject is listed now"})


class CheckResultSchema(Schema):
    verdict = fields.String(
        metadata={
            "enum": ["block", "label", "allow"],
            "description": "block when a block-tier match applies, label when only label-tier ones do, else allow",
        }
    )
    matches = fields.List(fields.Nested(MatchSchema))
    sender_status = fields.String(
        allow_none=True,
        metadata={
            "enum": ["registered", "unregistered", "restricted", None],
            "description": "For a code sender (digits that are no phone number): a holder is recorded now "
            "(registered), none (unregistered), or someone in its chain is listed (restricted); null otherwise",
        },
    )
    sender_chain = fields.List(
        fields.Nested(SenderLinkSchema),
        allow_none=True,
        metadata={"description": "The code's holders and lessees now, in chain order; null when sender_status is"},
    )


@blp.route("/check")
class Check(MethodView):
    @read_only
    @require(ENTRIES_READ)
    @at_cursor
    @blp.doc(parameters=[MIN_CURSOR_PARAM])
    @blp.arguments(
        CheckSchema,
        example={"sender": "10687415", "text": "您的账户存在风险，请立即将资金转入安 全 账 户：bit.ly/x"},
    )
    @blp.response(200, CheckResultSchema)
    @blp.alt_response(
        413, schema="Problem", content_type="application/problem+json", description="The text is longer than the limit"
    )
    def post(self, data):
        """Check a message: sender number/code/range, keywords, URLs and domains in the text"""
        limit = current_settings().check_max_text
        if len(data["text"]) > limit:
            abort(413, f"The text has {len(data['text'])} characters; the limit is {limit}.")
        return services.check(data["sender"], data["text"], data["min_tier"])
