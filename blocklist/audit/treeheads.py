"""Signed tree heads (STHs): "the audit tree had `tree_size` records and this root at this
time", signed with the audit key. Made by `flask audit sth` (a timer, once per deployment)."""

from __future__ import annotations

from sqlalchemy import func, select

from ..db import db, utcnow
from ..exceptions import Conflict
from ..sync import rfc9162
from . import signing, tree
from .models import AuditTreeHead
from .services import _lock_head


class TreeInconsistent(Conflict):
    """The stored tree no longer extends the last signed tree head: refuse to sign."""


def as_dict(head: AuditTreeHead) -> dict:
    """The five fields every verifier reads (blocklist/sync/rfc9162.py, HEAD_FIELDS)."""
    return {
        "tree_size": head.tree_size,
        "timestamp": head.timestamp,
        "root_hash": head.root_hash,
        "key_id": head.key_id,
        "signature": head.signature,
    }


def latest() -> AuditTreeHead | None:
    return db.session.scalar(select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc()).limit(1))


def sign_tree_head() -> AuditTreeHead | None:
    """Sign the tree as it is now, if it grew since the last tree head (None if not).

    Runs under the head lock, so no append slips between reading the size and signing, and a
    second job running at once waits, then finds nothing new. Before signing, checks in
    O(log n) that the tree still extends the last signed head (raises TreeInconsistent)."""
    kid = signing.key_id()  # SigningKeyUnavailable before the lock, not under it
    size, _ = _lock_head(0)
    last = latest()
    if size == 0 or (last is not None and last.tree_size == size):
        return None
    if last is not None:
        if size < last.tree_size:
            raise TreeInconsistent(
                f"the audit trail has {size} records but a tree head of size {last.tree_size} was signed: "
                "records were removed"
            )
    root = tree.root(size)
    if last is not None:
        proof = tree.consistency_proof(last.tree_size, size)
        if not rfc9162.verify_consistency(last.tree_size, size, bytes.fromhex(last.root_hash), root, proof):
            raise TreeInconsistent(
                f"the stored Merkle tree is not consistent with the tree head signed for size {last.tree_size}: "
                "the tree was altered"
            )
    timestamp = int(utcnow().timestamp() * 1000)
    message = signing.tree_head_message(size, timestamp, root)
    head = AuditTreeHead(
        tree_size=size,
        timestamp=timestamp,
        root_hash=root.hex(),
        key_id=kid,
        signature=signing.private_key().sign(message).hex(),
    )
    db.session.add(head)
    db.session.flush()
    return head


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditTreeHead)) or 0
