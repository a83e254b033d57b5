"""Verifying the audit chain: stream every record in seq order and recompute it.

Memory stays bounded whatever the chain's length: records are read in keyset batches
(``seq > last ORDER BY seq LIMIT batch``, an index range scan on the primary key) as plain column
tuples, never ORM objects, and only the running hash is kept between batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, scoped_session

from ..db import table_of
from . import signing
from .models import GENESIS_HASH, AuditCheckpoint, AuditHead, AuditRecord
from .services import HASHED_FIELDS, canonical_hash

DEFAULT_BATCH = 5000
# A plain session (the CLI, jobs) or the request-scoped one.
AnySession = Session | scoped_session[Any]
_TABLE = table_of(AuditRecord)
# Core columns (not ORM attributes): rows come back as plain tuples in HASHED_FIELDS order.
_COLUMNS = [_TABLE.c[name] for name in HASHED_FIELDS] + [_TABLE.c.hash]
_SEQ, _PREV_HASH, _HASH = HASHED_FIELDS.index("seq"), HASHED_FIELDS.index("prev_hash"), len(HASHED_FIELDS)


@dataclass
class VerifyResult:
    """`records`: how many records checked out; `head`: the hash of the last good record
    (equal to ``audit_head.hash`` when `ok`); `first_bad`: the first seq found wrong;
    `from_seq`: the records checked are those after it (0: the whole chain)."""

    ok: bool
    records: int
    head: str
    first_bad: int | None = None
    reason: str | None = None
    from_seq: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class ChainBroken(Exception):
    """The chain is wrong at `seq`; `good` is (seq, hash) of the last record known good."""

    def __init__(self, seq: int, reason: str, good: tuple[int, str] | None = None):
        super().__init__(f"seq {seq}: {reason}")
        self.seq = seq
        self.reason = reason
        self.good = good


def walk(
    session: AnySession, *, after_seq: int, prev_hash: str, until_seq: int, batch: int = DEFAULT_BATCH
) -> Iterator[list[tuple[int, str]]]:
    """Check records after_seq+1 .. until_seq; yield each batch's verified (seq, hash) pairs.

    Raises `ChainBroken` at the first record missing, out of place, unlinked or altered, or when
    the chain stops before `until_seq`.
    """
    expected = after_seq + 1
    last = after_seq
    connection = session.connection()
    while last < until_seq:
        # A window of at most `batch` seqs: whatever plan the database picks (even on stale
        # statistics) a query touches at most `batch` rows. Seqs are contiguous, so a window
        # holds exactly `batch` records unless some are missing, which is reported below.
        window_end = min(last + batch, until_seq)
        rows = connection.execute(
            select(*_COLUMNS).where(_TABLE.c.seq > last, _TABLE.c.seq <= window_end).order_by(_TABLE.c.seq)
        ).all()
        if not rows:
            break
        verified = []
        for row in rows:
            seq = row[_SEQ]
            if seq != expected:
                raise ChainBroken(
                    expected, f"record {expected} is missing (the next record is {seq})", (expected - 1, prev_hash)
                )
            if row[_PREV_HASH] != prev_hash:
                raise ChainBroken(seq, "prev_hash does not match the previous record's hash", (expected - 1, prev_hash))
            # Same as record_hash(row's fields), without a mapping lookup per field.
            if canonical_hash(dict(zip(HASHED_FIELDS, row, strict=False))) != row[_HASH]:
                raise ChainBroken(
                    seq, "the stored hash does not match the record's contents", (expected - 1, prev_hash)
                )
            prev_hash = row[_HASH]
            verified.append((seq, prev_hash))
            expected += 1
        last = rows[-1][_SEQ]
        yield verified
    if expected - 1 != until_seq:
        raise ChainBroken(
            expected,
            f"the chain ends at seq {expected - 1} but audit_head is at seq {until_seq}: records were removed",
            (expected - 1, prev_hash),
        )


def _checkpoints(
    session: AnySession, max_id: int | None, batch: int, min_seq: int | None = None
) -> Iterator[AuditCheckpoint]:
    """Checkpoints with id <= max_id (and seq >= min_seq) in (seq, id) order, in keyset batches.
    Without min_seq every one is read, even one naming an impossible seq (reported)."""
    if max_id is None:
        return
    after: tuple[int, int] | None = None
    while True:
        stmt = select(AuditCheckpoint).where(AuditCheckpoint.id <= max_id)
        if min_seq is not None:
            stmt = stmt.where(AuditCheckpoint.seq >= min_seq)
        if after is not None:
            stmt = stmt.where(tuple_(AuditCheckpoint.seq, AuditCheckpoint.id) > tuple_(*after))
        rows = list(session.scalars(stmt.order_by(AuditCheckpoint.seq, AuditCheckpoint.id).limit(batch)))
        if not rows:
            return
        yield from rows
        after = (rows[-1].seq, rows[-1].id)


def checkpoint_problem(
    checkpoint: AuditCheckpoint, record_hash_at_seq: str, keys: dict[str, Ed25519PublicKey]
) -> str | None:
    """Why `checkpoint` does not hold (None when it does); `keys`: key_id -> public key."""
    if checkpoint.head_hash != record_hash_at_seq:
        return (
            f"checkpoint {checkpoint.id} signed hash {checkpoint.head_hash[:12]}… for seq "
            f"{checkpoint.seq}, but that record's hash is now {record_hash_at_seq[:12]}…"
        )
    key = keys.get(checkpoint.key_id)
    if key is None:
        return f"checkpoint {checkpoint.id} is signed by unknown key {checkpoint.key_id!r}"
    message = signing.checkpoint_message(checkpoint.seq, checkpoint.head_hash, checkpoint.created_at, checkpoint.key_id)
    if not signing.signature_ok(key, message, checkpoint.signature):
        return f"checkpoint {checkpoint.id}'s signature does not verify"
    return None


class UnknownCheckpoint(LookupError):
    pass


def verify_chain(
    session: AnySession,
    *,
    batch: int = DEFAULT_BATCH,
    public_key: Ed25519PublicKey | None = None,
    from_checkpoint: int | None = None,
) -> VerifyResult:
    """Verify the whole chain, ``audit_head`` and every checkpoint; never raises for tampering.

    Head, last record and last checkpoint are read in one statement (one consistent view), so
    appends and checkpoints committed while this runs are simply not looked at.

    With `from_checkpoint` (an id) only the records after that signed checkpoint are checked,
    starting from the hash it signed: seconds instead of minutes on a trail of millions, for a
    verifier that checked everything up to that checkpoint before. Raises UnknownCheckpoint.
    """
    head_row = session.execute(
        select(
            AuditHead.seq,
            AuditHead.hash,
            select(func.max(AuditRecord.seq)).scalar_subquery(),
            select(func.max(AuditCheckpoint.id)).scalar_subquery(),
        ).where(AuditHead.id == 1)
    ).one_or_none()
    if head_row is None:
        return VerifyResult(False, 0, GENESIS_HASH, 1, "the audit_head row is missing")
    head_seq, head_hash, max_seq, max_checkpoint = head_row
    keys = {signing.key_id(public_key): public_key} if public_key is not None else None
    start_seq, start_hash = 0, GENESIS_HASH
    if from_checkpoint is not None:
        anchor = session.get(AuditCheckpoint, from_checkpoint)
        if anchor is None or (max_checkpoint is not None and anchor.id > max_checkpoint):
            raise UnknownCheckpoint(from_checkpoint)
        keys = keys or signing.verification_keys()
        # The anchor must be genuine (its signature over the hash it names); the records
        # after it must then link to that hash.
        problem = checkpoint_problem(anchor, anchor.head_hash, keys)
        if problem:
            return VerifyResult(False, 0, GENESIS_HASH, max(anchor.seq, 1), problem, anchor.seq)
        if anchor.seq > head_seq:
            return VerifyResult(
                False,
                0,
                GENESIS_HASH,
                head_seq + 1,
                f"checkpoint {anchor.id} vouches for seq {anchor.seq} but the chain "
                f"ends at seq {head_seq}: records were removed",
                anchor.seq,
            )
        start_seq, start_hash = anchor.seq, anchor.head_hash
    checkpoints = _checkpoints(session, max_checkpoint, batch, start_seq if from_checkpoint is not None else None)
    checkpoint = next(checkpoints, None)
    count, prev = 0, start_hash

    def check(seq: int, hash_at_seq: str) -> None:
        """Check every checkpoint at `seq` (the records are contiguous, so none is skipped)."""
        nonlocal checkpoint, keys
        while checkpoint is not None and checkpoint.seq <= seq:
            if checkpoint.seq < seq:
                raise ChainBroken(
                    max(checkpoint.seq, 1),
                    f"checkpoint {checkpoint.id} names seq {checkpoint.seq}, which no record can have",
                )
            keys = keys or signing.verification_keys()
            problem = checkpoint_problem(checkpoint, hash_at_seq, keys)
            if problem:
                raise ChainBroken(seq if seq else 1, problem)
            checkpoint = next(checkpoints, None)

    try:
        check(start_seq, start_hash)
        for verified in walk(session, after_seq=start_seq, prev_hash=start_hash, until_seq=head_seq, batch=batch):
            if checkpoint is not None and checkpoint.seq <= verified[-1][0]:
                first = verified[0][0]
                for seq, hash_ in verified[max(checkpoint.seq - first, 0) :]:
                    check(seq, hash_)
                    if checkpoint is None or checkpoint.seq > verified[-1][0]:
                        break
            count += len(verified)
            prev = verified[-1][1]
        if prev != head_hash:
            raise ChainBroken(head_seq, "audit_head's hash differs from the last record's hash")
        if max_seq is not None and max_seq > head_seq:
            raise ChainBroken(
                head_seq + 1,
                f"records up to seq {max_seq} lie beyond audit_head (seq {head_seq}): the head was rewritten",
            )
        if checkpoint is not None:
            raise ChainBroken(
                head_seq + 1,
                f"checkpoint {checkpoint.id} vouches for seq "
                f"{checkpoint.seq} but the chain ends at seq "
                f"{head_seq}: records were removed",
            )
    except ChainBroken as broken:
        if broken.good is not None:
            count, prev = broken.good[0] - start_seq, broken.good[1]
        return VerifyResult(False, count, prev, broken.seq, broken.reason, start_seq)
    return VerifyResult(True, count, prev, from_seq=start_seq)
