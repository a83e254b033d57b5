"""The sync client as a witness of the audit transparency log (README, "Audit trail").

Every sync it fetches the latest signed tree head, checks its signature with the pinned key, and
checks it extends the last head it accepted: same size, same root; larger, an RFC 9162
consistency proof from the server verified here (O(log n) hashes); smaller, never. Accepted
heads are kept in the mirror file. On a failure it keeps both signed heads and the proof as
evidence (table `witness_evidence`), and every later sync fails the same way until an operator
has looked (`blocklist-sync --db FILE witness-export` prints the heads and the evidence).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import rfc9162
from .api import FeedClient, FeedError, Unavailable

log = logging.getLogger("blocklist.sync")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tree_heads (
    tree_size INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL, root_hash TEXT NOT NULL,
    key_id TEXT NOT NULL, signature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS witness_evidence (
    id INTEGER PRIMARY KEY, problem TEXT NOT NULL, accepted_head TEXT, offered_head TEXT, proof TEXT
);
CREATE TABLE IF NOT EXISTS witness_state (key TEXT PRIMARY KEY, value TEXT);
"""


FIELDS = ("tree_size", "timestamp", "root_hash", "key_id", "signature")


class WitnessAlarm(Exception):
    """The audit log is not append-only as witnessed: history was rewritten or removed."""


def raw_key_from_pem(pem: str) -> str:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise FeedError("the server's audit public key is not an Ed25519 key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


class Witness:
    def __init__(self, path: str):
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def heads(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT tree_size, timestamp, root_hash, key_id, signature FROM tree_heads ORDER BY tree_size"
        ).fetchall()
        return [dict(zip(FIELDS, row, strict=True)) for row in rows]

    def evidence(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT problem, accepted_head, offered_head, proof FROM witness_evidence ORDER BY id"
        ).fetchall()
        return [
            {
                "problem": problem,
                "accepted_head": json.loads(accepted) if accepted else None,
                "offered_head": json.loads(offered) if offered else None,
                "proof": json.loads(proof) if proof else None,
            }
            for problem, accepted, offered, proof in rows
        ]

    def export(self) -> dict[str, Any]:
        """What `flask audit verify --witness FILE` reads, with the evidence of any alarm."""
        return {"public_key": self._state("public_key"), "tree_heads": self.heads(), "evidence": self.evidence()}

    def _state(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM witness_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _alarm(self, problem: str, accepted: Any, offered: Any, proof: Any = None) -> WitnessAlarm:
        self.db.execute(
            "INSERT INTO witness_evidence (problem, accepted_head, offered_head, proof) VALUES (?, ?, ?, ?)",
            (problem, json.dumps(accepted), json.dumps(offered), json.dumps(proof)),
        )
        return WitnessAlarm(problem)

    def check(self, feed: FeedClient, pinned_key: str | None = None) -> dict[str, Any] | None:
        """Fetch, check and keep the server's latest tree head; returns it (None if the server
        has none yet and none was seen). Raises WitnessAlarm on any inconsistency."""
        earlier = self.evidence()
        if earlier:
            raise WitnessAlarm(
                f"{earlier[-1]['problem']} (evidence kept in the mirror file since an earlier sync; "
                "see `blocklist-sync --db FILE witness-export`)"
            )
        stored = self.heads()
        last = stored[-1] if stored else None
        offered = feed.latest_tree_head()  # with the token: the first request of a sync
        key = pinned_key or self._state("public_key")
        if key is None:
            key = raw_key_from_pem(feed.audit_public_key())
            log.info("audit log key %s pinned (trust on first use)", rfc9162.key_id(bytes.fromhex(key)))
        self.db.execute("INSERT OR REPLACE INTO witness_state (key, value) VALUES ('public_key', ?)", (key,))
        if offered is None:
            if last is not None:
                raise self._alarm(
                    f"the server has no signed tree head, but one of size {last['tree_size']} was signed before: "
                    "the audit log was wiped",
                    last,
                    None,
                )
            return None
        offered = {name: offered.get(name) for name in rfc9162.HEAD_FIELDS}
        raw = bytes.fromhex(key)
        try:
            rfc9162.check_tree_head(offered, raw)
            if last is not None and offered != last:
                if offered["tree_size"] < last["tree_size"]:
                    raise rfc9162.VerificationError(
                        f"the log shrank: the server's latest tree head has size {offered['tree_size']} "
                        f"after one of size {last['tree_size']}"
                    )
                grew = offered["tree_size"] > last["tree_size"]
                proof = feed.consistency(last["tree_size"], offered["tree_size"]) if grew else []
                try:
                    rfc9162.check_consistent(last, offered, proof, raw)
                except rfc9162.VerificationError as error:
                    raise self._alarm(str(error), last, offered, proof) from None
        except rfc9162.VerificationError as error:
            raise self._alarm(str(error), last, offered) from None
        except Unavailable:
            raise
        except FeedError as error:
            if last is not None and offered["tree_size"] > last["tree_size"]:
                # The server cannot prove its new head extends the one it signed before.
                problem = f"no consistency proof from size {last['tree_size']}: {error}"
                raise self._alarm(problem, last, offered) from None
            raise
        if offered != last:
            self.db.execute(
                f"INSERT OR IGNORE INTO tree_heads ({', '.join(FIELDS)}) VALUES (?, ?, ?, ?, ?)",
                tuple(offered[name] for name in FIELDS),
            )
            log.debug("audit log tree head of size %s witnessed", offered["tree_size"])
        return offered
