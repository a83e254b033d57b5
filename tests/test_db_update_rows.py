"""`db.update_rows`, the one writer of different values to many rows by id (the restriction,
the trust refresh and the tag counts use it): on PostgreSQL from COPY_MIN_ROWS rows a binary
COPY into a temporary table and one UPDATE, else an executemany. Both must store the same values."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from blocklist.db import COPY_MIN_ROWS, db, table_of, update_rows
from blocklist.entries.models import Entry
from blocklist.entries.trust import STORED_TYPES
from blocklist.holdings.restriction import ENTRY_TYPES
from blocklist.values.ids import entry_uuid

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
CST = dt.timezone(dt.timedelta(hours=8))

# The SQL types its callers give: the restriction's and the trust rule's (tagcounts: feed_tags).
TYPES = {**ENTRY_TYPES, **STORED_TYPES}


def _entries(count: int) -> list[int]:
    entries = [
        Entry(
            kind="number",
            value=f"+8613800000{n:03d}",
            raw_value=f"+8613800000{n:03d}",
            object_uuid=entry_uuid("number", f"+8613800000{n:03d}"),
            status="active",
            status_reason="kept",
            reporters=1,
            score=10,
            tier="low",
            feed_tags='["kept"]',
            expires_at=NOW,
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )
        for n in range(count)
    ]
    db.session.add_all(entries)
    db.session.flush()
    return [entry.id for entry in entries]


def _read(ids: list[int]) -> dict[int, dict]:
    db.session.expire_all()
    columns = [Entry.id, Entry.version, *(getattr(Entry, name) for name in TYPES)]
    return {row.id: row._asdict() for row in db.session.execute(select(*columns).where(Entry.id.in_(ids)))}


@pytest.mark.parametrize("count", [2, COPY_MIN_ROWS], ids=["executemany", "copy"])
def test_every_type_its_callers_use_including_nulls_and_offsets(app, count):
    with app.app_context():
        first, second, *others, untouched = _entries(count + 1)
        rows = [
            {
                "id": first,
                "status": "expired",
                "status_reason": None,
                "reporters": 0,
                "expires_at": None,
                "feed_tags": None,
                "updated_at": NOW + dt.timedelta(seconds=1),
                "score": None,
                "tier": None,
                "tier_due_at": None,
            },
            {
                "id": second,
                "status": "active",
                "status_reason": "restricted via 统一社会信用代码",
                "reporters": 2**31 - 1,
                "expires_at": dt.datetime(2026, 3, 2, 8, 30, tzinfo=CST),  # stored as 00:30 UTC
                "feed_tags": '["fraud:loan","list:bad-operator"]',
                "updated_at": NOW + dt.timedelta(seconds=1),
                "score": 75,
                "tier": "high",
                "tier_due_at": NOW + dt.timedelta(days=30),
            },
        ]
        rows += [{**rows[1], "id": other, "tier": "low"} for other in others]
        update_rows(table_of(Entry), rows, TYPES, increment=("version",))
        got = _read([first, second, *others, untouched])

        assert got[first] == {**rows[0], "version": 2}
        assert got[second] == {**rows[1], "expires_at": dt.datetime(2026, 3, 2, 0, 30, tzinfo=dt.UTC), "version": 2}
        assert all(got[other]["tier"] == "low" and got[other]["version"] == 2 for other in others)
        assert got[untouched]["version"] == 1 and got[untouched]["status_reason"] == "kept"
        assert got[untouched]["feed_tags"] == '["kept"]' and got[untouched]["expires_at"] == NOW


def test_called_again_in_the_same_transaction_with_other_columns(app):
    """The restriction calls it twice in one transaction (entries that stay active, those that
    leave), with different columns; without `increment` nothing else moves."""
    with app.app_context():
        ids = _entries(COPY_MIN_ROWS + 2)
        update_rows(table_of(Entry), [{"id": i, "tier": "medium"} for i in ids[:2]], {"tier": "text"})
        update_rows(
            table_of(Entry),
            [{"id": i, "reporters": n, "status": "expired"} for n, i in enumerate(ids[1:])],
            {"reporters": "integer", "status": "text"},
            increment=("version",),
        )
        update_rows(table_of(Entry), [], {"tier": "text"})  # nothing to do
        got = _read(ids)

        assert [got[i]["tier"] for i in ids] == ["medium", "medium", *["low"] * COPY_MIN_ROWS]
        assert [got[i]["reporters"] for i in ids] == [1, *range(COPY_MIN_ROWS + 1)]
        assert [got[i]["status"] for i in ids] == ["active", *["expired"] * (COPY_MIN_ROWS + 1)]
        assert [got[i]["version"] for i in ids] == [1, *[2] * (COPY_MIN_ROWS + 1)]
