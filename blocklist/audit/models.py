"""The audit trail: one append-only, hash-chained record per change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, BigId, UTCDateTime, utcnow

GENESIS_HASH = "0" * 64


class AuditRecord(Base):
    __tablename__ = "audit_records"

    # The chain position; assigned under the head lock so it is gap-free and in commit order.
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor_org_id: Mapped[int | None] = mapped_column(index=True)
    actor_org_name: Mapped[str | None] = mapped_column(String(200))
    actor_client_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64), index=True)
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the chain's last sequence and hash. Updating it first serialises appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigId, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class AuditCheckpoint(Base):
    """A signed statement "the chain had `seq` records ending in `head_hash`" (Ed25519).

    Written under the head lock. Verification checks the record at `seq` still has `head_hash`, so
    rewriting or truncating history behind a checkpoint is detected even if `audit_head` is
    rewritten to match.
    """

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigId, index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    signature: Mapped[str] = mapped_column(String(128))  # base64 of the 64-byte Ed25519 signature
    key_id: Mapped[str] = mapped_column(String(64))


class AuditTreeNode(Base):
    """A perfect subtree of the RFC 9162 Merkle tree over the records: `(level, position)`
    covers the records with seq ``position * 2**level + 1`` up to ``(position + 1) * 2**level``;
    level 0 holds the leaf hashes. Written with the records, under the head lock (audit/tree.py)."""

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditTreeHead(Base):
    """A signed tree head: the tree had `tree_size` records and root `root_hash` at `timestamp`
    (ms since the epoch); `signature` (hex) is Ed25519 over RFC 9162's TreeHeadDataV2."""

    __tablename__ = "audit_tree_heads"

    tree_size: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
