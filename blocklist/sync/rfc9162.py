#!/usr/bin/env python3
"""Verify the blocklist audit log offline: RFC 9162 (Certificate Transparency 2.0) inclusion and
consistency proofs, Ed25519-signed tree heads, and court bundles.

    python3 verify_bundle.py BUNDLE.json [--public-key HEX]

Needs only the Python standard library and `cryptography`. This one file is both
`scripts/verify_bundle.py` (hand it to anyone who must check a bundle) and
`blocklist/sync/rfc9162.py` (the sync client's witness); a test keeps the two identical. It is
written from the RFC's verification algorithms (§2.1.3.2, §2.1.4.2), apart from the server's
prover (`blocklist/audit/merkle.py`).

Formats (README, "Audit trail"):
- leaf: the audit record's RFC 8785 canonical JSON; leaf hash SHA-256(0x00 || leaf), node hash
  SHA-256(0x01 || left || right).
- tree head: {tree_size, timestamp (ms since the epoch), root_hash, key_id, signature}; the
  Ed25519 signature covers RFC 9162's TreeHeadDataV2: timestamp (uint64), tree_size (uint64),
  root_hash (1-byte length, then the hash), sth_extensions (2-byte length, 0). Hashes, keys and
  signatures are lowercase hex; key_id is the first 16 hex digits of SHA-256(raw public key).
- bundle: {format, entry_id, public_key, tree_head, records: [{leaf_index, leaf,
  inclusion_proof}]}, serialised exactly as `bundle_bytes` does; any other byte fails.

Exit codes: 0 verified, 1 not verified (the reason is printed), 2 usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import struct
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BUNDLE_FORMAT = "blocklist-audit-bundle/1"
HEX32 = re.compile(r"[0-9a-f]{64}")
HEX64 = re.compile(r"[0-9a-f]{128}")
KEY_ID = re.compile(r"[0-9a-f]{16}")
HEAD_FIELDS = ("key_id", "root_hash", "signature", "timestamp", "tree_size")


class VerificationError(Exception):
    """What does not hold, in words."""


def hash_leaf(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf_index: int, tree_size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `path` prove the leaf hash `leaf` at `leaf_index` in the tree of
    `tree_size` leaves whose root is `root`?"""
    if not 0 <= leaf_index < tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does `path` prove the tree of `first` leaves (root `first_root`) is a
    prefix of the tree of `second` leaves (root `second_root`)?"""
    if not 0 < first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = hash_children(c, fr), hash_children(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


def tree_head_message(tree_size: int, timestamp: int, root_hash: bytes) -> bytes:
    """The signed bytes: RFC 9162 TreeHeadDataV2 with no extensions."""
    return struct.pack(">QQB", timestamp, tree_size, len(root_hash)) + root_hash + b"\x00\x00"


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def _hex(value: Any, pattern: re.Pattern[str], what: str) -> bytes:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise VerificationError(f"{what} is not lowercase hex of the right length")
    return bytes.fromhex(value)


def _uint(value: Any, what: str, *, positive: bool = False) -> int:
    if type(value) is not int or value < (1 if positive else 0) or value >= 2**64:
        raise VerificationError(f"{what} is not a {'positive' if positive else 'non-negative'} 64-bit integer")
    return value


def check_tree_head(head: Any, public_key: bytes) -> tuple[int, bytes]:
    """Check a tree head's shape and Ed25519 signature; returns (tree_size, root_hash)."""
    if not isinstance(head, dict) or sorted(head) != list(HEAD_FIELDS):
        raise VerificationError(f"a tree head has exactly the fields {', '.join(HEAD_FIELDS)}")
    size = _uint(head["tree_size"], "tree_size")
    timestamp = _uint(head["timestamp"], "timestamp")
    root = _hex(head["root_hash"], HEX32, "root_hash")
    signature = _hex(head["signature"], HEX64, "signature")
    if head["key_id"] != key_id(public_key):
        raise VerificationError(f"the tree head names key {head['key_id']!r}, not the key given ({key_id(public_key)})")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, tree_head_message(size, timestamp, root))
    except (InvalidSignature, ValueError):
        raise VerificationError(f"the signature of the tree head of size {size} does not verify") from None
    return size, root


def check_consistent(old: dict[str, Any], new: dict[str, Any], proof: list[str], public_key: bytes) -> None:
    """Both heads are signed and `proof` shows `old`'s tree is a prefix of `new`'s; raises
    VerificationError saying which fails."""
    old_size, old_root = check_tree_head(old, public_key)
    new_size, new_root = check_tree_head(new, public_key)
    if new_size < old_size:
        raise VerificationError(f"the log shrank: a signed tree head of size {new_size} after one of size {old_size}")
    if old_size == 0:
        return
    path = [_hex(item, HEX32, "a consistency proof hash") for item in proof]
    if not verify_consistency(old_size, new_size, old_root, new_root, path):
        raise VerificationError(
            f"the tree head of size {new_size} (root {new_root.hex()[:16]}…) is not consistent with the "
            f"tree head of size {old_size} (root {old_root.hex()[:16]}…) signed earlier: history was rewritten"
        )


