"""The change log every consumer follows, the head row that orders it, and the snapshot's
lines kept ready."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, BigId, UTCDateTime, utcnow
from ..entries.models import MAX_VALUE_LENGTH


class FeedChange(Base):
    """One change to the active set: `upsert` (entry now active, or its content changed) or
    `remove` (entry left the active set). Positions are gap-free and in commit order."""

    __tablename__ = "feed_changes"
    __table_args__ = (Index("ix_feed_changes_kind_position", "kind", "position"),)

    position: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(BigId, index=True)
    op: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(MAX_VALUE_LENGTH))
    # An upsert's tier as of this change (None for a remove, and for changes from before tiers):
    # a consumer with `min_tier` reads an upsert below it as a remove.
    tier: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FeedHead(Base):
    """One row: the last position handed out. Every transaction that changes entries updates it
    first, which takes its row lock until commit: entry writers are serialised, so positions are
    assigned in commit order and a reader can never skip a change that commits late."""

    __tablename__ = "feed_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(BigId, default=0)
    # Retention: the highest position deleted by pruning (0: nothing pruned). A cursor below it
    # has lost changes and gets 410 Gone; a cursor at or above it can still be followed.
    pruned_through: Mapped[int] = mapped_column(BigId, default=0, server_default="0")


class FeedLine(Base):
    """PostgreSQL: the JSON line the snapshot writes for each entry in the active set (status
    `active`), kept by the writes (`feeds/lines.py`, at every feed change and re-assessment) so
    a snapshot is a plain `COPY` of this table. Empty on SQLite, where the snapshot formats rows
    in Python."""

    __tablename__ = "feed_lines"

    entry_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str | None] = mapped_column(String(8))
    line: Mapped[str] = mapped_column(Text)
