"""Signed checkpoints: "the chain had `seq` records ending in `head_hash`", signed with Ed25519.

A checkpoint is only written over a chain that verifies, and under the head lock, so the signed
(seq, hash) is exactly the committed head and no append can slip in between.
"""

from __future__ import annotations

from ..db import db, utcnow
from . import signing
from .models import AuditCheckpoint
from .services import _lock_head
from .verify import DEFAULT_BATCH, ChainBroken, VerifyResult, verify_chain, walk


def create_checkpoint(*, batch: int = DEFAULT_BATCH) -> tuple[AuditCheckpoint | None, VerifyResult]:
    """Verify the chain, then sign and store its head. Returns (checkpoint, result); the
    checkpoint is None, and nothing is written, when the chain does not verify. The caller
    commits (or rolls back, which releases the head lock)."""
    session = db.session
    result = verify_chain(session, batch=batch)
    if not result.ok:
        return None, result
    kid = signing.key_id()  # load the key (SigningKeyUnavailable if none) before taking the lock
    # The full walk ran without the lock (appenders were not held up); under the lock, check only
    # the records appended since then, linking them to what was verified.
    seq, head_hash = _lock_head(0)
    try:
        last_hash = result.head
        for verified in walk(session, after_seq=result.records, prev_hash=result.head, until_seq=seq, batch=batch):
            last_hash = verified[-1][1]
        if last_hash != head_hash:
            raise ChainBroken(seq, "audit_head's hash differs from the last record's hash")
    except ChainBroken as broken:
        return None, VerifyResult(False, result.records, result.head, broken.seq, broken.reason)
    created_at = utcnow()
    checkpoint = AuditCheckpoint(
        seq=seq,
        head_hash=head_hash,
        created_at=created_at,
        key_id=kid,
        signature=signing.sign(signing.checkpoint_message(seq, head_hash, created_at, kid)),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint, VerifyResult(True, seq, head_hash)
