"""Plain lists: the canonical values of one kind's active entries, one a line (canonical values
never hold a line break)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection

from . import reads

_PG_VALUES = "SELECT value FROM entries WHERE status = 'active' AND kind = %(kind)s ORDER BY id"


def values(conn: Connection, kind: str) -> Iterator[str | bytes]:
    if reads.is_postgres(conn):
        return reads.copy_lines(conn, _PG_VALUES, {"kind": kind})
    return (row.value + "\n" for row in reads.active_entries(conn, [kind]))
