"""Number events and sighting counts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, BigId, UTCDateTime, utcnow

EVENT_TYPES = ("reassigned", "disconnected")
SIGHTING_TYPES = ("hit", "false_positive", "expired")


class NumberEvent(Base):
    """A carrier's or regulator's dated statement that a number was reassigned to a new
    subscriber or disconnected; one row per (number, type, date, org), repeats are no-ops."""

    __tablename__ = "number_events"
    __table_args__ = (
        UniqueConstraint("number", "type", "date", "org_id"),
        Index("ix_number_events_number_date", "number", "date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32))  # E.164
    type: Mapped[str] = mapped_column(String(16))
    date: Mapped[dt.date] = mapped_column(Date)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Sighting(Base):
    """How many times one org saw one entry on one day, by type: counts, not event rows, so a
    re-sent batch adds nothing (the count is the org's latest for that day)."""

    __tablename__ = "sightings"

    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), primary_key=True, index=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