def bundle_bytes(bundle: dict[str, Any]) -> bytes:
    """The one serialisation of a bundle that verifies."""
    return (json.dumps(bundle, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def verify_bundle(data: bytes, public_key: bytes | None = None) -> dict[str, Any]:
    """Verify a court bundle's every byte; returns what it proves, raises VerificationError.

    `public_key` (raw 32 bytes) pins the key; otherwise the bundle's own key is used and the
    caller must compare its key_id with the operator's published one."""
    try:
        bundle = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise VerificationError(f"not a JSON bundle: {error}") from None
    if not isinstance(bundle, dict) or sorted(bundle) != ["entry_id", "format", "public_key", "records", "tree_head"]:
        raise VerificationError("a bundle has exactly: format, entry_id, public_key, tree_head, records")
    if bundle_bytes(bundle) != data:
        raise VerificationError("the bundle is not in its canonical serialisation (bytes were changed)")
    if bundle["format"] != BUNDLE_FORMAT:
        raise VerificationError(f"unknown bundle format {bundle['format']!r}")
    key = _hex(bundle["public_key"], HEX32, "public_key")
    if public_key is not None and key != public_key:
        raise VerificationError("the bundle's public key is not the one given")
    size, root = check_tree_head(bundle["tree_head"], key)
    entry_id = bundle["entry_id"]
    records = bundle["records"]
    if not isinstance(entry_id, str) or not isinstance(records, list) or not records:
        raise VerificationError("entry_id is a string and records a non-empty list")
    proven, last_index = [], -1
    for position, item in enumerate(records):
        if not isinstance(item, dict) or sorted(item) != ["inclusion_proof", "leaf", "leaf_index"]:
            raise VerificationError(f"record {position} has exactly: leaf_index, leaf, inclusion_proof")
        index = _uint(item["leaf_index"], "leaf_index")
        if index <= last_index:
            raise VerificationError("records are in increasing leaf_index order, each once")
        last_index = index
        if not isinstance(item["leaf"], str) or not isinstance(item["inclusion_proof"], list):
            raise VerificationError(f"record {position}: leaf is a string and inclusion_proof a list")
        leaf = item["leaf"].encode("utf-8")
        path = [_hex(p, HEX32, "an inclusion proof hash") for p in item["inclusion_proof"]]
        if not verify_inclusion(index, size, hash_leaf(leaf), path, root):
            raise VerificationError(f"record at leaf {index} is not in the signed tree of size {size}")
        try:
            record = json.loads(item["leaf"])
        except ValueError:
            raise VerificationError(f"record at leaf {index} is not JSON") from None
        if not isinstance(record, dict) or record.get("seq") != index + 1:
            raise VerificationError(f"record at leaf {index} does not carry seq {index + 1}")
        if record.get("target_type") != "entry" or record.get("target_id") != entry_id:
            raise VerificationError(f"record seq {index + 1} is not about entry {entry_id}")
        proven.append(record)
    timestamp = dt.datetime.fromtimestamp(bundle["tree_head"]["timestamp"] / 1000, dt.UTC)
    return {
        "entry_id": entry_id,
        "key_id": key_id(key),
        "tree_size": size,
        "root_hash": root.hex(),
        "signed_at": timestamp.isoformat(),
        "records": proven,
    }


def describe(result: dict[str, Any]) -> str:
    lines = [
        f"VERIFIED: the audit log signed by key {result['key_id']} at {result['signed_at']} "
        f"(tree size {result['tree_size']}, root {result['root_hash']})",
        f"contains these {len(result['records'])} records about entry {result['entry_id']}, exactly as shown:",
    ]
    for record in result["records"]:
        who = record.get("actor_org_name") or "the operator"
        lines.append(f"  seq {record['seq']}  {record.get('created_at')}  {record.get('action')}  by {who}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a blocklist audit court bundle offline (RFC 9162).")
    parser.add_argument("bundle", help="the bundle file (GET /v1/audit/bundle or `flask audit bundle`)")
    parser.add_argument("--public-key", help="the operator's published Ed25519 public key (64 hex digits)")
    args = parser.parse_args(argv)
    try:
        with open(args.bundle, "rb") as handle:
            data = handle.read()
    except OSError as error:
        print(f"cannot read {args.bundle}: {error}", file=sys.stderr)
        return 2
    try:
        pinned = _hex(args.public_key, HEX32, "--public-key") if args.public_key else None
        result = verify_bundle(data, pinned)
    except VerificationError as error:
        print(f"NOT VERIFIED: {error}", file=sys.stderr)
        return 1
    print(describe(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
