"""The prover's side of the RFC 9162 (Certificate Transparency 2.0) Merkle tree, §2.1.

Pure arithmetic, no database: which stored nodes a hash, an inclusion proof or a consistency
proof needs, and how to combine them. The tree's *perfect* subtrees — `(level, index)` covers
leaves ``index * 2**level`` up to ``(index + 1) * 2**level`` — are what `audit_tree_nodes`
stores; every other subtree of the RFC tree lies on the right edge and its hash is the right
fold of at most log2(n) perfect ones (`range_nodes`).

The proofs follow the RFC's recursive definitions (PATH, SUBPROOF) over leaf ranges; they are
checked in the tests by `blocklist/sync/rfc9162.py`, a separate implementation of the RFC's
verification algorithms (§2.1.3.2, §2.1.4.2).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import rfc8785

Node = tuple[int, int]  # (level, index) of a perfect subtree
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_bytes(record: Mapping[str, Any]) -> bytes:
    """The leaf: the record's RFC 8785 canonical JSON (UTF-8).

    For JSON without floats, with ASCII keys and integers within ±(2**53 − 1) — every record
    the recorder writes today — RFC 8785's output is exactly Python's sorted, compact,
    non-ASCII-escaping `json.dumps` (same string escapes, same integer form, and the UTF-16 key
    order equals code-point order for ASCII); that is four times faster than the `rfc8785` package,
    which handles everything else (tests/audit/test_merkle.py checks the two agree)."""
    if plain(record):
        try:
            return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: let rfc8785 say what it makes of it
            pass
    return rfc8785.dumps(dict(record))


def plain(value: Any) -> bool:
    """JSON that Python's sorted compact `json.dumps` writes as RFC 8785 does (see `leaf_bytes`)."""
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return -(2**53) < value < 2**53
    if isinstance(value, Mapping):
        return all(isinstance(key, str) and key.isascii() and plain(item) for key, item in value.items())
    if isinstance(value, list):
        return all(plain(item) for item in value)
    return False


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The RFC's k: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees whose right fold is MTH(D[start:end]), for a range that is a subtree
    of some RFC tree (start is a multiple of the largest power of two below end - start)."""
    nodes = []
    while end - start > 0:
        size = end - start
        width = size if size & (size - 1) == 0 else split(size)
        level = width.bit_length() - 1
        nodes.append((level, start >> level))
        start += width
    return nodes


def fold(hashes: list[bytes]) -> bytes:
    """MTH of a range from its `range_nodes` hashes (left to right)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(index, D[size]) as the leaf ranges whose MTHs form the path, leaf to root."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return list(reversed(ranges))


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """PROOF(first, D[second]) = SUBPROOF(first, D[second], true) as leaf ranges, in order."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        ranges.append((start, end))
    return list(reversed(ranges))


def nodes_of(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    return {node for start, end in ranges for node in range_nodes(start, end)}


def hashes_of(ranges: list[tuple[int, int]], lookup: Callable[[Node], bytes]) -> list[bytes]:
    """The MTH of each range, from stored perfect-subtree hashes."""
    return [fold([lookup(node) for node in range_nodes(start, end)]) for start, end in ranges]


def frontier(size: int) -> list[Node]:
    """The perfect subtrees a tree of `size` leaves ends in (left to right): the nodes an
    append combines with, and those whose fold is the root."""
    return range_nodes(0, size)


def append(size: int, edge: Mapping[Node, bytes], leaves: list[bytes]) -> list[tuple[int, int, bytes]]:
    """The nodes (level, index, hash) created by appending `leaves` (leaf hashes) to a tree of
    `size` leaves whose `frontier` hashes are in `edge`: each leaf, and every perfect subtree it
    completes. Amortised two nodes per leaf; O(log n) for one."""
    stack = {level: (index, edge[(level, index)]) for level, index in frontier(size)}
    created = []
    for offset, value in enumerate(leaves):
        level, index, current = 0, size + offset, value
        created.append((0, index, current))
        while index & 1:
            left_index, left = stack.pop(level)
            assert left_index == index - 1
            current = node_hash(left, current)
            level, index = level + 1, index >> 1
            created.append((level, index, current))
        stack[level] = (index, current)
    return created
