"""The snapshot's JSON lines kept ready on PostgreSQL (`feed_lines`), so `GET /v1/feed/snapshot`
in JSONL is a `COPY` of stored text instead of building every line at read time (which cost
PostgreSQL about twice the `COPY` of the entries themselves).

A line is built here, in SQL, from the entry row (with its `feed_tags`, see
entries/tagcounts.py) by the same expression the snapshot used to run at read time. Every
change to an active entry's content writes a feed change, so `changes.append` calls `refresh`
for every entry it writes a change for; re-assessment that moves only the score (the tier job,
sightings) calls it too. Each refresh deletes the entries' lines and inserts them again for
those now active, under the entry-writer lock, in the writer's transaction. On SQLite nothing
is kept (the snapshot formats rows in Python there).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import text

from ..db import db, id_array

CHUNK = 10000
# Times through to_json (ISO 8601 with `T` whatever the session's DateStyle) plus the UTC
# offset: the text the read-time query wrote. Tags, kinds, categories and tiers are validated
# to characters JSON never escapes.
LINE = """concat('{"id":', e.id, ',"kind":"', e.kind, '","value":', to_json(e.value),
    ',"status":"active","category":', coalesce('"' || e.category || '"', 'null'),
    ',"tags":', coalesce(e.feed_tags, '[]'), ',"reporters":', e.reporters,
    ',"expires_at":', coalesce(left(to_json(e.expires_at)::text, -1) || '+00:00"', 'null'),
    ',"updated_at":', left(to_json(e.updated_at)::text, -1), '+00:00","tier":',
    coalesce('"' || e.tier || '"', 'null'), ',"score":', coalesce(e.score::text, 'null'), '}')"""
# A line stays untouched while it is what the row says (a corroboration that changes nothing the
# line shows, a re-assessment within the same score): only lines that are wrong are deleted,
# and only the missing ones (new, or just deleted) inserted.
_DELETE = text(
    "DELETE FROM feed_lines l WHERE l.entry_id = ANY(CAST(:ids AS bigint[])) AND NOT EXISTS ("
    f"SELECT 1 FROM entries e WHERE e.id = l.entry_id AND e.status = 'active' AND e.kind = l.kind "
    f"AND e.tier IS NOT DISTINCT FROM l.tier AND {LINE} = l.line)"
)
_INSERT = text(
    f"INSERT INTO feed_lines (entry_id, kind, tier, line) SELECT e.id, e.kind, e.tier, {LINE} "
    "FROM entries e WHERE e.id = ANY(CAST(:ids AS bigint[])) AND e.status = 'active' "
    "AND NOT EXISTS (SELECT 1 FROM feed_lines l WHERE l.entry_id = e.id)"
)
# Entries the writer has just inserted have no line yet: nothing to compare or delete.
_INSERT_NEW = text(
    f"INSERT INTO feed_lines (entry_id, kind, tier, line) SELECT e.id, e.kind, e.tier, {LINE} "
    "FROM entries e WHERE e.id = ANY(CAST(:ids AS bigint[])) AND e.status = 'active'"
)


def kept() -> bool:
    """Whether lines are kept on this database (PostgreSQL)."""
    return db.session.get_bind().dialect.name == "postgresql"


def refresh(entry_ids: Iterable[int], created: Collection[int] = ()) -> None:
    """Bring the lines of these entries up to date with their rows as they now are (none for an
    entry not active), writing only the lines that change. `created`: those of them the
    writer inserted in this transaction (they have no line yet). The caller holds the
    entry-writer lock and has flushed its changes."""
    if not kept():
        return
    ids = sorted(set(entry_ids))
    new = sorted(set(created).intersection(ids))
    if new:
        ids = sorted(set(ids).difference(new))
        for start in range(0, len(new), CHUNK):
            db.session.execute(_INSERT_NEW, {"ids": id_array(new[start : start + CHUNK])})
    for start in range(0, len(ids), CHUNK):
        chunk = id_array(ids[start : start + CHUNK])
        db.session.execute(_DELETE, {"ids": chunk})
        db.session.execute(_INSERT, {"ids": chunk})


def drift() -> int:
    """How many entries' stored line is missing, extra or not what their row says now
    (PostgreSQL; 0 elsewhere). Reads every active entry."""
    if not kept():
        return 0
    return db.session.scalar(
        text(
            f"SELECT count(*) FROM (SELECT e.id, {LINE} AS line FROM entries e WHERE e.status = 'active') want "
            "FULL JOIN feed_lines l ON l.entry_id = want.id "
            "WHERE want.id IS NULL OR l.entry_id IS NULL OR l.line <> want.line"
        )
    )


def rebuild() -> None:
    """Every line again from the entries (the caller holds the entry-writer lock)."""
    if not kept():
        return
    db.session.execute(text("DELETE FROM feed_lines"))
    db.session.execute(
        text(
            f"INSERT INTO feed_lines (entry_id, kind, tier, line) SELECT e.id, e.kind, e.tier, {LINE} "
            "FROM entries e WHERE e.status = 'active'"
        )
    )
