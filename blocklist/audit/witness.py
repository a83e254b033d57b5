"""`flask audit verify --witness FILE`: check the trail against tree heads kept outside the
database (a sync client's, an auditor's), so a rewrite is caught even when every checkpoint and
tree-head row was deleted with it.

Two checks per witnessed head: (1) O(log n) — a consistency proof from the stored tree to the
tree now, checked with the independent verifier (blocklist/sync/rfc9162.py); (2) O(n) — the
root recomputed from the records themselves at that size. Either catches a rewrite of history;
(2) also catches records edited while the stored tree was left alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from ..sync import rfc9162
from . import signing, tree
from .models import AuditHead
from .treecheck import recompute
from .verify import AnySession


class WitnessFileError(ValueError):
    """The witness file cannot be read as tree heads."""


@dataclass
class WitnessResult:
    ok: bool
    heads: int
    tree_size: int
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_heads(text: str) -> list[dict[str, Any]]:
    """Tree heads from a JSON array, one JSON object per line, or a sync client's export
    (`{"tree_heads": [...]}`)."""
    try:
        loaded = json.loads(text)
    except ValueError:
        try:
            loaded = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as error:
            raise WitnessFileError(f"not JSON tree heads: {error}") from None
    if isinstance(loaded, dict):
        loaded = loaded.get("tree_heads", [loaded])
    if not isinstance(loaded, list) or not all(isinstance(head, dict) for head in loaded):
        raise WitnessFileError("expected tree heads (JSON objects)")
    return [{name: head.get(name) for name in rfc9162.HEAD_FIELDS} for head in loaded]


def verify_witness(session: AnySession, heads: list[dict[str, Any]], *, full: bool = True) -> WitnessResult:
    keys = {
        kid: key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        for kid, key in signing.verification_keys().items()
    }
    problems: list[str] = []
    checked: list[tuple[int, bytes]] = []
    for head in heads:
        raw = keys.get(str(head.get("key_id")))
        if raw is None:
            problems.append(f"a witnessed tree head is signed by unknown key {head.get('key_id')!r}")
            continue
        try:
            checked.append(rfc9162.check_tree_head(head, raw))
        except rfc9162.VerificationError as error:
            problems.append(f"witness file: {error}")
    size = session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0
    try:
        current_root = tree.root(size)
    except tree.TreeDamaged as error:
        problems.append(str(error))
        current_root = None
    for witnessed_size, witnessed_root in sorted(set(checked)):
        if witnessed_size > size:
            problems.append(
                f"a tree head of size {witnessed_size} was signed, but the trail now has {size} records: "
                "records were removed"
            )
            continue
        if current_root is None or witnessed_size == 0:
            continue
        try:
            proof = tree.consistency_proof(witnessed_size, size)
        except tree.TreeDamaged as error:
            problems.append(str(error))
            continue
        if not rfc9162.verify_consistency(witnessed_size, size, witnessed_root, current_root, proof):
            problems.append(
                f"the stored tree (size {size}) is not consistent with the witnessed tree head of size "
                f"{witnessed_size}: history was rewritten"
            )
    if full:
        sizes = {witnessed_size for witnessed_size, _ in checked if 0 < witnessed_size <= size}
        recomputed = recompute(session.connection(), sizes)
        if recomputed.gap is not None:
            problems.append(f"record {recomputed.gap} is missing from the trail")
        for witnessed_size, witnessed_root in sorted(set(checked)):
            got = recomputed.roots.get(witnessed_size)
            if witnessed_size in sizes and got is not None and got != witnessed_root:
                problems.append(
                    f"the records give a different root at size {witnessed_size} than the witnessed tree head: "
                    "records were altered"
                )
        if recomputed.gap is None and recomputed.size != size:
            problems.append(f"the trail holds {recomputed.size} records but audit_head says {size}")
        if current_root is not None and recomputed.size == size and recomputed.root != current_root:
            problems.append("the records do not match the stored Merkle tree: records were altered")
    return WitnessResult(not problems, len(heads), size, problems)
