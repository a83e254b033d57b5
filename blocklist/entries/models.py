"""Entries (one per kind + canonical value), the reports that corroborate them, their tags,
the regulators' allowlist, disputes and stored idempotent responses."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, and_, or_, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Org
from ..db import Base, BigId, UTCDateTime, utcnow
from ..values.ids import entry_uuid

STATUSES = ("active", "expired", "revoked")
MAX_VALUE_LENGTH = 2048


def effective_status(status: str, expires_at: dt.datetime | None, now: dt.datetime) -> str:
    """The status that restricts: an `active` entry whose `expires_at` has passed is `expired`
    at once, to the second, before the sweeper marks it. The one rule for entries and for rows
    read without the ORM (look-ups, checks)."""
    if status == "active" and expires_at is not None and expires_at <= now:
        return "expired"
    return status


def _object_uuid_default(context) -> uuid.UUID:
    """The `object_uuid` of a row inserted without one through SQLAlchemy (PostgreSQL's COPY in
    `db.insert_with_ids` takes no defaults: its callers pass `entry_uuid` themselves)."""
    row = context.get_current_parameters()
    return entry_uuid(row["kind"], row["value"])


class Entry(Base):
    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("kind", "value"),
        # Lists and snapshots walk one status (and kind) in id order.
        Index("ix_entries_status_kind_id", "status", "kind", "id"),
        # Active entries whose time has passed but the sweeper has not marked yet: the sweeper's
        # probe and the tag counts' correction (`tagcounts.counts`), never the long tail of
        # entries that expired long ago.
        Index(
            "ix_entries_active_expires_at",
            "expires_at",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        # Ranges' prefixes and URLs' expressions, probed with IN (...): only the rows that have
        # one (most entries are numbers), so writing any other row never touches these indexes.
        *(
            Index(
                f"ix_entries_{column}",
                column,
                postgresql_where=text(f"{column} IS NOT NULL"),
                sqlite_where=text(f"{column} IS NOT NULL"),
            )
            for column in ("range_prefix", "match_key")
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(MAX_VALUE_LENGTH))
    # `values.ids.entry_uuid(kind, value)`: the STIX indicator id and MISP attribute uuid, stored
    # so TAXII's `match[id]` and `objects/{id}/` find the entry with one index probe. None only
    # for an entry written by a release from before migration 0011 during a rolling upgrade,
    # until the sweeper fills it in (`entries/object_ids.fill_missing`).
    object_uuid: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=_object_uuid_default, index=True)
    raw_value: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Why the entry is not active: "withdrawn", "ttl", "recycled", a regulator's reason, ...
    status_reason: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(40))
    # Subjects (enterprise, person): optional free text naming who it is; never matched.
    display_name: Mapped[str | None] = mapped_column(String(200))
    # Ranges: the digit prefix and the total length (None for "prefix*"), so a look-up probes
    # the index with the prefixes of the number instead of scanning every range.
    range_prefix: Mapped[str | None] = mapped_column(String(20))
    range_length: Mapped[int | None] = mapped_column(Integer)
    # URLs: the Safe Browsing expression (host + path + query) that text URLs are matched by.
    match_key: Mapped[str | None] = mapped_column(String(MAX_VALUE_LENGTH))
    reporters: Mapped[int] = mapped_column(Integer, default=0)
    # Trust (blocklist/values/trust.py), stored so reads never recompute: kept by
    # `entries/trust.refresh` whenever the entry changes (every feed upsert) and by the tier job
    # at `tier_due_at`, when ageing moves it across a tier boundary. None: not yet assessed
    # (entries from before the upgrade, until the tier job reaches them; read as `block`).
    score: Mapped[int | None] = mapped_column(Integer)
    tier: Mapped[str | None] = mapped_column(String(8))
    tier_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    # The tags as the feed last carried them, as the JSON array the snapshot writes
    # (`["a","b"]`, `[]`), while the entry is in the active set; NULL while it is not. Kept by
    # `entries/tagcounts.settle` at every feed change, together with `TagCount`; never loaded
    # with the entry (reads use `tags`).
    feed_tags: Mapped[str | None] = mapped_column(Text, deferred=True)
    # Bumped on every change; the ETag.
    version: Mapped[int] = mapped_column(Integer, default=1)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    reports: Mapped[list[Report]] = relationship(
        back_populates="entry", lazy="selectin", order_by="Report.id", foreign_keys="Report.entry_id"
    )
    tag_rows: Mapped[list[EntryTag]] = relationship(
        lazy="selectin", order_by="EntryTag.tag", cascade="all, delete-orphan"
    )

    @property
    def tags(self) -> list[str]:
        """The tag names in order (also right after tags were added in this transaction)."""
        return sorted(row.tag for row in self.tag_rows)

    @classmethod
    def unexpired(cls, now: dt.datetime):
        """SQL: `expires_at` has not passed (to the second, before any sweep)."""
        return or_(cls.expires_at.is_(None), cls.expires_at > now)

    @classmethod
    def active_at(cls, now: dt.datetime):
        """SQL: the entry restricts at `now` (the effective status is active)."""
        return and_(cls.status == "active", cls.unexpired(now))

    def effective_status(self, now: dt.datetime | None = None) -> str:
        """`expires_at` counts to the second, before the sweeper has marked the entry."""
        return effective_status(self.status, self.expires_at, now or utcnow())

    @property
    def in_feed(self) -> bool:
        """In the feed's active set: the materialised status, which snapshots and the sweeper
        use. An entry past `expires_at` stays in every mirror until the sweeper (or another
        change) writes its `remove`, so this, not `effective_status`, decides feed operations."""
        return self.status == "active"

    @property
    def etag(self) -> str:
        return f'"{self.id}.{self.version}"'


class Report(Base):
    """One org's report of an entry: at most one direct report per (entry, org), and at most one
    open report *via* a listed subject per (entry, org, holding) (`via_holding_id`: the resource
    is held by a subject that org listed; `blocklist/holdings/restriction.py` opens and closes
    these; each listing episode is its own row, closed ones kept as history).

    A report is open until it is closed (`withdrawn_at` set, with `close_reason`: withdrawn by
    its org, expired by its org or its time, or closed with the whole entry by a regulator);
    each has its own `expires_at`, and the entry's `expires_at` is the latest of its open
    reports'. An open report whose `expires_at` has passed no longer counts (`is_active`) even
    before the sweeper closes it."""

    __tablename__ = "reports"
    __table_args__ = (
        Index(
            "uq_reports_direct",
            "entry_id",
            "org_id",
            unique=True,
            postgresql_where=text("via_holding_id IS NULL"),
            sqlite_where=text("via_holding_id IS NULL"),
        ),
        # Also the probe for a holding's open via reports (restriction.reconcile).
        Index(
            "uq_reports_via",
            "via_holding_id",
            "entry_id",
            "org_id",
            unique=True,
            postgresql_where=text("via_holding_id IS NOT NULL AND withdrawn_at IS NULL"),
            sqlite_where=text("via_holding_id IS NOT NULL AND withdrawn_at IS NULL"),
        ),
        # The sweeper's probe for open reports whose own time ran out; closed reports (most of
        # them, in time) are not indexed.
        Index(
            "ix_reports_open_expires_at",
            "expires_at",
            postgresql_where=text("withdrawn_at IS NULL"),
            sqlite_where=text("withdrawn_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    raw_value: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Why the report closed: withdrawn, ttl, the org's own reason (e.g. recycled), or the
    # entry's status reason when a regulator closed the whole entry.
    close_reason: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # A report via a listed subject: the subject's entry and the holding that ties the resource
    # to it (both None for a direct report). Plain ids, not foreign keys: entries and holdings
    # are never deleted, and restricting 10,000 resources at once should not pay 20,000
    # foreign-key checks for them.
    via_subject_entry_id: Mapped[int | None] = mapped_column(BigId)
    via_holding_id: Mapped[int | None] = mapped_column(BigId)

    entry: Mapped[Entry] = relationship(back_populates="reports", foreign_keys=[entry_id])
    org: Mapped[Org] = relationship(lazy="joined")

    def is_active(self, now: dt.datetime) -> bool:
        """Open and not past its own `expires_at`."""
        return self.withdrawn_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def has_evidence(self) -> bool:
        return bool(self.evidence)

    @property
    def is_direct(self) -> bool:
        """The org's own report (not one via a listed subject)."""
        return self.via_holding_id is None

    @property
    def via(self) -> dict[str, int | None] | None:
        if self.via_holding_id is None:
            return None
        return {"subject_entry_id": self.via_subject_entry_id, "holding_id": self.via_holding_id}


