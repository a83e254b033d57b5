"""`Idempotency-Key`: a retried publish gets the first answer and writes nothing twice.

The stored answer is looked up only after the entry-writer lock is held and written in the same
transaction as the change, so two copies of a request racing each other cannot both write: the
second waits for the lock, then finds the first one's answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from flask import Response, current_app, json as flask_json, request
from sqlalchemy import delete, select

from ..context import current_actor
from ..db import db, utcnow
from ..errors import abort
from .models import IdempotentResponse

HEADER = "Idempotency-Key"
_KEY_OK = re.compile(r"^[\x21-\x7e]{1,200}$")


class Replayed(Exception):
    """Raised under the lock when the key has an answer already; carries that answer."""

    def __init__(self, status: int, body: Any):
        super().__init__(status)
        self.status, self.body = status, body

    def response(self) -> Response:
        response = Response(flask_json.dumps(self.body), status=self.status, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response


class IdempotentRequest:
    def __init__(self, key: str, request_body: Any):
        self.key = key
        self.client_id = current_actor().client_id or ""
        self.request_hash = hashlib.sha256(
            json.dumps(request_body, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()

    def check(self) -> None:
        """Raise Replayed if this key was answered (422 if it was used for another request)."""
        ttl = current_app.config["IDEMPOTENCY_TTL"]
        stored = db.session.scalar(select(IdempotentResponse).where(
            IdempotentResponse.client_id == self.client_id, IdempotentResponse.key == self.key))
        if stored is None:
            return
        if stored.created_at <= utcnow() - dt.timedelta(seconds=ttl):
            db.session.delete(stored)
            db.session.flush()
            return
        if stored.request_hash != self.request_hash:
            db.session.rollback()
            abort(422, f"This {HEADER} was already used for a different request.",
                  errors={HEADER: ["Reused with a different body."]})
        status, body = stored.status_code, stored.body
        db.session.rollback()
        raise Replayed(status, body)

    def store(self, status: int, body: Any) -> None:
        db.session.add(IdempotentResponse(client_id=self.client_id, key=self.key,
                                          request_hash=self.request_hash, status_code=status,
                                          body=body))


def from_request(request_body: Any) -> IdempotentRequest | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY_OK.match(key):
        abort(400, f"{HEADER} must be 1 to 200 printable ASCII characters.",
              errors={HEADER: ["Malformed."]})
    return IdempotentRequest(key, request_body)


def purge_expired() -> int:
    """Drop answers older than the retention; returns how many."""
    cutoff = utcnow() - dt.timedelta(seconds=current_app.config["IDEMPOTENCY_TTL"])
    result = db.session.execute(delete(IdempotentResponse).where(IdempotentResponse.created_at < cutoff))
    db.session.commit()
    return result.rowcount or 0
