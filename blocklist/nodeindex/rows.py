"""The node index's rows (`store.COLUMNS`) of active entries, read from the database.

One row per active entry: its matching keys and ``doc``, the entry as `/v1/lookup` shows it to a
caller who sees no evidence (`EntrySchema` dumped, compact JSON), and ``evidence``, its reports'
(org id, evidence) in report order.

On PostgreSQL the whole row, ``doc`` included, is rendered by the database in one set-based query
per chunk of ids (`_SQL`), byte for byte what `EntrySchema` and `json.dumps` give
(tests/matching/test_node_index.py compares the two on every kind of entry): a node builds its
index from 10 M entries in minutes instead of hours of ORM loading and schema dumping. Elsewhere
(SQLite) the entries are loaded and dumped in Python (`_orm_row`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session, joinedload

from ..db import utcnow
from ..entries.models import Entry
from ..entries.schemas import EntrySchema
from ..matcher.keywords import epoch

CHUNK = 2_000  # entries per query (ORM path)
SQL_CHUNK = 20_000  # entries per query (PostgreSQL path)
_SCHEMA = EntrySchema()


def active_rows(session: Session, ids: Sequence[int]) -> Iterator[tuple]:
    """The rows of those of these entries (ids ascending) that are active now, in id order."""
    if session.get_bind().dialect.name == "postgresql":
        for start in range(0, len(ids), SQL_CHUNK):
            chunk = list(ids[start : start + SQL_CHUNK])
            yield from (tuple(row) for row in session.execute(_SQL, {"ids": chunk, "now": _now()}))
        return
    yield from orm_rows(session, ids)


def orm_rows(session: Session, ids: Sequence[int]) -> Iterator[tuple]:
    """The same rows as `active_rows`, loaded and dumped in Python (the reference rendering)."""
    for entry in _entries(session, ids):
        if entry.status == "active":
            yield _orm_row(entry)


def _now() -> dt.datetime:
    return utcnow().replace(tzinfo=None)  # the service's one clock, as the naive UTC the columns hold


def _orm_row(entry: Entry) -> tuple:
    doc = _SCHEMA.dump(entry)  # no evidence viewer here: reports show `has_evidence` only
    evidence = json.dumps([[r.org_id, r.evidence] for r in entry.reports], ensure_ascii=False) if entry.reports else ""
    return (
        entry.id,
        entry.kind,
        entry.value,
        entry.status,
        epoch(entry.expires_at),
        entry.range_prefix,
        entry.range_length,
        entry.match_key,
        entry.category,
        entry.tier,
        entry.score,
        evidence,
        json.dumps(doc, ensure_ascii=False, separators=(",", ":")),
    )


def _entries(session: Session, ids: Sequence[int]) -> Iterator[Entry]:
    """The entries with these ids, whole (reports and tags), a chunk per query."""
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        yield from session.scalars(
            select(Entry)
            .where(Entry.id.in_(chunk))
            .order_by(Entry.id)
            .options(joinedload(Entry.reports), joinedload(Entry.tag_rows))
            .execution_options(populate_existing=True)
        ).unique()
        session.expunge_all()  # a full build must not hold every entry in the session


def _ts(column: str) -> str:
    """A naive-UTC timestamp as marshmallow's DateTime writes it (`isoformat` of the aware UTC
    value: microseconds only when there are any), as a JSON string or null."""
    return (
        f"CASE WHEN {column} IS NULL THEN 'null' ELSE '\"' || to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        f"|| CASE WHEN extract(microseconds FROM {column})::bigint % 1000000 = 0 THEN '' "
        f"ELSE to_char({column}, '.US') END || '+00:00\"' END"
    )


def _str(column: str) -> str:
    """A text column as a JSON string (PostgreSQL's escaping is `json.dumps`'s with
    ensure_ascii off), or null."""
    return f"coalesce(to_json({column})::text, 'null')"


def _int(column: str) -> str:
    return f"coalesce({column}::text, 'null')"


# `ReportSchema` with no evidence viewer, field by field in its order.
_REPORT = (
    '\'{"org":{"id":\' || o.id || \',"name":\' || to_json(o.name)::text || \',"kind":\' || to_json(o.kind)::text'
    " || '},\"via\":' || CASE WHEN r.via_holding_id IS NULL THEN 'null' ELSE '{\"subject_entry_id\":' || "
    f"{_int('r.via_subject_entry_id')} || ',\"holding_id\":' || r.via_holding_id || '}}' END"
    f" || ',\"raw_value\":' || {_str('r.raw_value')} || ',\"reason\":' || {_str('r.reason')}"
    " || ',\"has_evidence\":' || CASE WHEN coalesce(r.evidence, '') = '' THEN 'false' ELSE 'true' END"
    f" || ',\"created_at\":' || {_ts('r.created_at')} || ',\"updated_at\":' || {_ts('r.updated_at')}"
    f" || ',\"expires_at\":' || {_ts('r.expires_at')} || ',\"withdrawn_at\":' || {_ts('r.withdrawn_at')}"
    f" || ',\"close_reason\":' || {_str('r.close_reason')} || '}}'"
)

# `EntrySchema` with no evidence viewer, field by field in its order; tags from `feed_tags`
# (kept for every active entry: entries/tagcounts.py).
_DOC = (
    "'{\"id\":' || e.id || ',\"kind\":' || to_json(e.kind)::text || ',\"value\":' || to_json(e.value)::text"
    " || ',\"raw_value\":' || to_json(e.raw_value)::text"
    " || ',\"status\":' || to_json(CASE WHEN e.status = 'active' AND e.expires_at <= :now THEN 'expired' "
    "ELSE e.status END)::text"
    f" || ',\"status_reason\":' || {_str('e.status_reason')} || ',\"category\":' || {_str('e.category')}"
    f" || ',\"display_name\":' || {_str('e.display_name')} || ',\"tags\":' || coalesce(e.feed_tags, '[]')"
    f" || ',\"reporters\":' || e.reporters || ',\"tier\":' || {_str('e.tier')} || ',\"score\":' || {_int('e.score')}"
    " || ',\"dispute_path\":\"/v1/entries/' || e.id || '/disputes\"'"
    " || ',\"reports\":[' || coalesce(rep.docs, '') || ']'"
    f" || ',\"expires_at\":' || {_ts('e.expires_at')} || ',\"created_at\":' || {_ts('e.created_at')}"
    f" || ',\"updated_at\":' || {_ts('e.updated_at')} || '}}'"
)

_SQL = text(
    "SELECT e.id, e.kind, e.value, e.status, extract(epoch FROM e.expires_at)::float8, e.range_prefix, "
    "e.range_length, e.match_key, e.category, e.tier, e.score, coalesce(rep.evidence, ''), "
    f"{_DOC} FROM entries e LEFT JOIN LATERAL ("
    f"SELECT string_agg({_REPORT}, ',' ORDER BY r.id) AS docs, "
    "'[' || string_agg('[' || r.org_id || ', ' || coalesce(to_json(r.evidence)::text, 'null') || ']', ', ' "
    "ORDER BY r.id) || ']' AS evidence "
    "FROM reports r JOIN orgs o ON o.id = r.org_id WHERE r.entry_id = e.id) rep ON true "
    "WHERE e.id = ANY(CAST(:ids AS bigint[])) AND e.status = 'active' ORDER BY e.id"
)