class EntryTag(Base):
    """The entry's tag set: what every read (entries, look-ups, feeds, snapshots, tag counts)
    uses. A tag is on the entry while at least one org claims it (`TagClaim`)."""

    __tablename__ = "entry_tags"

    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class TagCount(Base):
    """How many entries in the active set (status `active`) carry each tag: kept by the writes
    (`entries/tagcounts.py`, under the entry-writer lock) so `GET /v1/tags` never aggregates.
    A tag no active entry carries has no row."""

    __tablename__ = "tag_counts"

    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class TagClaim(Base):
    """Which org added a tag to an entry: an org removes only its own claims (a regulator any),
    and the tag leaves the entry when no claim is left."""

    __tablename__ = "tag_claims"

    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), primary_key=True, index=True)


class AllowlistItem(Base):
    """A value a regulator declared legitimate: never published, never matched."""

    __tablename__ = "allowlist"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(MAX_VALUE_LENGTH))
    raw_value: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Dispute(Base):
    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The workflow open -> acknowledged -> upheld | overturned, with deadlines set at filing
    # (BLOCKLIST_DISPUTE_ACK_HOURS, _RESOLVE_DAYS): past one and not there yet, it is overdue.
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    ack_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolve_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    @classmethod
    def overdue_at(cls, now: dt.datetime):
        """SQL: not acknowledged by its acknowledgement deadline, or not resolved by its
        resolution deadline (the one rule for the list, the response and the metric)."""
        return or_(
            and_(cls.status == "open", cls.ack_due_at <= now),
            and_(cls.status.in_(("open", "acknowledged")), cls.resolve_due_at <= now),
        )

    def overdue(self, now: dt.datetime) -> bool:
        if self.status == "open" and self.ack_due_at is not None and self.ack_due_at <= now:
            return True
        return (
            self.status in ("open", "acknowledged") and self.resolve_due_at is not None and self.resolve_due_at <= now
        )

    entry: Mapped[Entry] = relationship(lazy="joined")
    org: Mapped[Org] = relationship(lazy="joined", foreign_keys=[org_id])


class IdempotentResponse(Base):
    """The first answer to a request sent with an `Idempotency-Key`, replayed to retries."""

    __tablename__ = "idempotent_responses"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
