"""The prover (blocklist/audit/merkle.py) against RFC 9162's definitions computed naively, and
its proofs against the separate implementation of the RFC's verification algorithms
(blocklist/sync/rfc9162.py, which is also scripts/verify_bundle.py)."""

from __future__ import annotations

import hashlib
import pathlib

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from support.translog import mth

from blocklist.audit import merkle
from blocklist.sync import rfc9162

ROOT = pathlib.Path(__file__).resolve().parents[2]


def build(count: int, chunks: list[int]) -> tuple[list[bytes], dict]:
    """Leaf hashes and the stored nodes after appending `count` leaves in chunks of the given sizes."""
    leaves = [hashlib.sha256(b"\x00" + str(i).encode()).digest() for i in range(count)]
    nodes: dict = {}
    size = 0
    for chunk in chunks:
        edge = {node: nodes[node] for node in merkle.frontier(size)}
        for level, position, value in merkle.append(size, edge, leaves[size : size + chunk]):
            nodes[(level, position)] = value
        size += chunk
    assert size == count
    return leaves, nodes


def test_leaf_and_node_hashes_follow_the_rfc():
    assert merkle.leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest() == rfc9162.hash_leaf(b"abc")
    assert merkle.node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()
    assert merkle.leaf_bytes({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


@pytest.mark.parametrize("chunks", [[1] * 67, [67], [5, 1, 30, 31]])
def test_appends_store_every_perfect_subtree_and_roots_match_the_definition(chunks):
    leaves, nodes = build(67, chunks)
    assert len(nodes) == sum(67 >> level for level in range(8))  # every complete subtree, once
    for size in range(68):
        assert merkle.fold([nodes[node] for node in merkle.frontier(size)]) == mth(leaves[:size]), size


def test_every_inclusion_proof_verifies_and_no_wrong_one_does():
    leaves, nodes = build(45, [45])
    for size in range(1, 46):
        root = mth(leaves[:size])
        for index in range(size):
            proof = merkle.hashes_of(merkle.inclusion_ranges(index, size), nodes.__getitem__)
            assert len(proof) <= size.bit_length()
            assert rfc9162.verify_inclusion(index, size, leaves[index], proof, root)
            other = leaves[(index + 1) % size]
            if size > 1:
                assert not rfc9162.verify_inclusion(index, size, other, proof, root)
                assert not rfc9162.verify_inclusion((index + 1) % size, size, leaves[index], proof, root)
            assert not rfc9162.verify_inclusion(index, size, leaves[index], proof, mth(leaves[: size - 1]))
            if proof:
                assert not rfc9162.verify_inclusion(index, size, leaves[index], proof[:-1], root)


def test_every_consistency_proof_verifies_and_no_wrong_one_does():
    leaves, nodes = build(45, [45])
    for second in range(1, 46):
        root = mth(leaves[:second])
        for first in range(1, second + 1):
            proof = merkle.hashes_of(merkle.consistency_ranges(first, second), nodes.__getitem__)
            old = mth(leaves[:first])
            assert rfc9162.verify_consistency(first, second, old, root, proof), (first, second)
            if first < second:
                forged = mth([hashlib.sha256(b"x").digest(), *leaves[1:first]])
                assert not rfc9162.verify_consistency(first, second, forged, root, proof)
                assert not rfc9162.verify_consistency(first, second, old, forged, proof)
                assert not rfc9162.verify_consistency(first, second, old, root, proof[:-1])
                if first > 1:
                    assert not rfc9162.verify_consistency(first - 1, second, old, root, proof)


def test_proofs_of_a_large_tree_read_few_nodes():
    for size in (10_000_000, 2**40 + 12345):
        for index in (0, size // 3, size - 1):
            assert len(merkle.nodes_of(merkle.inclusion_ranges(index, size))) <= 2 * size.bit_length()
        assert len(merkle.nodes_of(merkle.consistency_ranges(size // 3, size))) <= 2 * size.bit_length()
        assert len(merkle.frontier(size)) == bin(size).count("1")


def test_the_court_script_is_the_witness_verifier():
    """One verifier: scripts/verify_bundle.py is blocklist/sync/rfc9162.py, byte for byte."""
    assert (ROOT / "scripts" / "verify_bundle.py").read_bytes() == (ROOT / "blocklist/sync/rfc9162.py").read_bytes()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_leaf_bytes_are_exactly_rfc8785(record):
    try:
        expected = rfc8785.dumps(record)
    except rfc8785.CanonicalizationError:
        return  # (a lone surrogate) refused either way
    assert merkle.leaf_bytes(record) == expected


def test_leaf_bytes_of_control_characters_and_astral_keys_are_rfc8785():
    record = {"\U0001f600": 1, "\ue000": 2, "a": '\x00\x1f\x7f\u2028"\\/é😀', "n": -(2**53) + 1}
    assert merkle.leaf_bytes(record) == rfc8785.dumps(record)
