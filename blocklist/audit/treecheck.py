"""The Merkle tree recomputed from the records themselves: the migration's backfill and the
full check behind `flask audit verify --witness` (O(n): every record is read once)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from ..db import table_of
from . import merkle, tree
from .models import AuditRecord
from .services import LEAF_FIELDS, record_leaf

_RECORDS = table_of(AuditRecord)


def leaves_from_records(connection: Connection, *, batch: int = 5000) -> Iterator[tuple[int, bytes]]:
    """(seq, leaf bytes) of every record in seq order, read in keyset batches."""
    last = 0
    columns = [_RECORDS.c[name] for name in LEAF_FIELDS]
    while True:
        rows = connection.execute(
            select(*columns).where(_RECORDS.c.seq > last).order_by(_RECORDS.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield row[0], record_leaf(dict(zip(LEAF_FIELDS, row, strict=True)))
        last = rows[-1][0]


def backfill(connection: Connection, batch: int = 5000) -> int:
    """Build the tree over the existing records (migration 0008); returns its size."""
    size, pending = 0, []
    for _seq, leaf in leaves_from_records(connection, batch=batch):
        pending.append(leaf)
        if len(pending) == batch:
            tree.append_leaves(size, pending, connection)
            size, pending = size + len(pending), []
    if pending:
        tree.append_leaves(size, pending, connection)
        size += len(pending)
    return size


@dataclass
class Recomputed:
    """The tree as the records give it: `size` leaves, its root, and the root at each size asked
    for (None for a size beyond the records); `gap`: the first seq missing or out of place."""

    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    roots: dict[int, bytes | None] = field(default_factory=dict)
    gap: int | None = None


def recompute(connection: Connection, sizes: set[int], *, batch: int = 5000) -> Recomputed:
    """Fold every record's leaf hash into the tree's right edge (O(log n) memory), noting the
    root at each of `sizes`."""
    result = Recomputed(roots=dict.fromkeys(sizes))
    edge: list[tuple[int, bytes]] = []  # (width, hash) of the perfect subtrees, left to right
    for seq, leaf in leaves_from_records(connection, batch=batch):
        if seq != result.size + 1:
            result.gap = result.size + 1
            break
        width, current = 1, merkle.leaf_hash(leaf)
        while edge and edge[-1][0] == width:
            current = merkle.node_hash(edge.pop()[1], current)
            width *= 2
        edge.append((width, current))
        result.size += 1
        if result.size in result.roots:
            result.roots[result.size] = merkle.fold([value for _, value in edge])
    result.root = merkle.fold([value for _, value in edge])
    return result
