"""Who holds a resource (holdings) and who represents an enterprise (representatives).

Subjects are kept by their canonical value (a USCC, or a person's hash), not as a foreign key:
a subject need not be listed to hold something. Both kinds of record are dated: valid from
`valid_from`, until `valid_to` (None: open-ended). Ending one sets `valid_to` to the moment it
ended and records who ended it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, or_
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, BigId, UTCDateTime, utcnow

RESOURCE_KINDS = ("number", "code", "range")
ROLES = ("holder", "lessee")
SUBJECT_VALUE_LENGTH = 64  # a USCC has 18 characters, a person's hash 64 hex digits
RESOURCE_VALUE_LENGTH = 64  # an E.164 number, a code or a range pattern


class Dated:
    """A record valid from `valid_from` until `valid_to` (exclusive; None: still open), recorded
    by an org with optional evidence, and ended (by whom, why) or not."""

    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    evidence: Mapped[str | None] = mapped_column(Text)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    end_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def has_evidence(self) -> bool:
        return bool(self.evidence)

    @classmethod
    def valid_at(cls, at: dt.datetime):
        """SQL: the record is valid at `at`."""
        return (cls.valid_from <= at) & or_(cls.valid_to.is_(None), cls.valid_to > at)

    @classmethod
    def valid_during(cls, start: dt.datetime, end: dt.datetime):
        """SQL: the record is valid at some moment in [start, end)."""
        return (cls.valid_from < end) & or_(cls.valid_to.is_(None), cls.valid_to > start)

    def is_open(self, now: dt.datetime) -> bool:
        return self.valid_from <= now and (self.valid_to is None or self.valid_to > now)


class Holding(Dated, Base):
    """A subject holds (`holder`) or leases from `lessor` (`lessee`) a number, code or range."""

    __tablename__ = "holdings"
    __table_args__ = (
        Index("ix_holdings_resource", "resource_kind", "resource_value"),
        Index("ix_holdings_subject", "subject_kind", "subject_value"),
        Index("ix_holdings_lessor", "lessor_kind", "lessor_value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_kind: Mapped[str] = mapped_column(String(16))
    resource_value: Mapped[str] = mapped_column(String(RESOURCE_VALUE_LENGTH))
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_value: Mapped[str] = mapped_column(String(SUBJECT_VALUE_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    lessor_kind: Mapped[str | None] = mapped_column(String(16))
    lessor_value: Mapped[str | None] = mapped_column(String(SUBJECT_VALUE_LENGTH))


class Representative(Dated, Base):
    """A person (by hash) is an enterprise's legal representative (法定代表人) from when to when."""

    __tablename__ = "representatives"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise: Mapped[str] = mapped_column(String(SUBJECT_VALUE_LENGTH), index=True)
    person: Mapped[str] = mapped_column(String(SUBJECT_VALUE_LENGTH), index=True)
