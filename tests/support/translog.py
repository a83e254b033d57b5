"""Helpers for the transparency-log tests: sign tree heads with the CLI, witness the log over the
app's HTTP interface (the sync client's Witness with a test-client transport), and the SQL an
attacker with database access runs."""

from __future__ import annotations

import hashlib
import json

from blocklist.audit import treecheck
from blocklist.db import db
from blocklist.sync.api import FeedError, NotFoundError
from blocklist.sync.witness import Witness
from support.audit import sql


def sth(runner) -> dict | None:
    """`flask audit sth` once; the head it signed (None when the tree did not grow)."""
    result = runner.invoke(args=["audit", "sth"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


class AppFeed:
    """The witness's three calls of blocklist.sync.api.FeedClient, over the Flask test client."""

    def __init__(self, client, headers):
        self.client, self.headers = client, headers

    def _get(self, path, **params):
        response = self.client.get(path, query_string=params, headers=self.headers)
        if response.status_code == 404:
            raise NotFoundError(f"{path}: 404 {response.json.get('detail')}")
        if response.status_code != 200:
            raise FeedError(f"{path}: {response.status_code} {response.json.get('detail')}")
        return response.json

    def latest_tree_head(self):
        try:
            return self._get("/v1/audit/tree-heads/latest")
        except NotFoundError:
            return None

    def consistency(self, first, second):
        return self._get("/v1/audit/consistency", first=first, second=second)["proof"]

    def audit_public_key(self):
        return self.client.get("/v1/audit/public-key").json["public_key"]


def witness_file(tmp_path, witness: Witness):
    path = tmp_path / "witness.json"
    path.write_text(json.dumps(witness.export()))
    return path


def verify_with_witness(runner, path) -> tuple[int, dict]:
    result = runner.invoke(args=["audit", "verify", "--witness", str(path)])
    return result.exit_code, json.loads(result.output)


def forget_signed_state(app) -> None:
    """What a careful attacker deletes: every checkpoint and every tree head."""
    sql(app, "DELETE FROM audit_checkpoints")
    sql(app, "DELETE FROM audit_tree_heads")


def rebuild_tree(app) -> None:
    """The attacker recomputes the whole Merkle tree from the (rewritten) records."""
    sql(app, "DELETE FROM audit_tree_nodes")
    with app.app_context():
        treecheck.backfill(db.session.connection())
        db.session.commit()


def rehash_chain_from(app, seq: int) -> None:
    """Recompute the hash chain from record `seq` on and point audit_head at its end."""
    from blocklist.audit.services import record_hash

    rows = sql(app, "SELECT seq FROM audit_records WHERE seq >= :seq ORDER BY seq", seq=seq)
    with app.app_context():
        from blocklist.audit.models import AuditRecord

        prev = db.session.get(AuditRecord, seq - 1).hash if seq > 1 else "0" * 64
        for (number,) in rows:
            record = db.session.get(AuditRecord, number)
            record.prev_hash = prev
            fields = {c: getattr(record, c) for c in record.__table__.columns.keys()}
            record.hash = prev = record_hash(fields)
        db.session.commit()
    sql(app, "UPDATE audit_head SET hash = :hash", hash=prev)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH straight from the definition (`leaves`: leaf hashes)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()
