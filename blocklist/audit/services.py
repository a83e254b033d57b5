"""Writing the audit trail. Services call `record` inside the transaction of the change itself."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select, update

from ..context import Actor, current_remote_addr, current_request_id
from ..db import bulk_insert, db, table_of, utcnow
from . import merkle, tree
from .actions import Action
from .models import AuditHead, AuditRecord

HASHED_FIELDS = (
    "seq",
    "created_at",
    "action",
    "actor_org_id",
    "actor_org_name",
    "actor_client_id",
    "request_id",
    "remote_addr",
    "target_type",
    "target_id",
    "before",
    "after",
    "reason",
    "prev_hash",
)
# A record's Merkle leaf: its RFC 8785 canonical JSON with these fields (README, Audit trail).
LEAF_FIELDS = HASHED_FIELDS + ("hash",)


def to_json_value(value: Any) -> Any:
    """Make `value` plain JSON (datetimes become ISO strings) so stored == hashed."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_json_default, ensure_ascii=False))


def _plain_json_value(value: Any) -> tuple[Any, bool]:
    """`to_json_value(value)`, and whether it is plain JSON in `merkle.plain`'s sense (no float,
    integers within ±(2**53 − 1), ASCII keys), found while decoding instead of by walking it."""
    if value is None:
        return None, True
    plain = [True]

    def not_plain(text: str) -> float:
        plain[0] = False
        return float(text)

    def integer(text: str) -> int:
        number = int(text)
        if len(text) > 15 and not -(2**53) < number < 2**53:
            plain[0] = False
        return number

    def obj(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if plain[0] and not all(key.isascii() for key, _ in pairs):
            plain[0] = False
        return dict(pairs)

    decoded = json.loads(
        json.dumps(value, default=_json_default, ensure_ascii=False),
        parse_float=not_plain,
        parse_int=integer,
        parse_constant=not_plain,
        object_pairs_hook=obj,
    )
    return decoded, plain[0]


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value)
    return str(value)


def record_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of a record's fields (sorted keys, no spaces, UTF-8)."""
    return canonical_hash({name: fields.get(name) for name in HASHED_FIELDS})


def canonical_hash(canonical: dict[str, Any]) -> str:
    """`record_hash` of a fresh dict holding exactly HASHED_FIELDS (verify's fast path)."""
    created_at = canonical["created_at"]
    if hasattr(created_at, "isoformat"):
        canonical["created_at"] = created_at.isoformat()
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def leaf_record(fields: dict[str, Any]) -> dict[str, Any]:
    """The record as its leaf holds it: LEAF_FIELDS, `created_at` as ISO 8601 text."""
    leaf = {name: fields.get(name) for name in LEAF_FIELDS}
    created_at: Any = leaf["created_at"]
    if hasattr(created_at, "isoformat"):
        leaf["created_at"] = created_at.isoformat()
    return leaf


def record_leaf(fields: dict[str, Any]) -> bytes:
    """The leaf bytes of a record (RFC 8785 canonical JSON of `leaf_record`)."""
    return merkle.leaf_bytes(leaf_record(fields))


# The leaf's keys in RFC 8785 (sorted) order fall into those before "hash" and those after it:
# the hashed payload is the two halves joined, the leaf the same with "hash" between them.
_HEAD_FIELDS = tuple(name for name in sorted(LEAF_FIELDS) if name < "hash")
_TAIL_FIELDS = tuple(name for name in sorted(LEAF_FIELDS) if name > "hash")
assert set(_HEAD_FIELDS + _TAIL_FIELDS) == set(HASHED_FIELDS)


def _hash_and_leaf(fields: dict[str, Any], nested_plain: bool | None = None) -> tuple[str, bytes]:
    """(`record_hash(fields)`, `record_leaf` of the record with that hash) from one encoding of
    each half of the record instead of one for the hash and another for the leaf. Byte for byte
    the same: both are sorted, compact JSON, and the leaf differs only by the "hash" member
    between the halves; a record that is not plain JSON (see `merkle.leaf_bytes`) takes the
    general path for its leaf. `nested_plain`: whether `before` and `after` are known to be plain
    (from `_plain_json_value`), else they are checked here."""
    head = {name: fields[name] for name in _HEAD_FIELDS}
    if hasattr(head["created_at"], "isoformat"):
        head["created_at"] = head["created_at"].isoformat()
    first = json.dumps(head, sort_keys=True, separators=(",", ":"), ensure_ascii=False)[:-1]
    rest = json.dumps(
        {name: fields[name] for name in _TAIL_FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )[1:]
    digest = hashlib.sha256(f"{first},{rest}".encode()).hexdigest()
    if nested_plain is None:
        plain = merkle.plain(head)
    else:
        plain = nested_plain and all(merkle.plain(v) for k, v in head.items() if k not in ("before", "after"))
    if plain and merkle.plain(fields["seq"]):
        return digest, f'{first},"hash":"{digest}",{rest}'.encode()
    return digest, record_leaf({**fields, "hash": digest})


def _lock_head(count: int) -> tuple[int, str]:
    """Reserve `count` sequence numbers; returns (last seq before them, head hash).

    The UPDATE takes the head row's lock (PostgreSQL) or the write lock (SQLite) before the head
    is read, so concurrent appenders queue up and the chain never forks.
    """
    session = db.session
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + count))
    seq, head_hash = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    return seq - count, head_hash


def record_many(changes: list[dict[str, Any]], actor: Actor) -> list[dict[str, Any]]:
    """Append one record per change dict (keys: action, target_type, target_id, before, after,
    reason) in order, chained, attributed to `actor` and the current request (if any)."""
    if not changes:
        return []
    actions = [Action(change["action"]).value for change in changes]  # unknown: a programming error
    request_id = current_request_id()
    remote_addr = current_remote_addr()
    now = utcnow()
    last_seq, prev_hash = _lock_head(len(changes))
    rows, leaves = [], []
    for offset, change in enumerate(changes, start=1):
        fields = {
            "seq": last_seq + offset,
            "created_at": now,
            "action": actions[offset - 1],
            "actor_org_id": actor.org_id,
            "actor_org_name": actor.org_name,
            "actor_client_id": actor.client_id,
            "request_id": request_id,
            "remote_addr": remote_addr,
            "target_type": change["target_type"],
            "target_id": None if change.get("target_id") is None else str(change["target_id"]),
            "before": None,
            "after": None,
            "reason": change.get("reason"),
            "prev_hash": prev_hash,
        }
        fields["before"], before_plain = _plain_json_value(change.get("before"))
        fields["after"], after_plain = _plain_json_value(change.get("after"))
        fields["hash"], leaf = _hash_and_leaf(fields, before_plain and after_plain)
        prev_hash = fields["hash"]
        rows.append(fields)
        leaves.append(leaf)
    bulk_insert(table_of(AuditRecord), rows)
    # The Merkle tree grows with the records, under the same lock and in the same transaction.
    tree.append_leaves(last_seq, leaves)
    db.session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev_hash))
    return rows


def record(
    action: Action,
    target_type: str,
    target_id: Any,
    *,
    actor: Actor,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Append one audit record, by `actor`, for a change made in the current transaction."""
    return record_many(
        [
            {
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "before": before,
                "after": after,
                "reason": reason,
            }
        ],
        actor,
    )[0]
