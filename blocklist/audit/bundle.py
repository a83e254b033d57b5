"""Proofs for readers: inclusion and consistency proofs, and the court bundle of an entry."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from ..config import current_settings
from ..db import db
from ..exceptions import Conflict, Invalid, NotFound
from ..sync import rfc9162
from . import signing, tree, treeheads
from .models import AuditHead, AuditRecord, AuditTreeHead
from .services import LEAF_FIELDS, record_leaf

MAX_BUNDLE_RECORDS = 10_000


def _latest_head() -> AuditTreeHead:
    head = treeheads.latest()
    if head is None:
        raise NotFound(
            "No signed tree head yet: the audit log is signed every "
            f"{current_settings().sth_interval} seconds once it has records.",
            headers={"Retry-After": str(current_settings().sth_interval)},
        )
    return head


def _tree_size() -> int:
    return db.session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0


def consistency(first: int, second: int) -> dict[str, Any]:
    """A consistency proof between the trees of `first` and `second` records."""
    size = _tree_size()
    if first > second:
        raise Invalid("first must not exceed second.", errors={"first": ["Must be at most second."]})
    if second > size:
        raise Invalid(
            f"The audit log has {size} records.", errors={"second": [f"Must be at most the tree size ({size})."]}
        )
    return {"first": first, "second": second, "proof": [h.hex() for h in tree.consistency_proof(first, second)]}


def inclusion(seq: int, tree_size: int | None) -> dict[str, Any]:
    """The record `seq`'s leaf and its inclusion proof in the tree of `tree_size` records (by
    default the latest signed tree head's)."""
    if tree_size is None:
        tree_size = _latest_head().tree_size
    if tree_size > _tree_size():
        raise Invalid(f"The audit log has {_tree_size()} records.", errors={"tree_size": ["Beyond the tree."]})
    if seq > tree_size:
        raise Invalid(
            f"Record {seq} is not in the tree of size {tree_size}.", errors={"tree_size": [f"Must be at least {seq}."]}
        )
    row = db.session.execute(
        select(*[AuditRecord.__table__.c[name] for name in LEAF_FIELDS]).where(AuditRecord.seq == seq)
    ).one_or_none()
    if row is None:
        raise NotFound(f"No audit record with seq {seq}.")
    leaf = record_leaf(dict(zip(LEAF_FIELDS, row, strict=True)))
    return {
        "seq": seq,
        "leaf_index": seq - 1,
        "tree_size": tree_size,
        "leaf": leaf.decode("utf-8"),
        "leaf_hash": rfc9162.hash_leaf(leaf).hex(),
        "inclusion_proof": [h.hex() for h in tree.inclusion_proof(seq - 1, tree_size)],
    }


def court_bundle(entry_id: str) -> bytes:
    """The bundle of every audit record about entry `entry_id` in the latest signed tree head,
    serialised as scripts/verify_bundle.py requires. Conflict if a record no longer matches
    the signed tree (the trail was altered)."""
    head = _latest_head()
    rows = db.session.execute(
        select(*[AuditRecord.__table__.c[name] for name in LEAF_FIELDS])
        .where(AuditRecord.target_type == "entry", AuditRecord.target_id == entry_id, AuditRecord.seq <= head.tree_size)
        .order_by(AuditRecord.seq)
        .limit(MAX_BUNDLE_RECORDS + 1)
    ).all()
    if not rows:
        raise NotFound(f"No audit record about entry {entry_id} in the signed tree head of size {head.tree_size}.")
    if len(rows) > MAX_BUNDLE_RECORDS:
        raise Conflict(f"Entry {entry_id} has more than {MAX_BUNDLE_RECORDS} audit records; ask the operator.")
    root = bytes.fromhex(head.root_hash)
    key = signing.verification_keys().get(head.key_id)
    if key is None:
        raise Conflict(f"The latest tree head is signed by key {head.key_id}, which this server does not know.")
    records = []
    for row in rows:
        fields = dict(zip(LEAF_FIELDS, row, strict=True))
        leaf = record_leaf(fields)
        index = fields["seq"] - 1
        proof = tree.inclusion_proof(index, head.tree_size)
        if not rfc9162.verify_inclusion(index, head.tree_size, rfc9162.hash_leaf(leaf), proof, root):
            raise Conflict(
                f"Audit record {fields['seq']} no longer matches the signed tree: the trail was altered "
                "(run `flask audit verify`)."
            )
        records.append({"leaf_index": index, "leaf": leaf.decode("utf-8"), "inclusion_proof": [h.hex() for h in proof]})
    return rfc9162.bundle_bytes(
        {
            "format": rfc9162.BUNDLE_FORMAT,
            "entry_id": entry_id,
            "public_key": key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex(),
            "tree_head": treeheads.as_dict(head),
            "records": records,
        }
    )
