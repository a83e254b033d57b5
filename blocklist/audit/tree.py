"""The Merkle tree over the audit records, stored as its perfect subtrees (`audit_tree_nodes`).

Appending n records reads the O(log n) nodes on the tree's right edge in one query and inserts
about 2n nodes; a root, an inclusion proof or a consistency proof reads O(log n) nodes in one
query. Nothing is ever rebuilt. The arithmetic is in `merkle.py`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select, tuple_

from ..db import bulk_insert, db, table_of
from ..exceptions import Unavailable
from . import merkle
from .models import AuditTreeNode

NODES = table_of(AuditTreeNode)
SMALL_APPEND = 64  # nodes; more go through bulk_insert (COPY on PostgreSQL)


def read_nodes(nodes: Iterable[merkle.Node], connection: Connection | None = None) -> dict[merkle.Node, bytes]:
    """The stored hashes of `nodes`, in one query; raises TreeDamaged for any that is missing."""
    wanted = sorted(set(nodes))
    if not wanted:
        return {}
    connection = connection or db.session.connection()
    rows = connection.execute(
        select(NODES.c.level, NODES.c.position, NODES.c.hash).where(tuple_(NODES.c.level, NODES.c.position).in_(wanted))
    ).all()
    found = {(level, position): bytes(value) for level, position, value in rows}
    missing = [node for node in wanted if node not in found]
    if missing:
        raise TreeDamaged(
            f"The audit log's Merkle tree lacks node(s) {missing[:3]} (audit_tree_nodes was altered); "
            "the operator must restore it (`flask --app wsgi audit verify`)."
        )
    return found


class TreeDamaged(Unavailable):
    """The stored tree is not complete for the size asked about: nothing can be appended or
    proven until the operator restores it (503, never a silent fork of the log)."""


def append_leaves(size: int, leaves: list[bytes], connection: Connection | None = None) -> None:
    """Add `leaves` (leaf bytes) to the tree of `size` records. Callers hold the head lock."""
    edge = read_nodes(merkle.frontier(size), connection)
    created = merkle.append(size, edge, [merkle.leaf_hash(leaf) for leaf in leaves])
    rows = [{"level": level, "position": position, "hash": value} for level, position, value in created]
    if connection is None and len(rows) > SMALL_APPEND:
        bulk_insert(NODES, rows)  # COPY on PostgreSQL
    else:  # one statement for the few nodes of a single change (COPY costs more to set up)
        (connection or db.session.connection()).execute(NODES.insert(), rows)


def root(size: int, connection: Connection | None = None) -> bytes:
    """The root hash of the tree of the first `size` records (SHA-256 of nothing for 0)."""
    nodes = merkle.frontier(size)
    found = read_nodes(nodes, connection)
    return merkle.fold([found[node] for node in nodes])


def inclusion_proof(index: int, size: int) -> list[bytes]:
    ranges = merkle.inclusion_ranges(index, size)
    return merkle.hashes_of(ranges, read_nodes(merkle.nodes_of(ranges)).__getitem__)


def consistency_proof(first: int, second: int) -> list[bytes]:
    ranges = merkle.consistency_ranges(first, second)
    return merkle.hashes_of(ranges, read_nodes(merkle.nodes_of(ranges)).__getitem__)
