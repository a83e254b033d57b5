"""Plain lists: the canonical values of one kind's active entries, one a line."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection

from . import reads


def values(conn: Connection, kind: str) -> Iterator[str]:
    """One canonical value a line (a value with a line break, which canonical forms never
    have, would be left out rather than split)."""
    for row in reads.active_entries(conn, [kind]):
        if "\n" not in row.value and "\r" not in row.value:
            yield row.value + "\n"
