"""The audit trail over HTTP: read-only, for holders of `audit:read` (regulators)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import RAISE

from ..apidoc import RETRY_AFTER, problem
from ..auth.oauth2 import require
from ..auth.scopes import AUDIT_READ
from ..db import db
from ..errors import abort
from ..jsonio import Blueprint
from ..pagination import PageArgsSchema
from . import queries, signing
from .schemas import (
    AuditQuerySchema,
    AuditRecordListSchema,
    AuditRecordSchema,
    CheckpointListSchema,
    PublicKeySchema,
    VerifyArgsSchema,
    VerifySchema,
)
from .verify import UnknownCheckpoint, verify_chain

blp = Blueprint(
    "audit",
    __name__,
    url_prefix="/v1/audit",
    description="The hash-chained audit trail, its verification and signed checkpoints",
)


@blp.route("")
class AuditRecords(MethodView):
    @require(AUDIT_READ)
    # A mistyped filter (actor_org_id=…) must not silently return the whole trail: 422 instead.
    @blp.arguments(AuditQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, AuditRecordListSchema)
    def get(self, args):
        """List audit records, newest first unless order=asc"""
        return queries.list_records(args).as_dict()


@blp.route("/<int:seq>")
class AuditRecordBySeq(MethodView):
    @require(AUDIT_READ)
    @blp.response(200, AuditRecordSchema)
    @blp.doc(responses={"404": problem("No audit record with this seq")})
    def get(self, seq):
        """One audit record"""
        return queries.get_record(seq)


@blp.route("/verify")
class AuditVerify(MethodView):
    @require(AUDIT_READ)
    @blp.arguments(VerifyArgsSchema, location="query")
    @blp.response(200, VerifySchema)
    def get(self, args):
        """Verify the chain, audit_head and every signed checkpoint

        Reads every record (about 38,000 a second: minutes on a trail of millions; see README,
        Audit trail), or with `from_checkpoint` only those after a signed checkpoint.
        """
        try:
            return verify_chain(db.session, from_checkpoint=args["from_checkpoint"]).as_dict()
        except UnknownCheckpoint:
            abort(404, f"No audit checkpoint with id {args['from_checkpoint']}.")


@blp.route("/checkpoints")
class AuditCheckpoints(MethodView):
    @require(AUDIT_READ)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, CheckpointListSchema)
    def get(self, page):
        """Signed checkpoints, newest first"""
        return queries.list_checkpoints(page).as_dict()


@blp.route("/public-key")
class AuditPublicKey(MethodView):
    @blp.response(200, PublicKeySchema)
    @blp.doc(
        responses={"503": problem("The server has no usable signing key (the operator must provide it)", RETRY_AFTER)}
    )
    def get(self):
        """The Ed25519 public key that verifies checkpoint signatures (public, no token)"""
        return {"key_id": signing.key_id(), "algorithm": signing.ALGORITHM, "public_key": signing.public_key_pem()}
