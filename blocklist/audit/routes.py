"""The audit trail over HTTP: read-only, for holders of `audit:read` (regulators)."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from marshmallow import RAISE

from ..apidoc import RETRY_AFTER, problem
from ..auth.oauth2 import require
from ..auth.scopes import AUDIT_READ
from ..db import db
from ..errors import abort
from ..jsonio import Blueprint
from ..pagination import PageArgsSchema
from . import bundle, queries, signing
from .schemas import (
    AuditQuerySchema,
    AuditRecordListSchema,
    AuditRecordSchema,
    BundleArgsSchema,
    CheckpointListSchema,
    ConsistencyArgsSchema,
    ConsistencySchema,
    InclusionArgsSchema,
    InclusionSchema,
    PublicKeySchema,
    TreeHeadListSchema,
    TreeHeadSchema,
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


@blp.route("/tree-heads")
class TreeHeads(MethodView):
    @require(None)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, TreeHeadListSchema)
    def get(self, page):
        """Signed tree heads of the transparency log, newest first (any token: every client can witness)"""
        return queries.list_tree_heads(page).as_dict()


@blp.route("/tree-heads/latest")
class LatestTreeHead(MethodView):
    @require(None)
    @blp.response(200, TreeHeadSchema)
    @blp.doc(responses={"404": problem("No tree head has been signed yet", RETRY_AFTER)})
    def get(self):
        """The latest signed tree head"""
        return queries.latest_tree_head()


@blp.route("/consistency")
class Consistency(MethodView):
    @require(None)
    @blp.arguments(ConsistencyArgsSchema, location="query")
    @blp.response(200, ConsistencySchema)
    @blp.doc(responses={"422": problem("first > second, or second beyond the tree")})
    def get(self, args):
        """RFC 9162 consistency proof: the tree of `first` records is a prefix of the tree of `second`"""
        return bundle.consistency(args["first"], args["second"])


@blp.route("/records/<int:seq>/proof")
class InclusionProof(MethodView):
    @require(AUDIT_READ)
    @blp.arguments(InclusionArgsSchema, location="query")
    @blp.response(200, InclusionSchema)
    @blp.doc(
        responses={
            "404": problem("No such record, or no signed tree head yet", RETRY_AFTER),
            "422": problem("The record is not in a tree of that size"),
        }
    )
    def get(self, args, seq):
        """RFC 9162 inclusion proof of one record (its leaf) in the tree of `tree_size` records"""
        return bundle.inclusion(seq, args["tree_size"])


@blp.route("/bundle")
class CourtBundle(MethodView):
    @require(AUDIT_READ)
    @blp.arguments(BundleArgsSchema, location="query")
    @blp.response(200, description="The court bundle (verify offline with scripts/verify_bundle.py)")
    @blp.doc(
        responses={
            "404": problem("No record about the entry in a signed tree head yet", RETRY_AFTER),
            "409": problem("A record no longer matches the signed tree (the trail was altered)"),
        }
    )
    def get(self, args):
        """Court bundle of an entry: its records, their inclusion proofs, a signed tree head, the public key"""
        return Response(bundle.court_bundle(str(args["entry_id"])), mimetype="application/json")
