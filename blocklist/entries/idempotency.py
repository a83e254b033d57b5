"""`Idempotency-Key`: a retried publish gets the first answer and writes nothing twice.

`idempotent` wraps a write route: a key already answered replays that answer (422 if the key
came with another body); otherwise the route runs and its answer is stored in the same
transaction as the change. Two copies of a request racing each other cannot both write: the
stored answers are unique per (client, key), so the second copy's store fails once the first
has committed, its whole transaction (its change included) is rolled back, and it replays the
first one's answer.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import re
from typing import Any

from flask import Response, current_app, request
from flask import json as flask_json
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..config import current_settings
from ..context import current_actor
from ..db import db, execute_count, utcnow
from ..exceptions import BadRequest, Invalid
from .models import IdempotentResponse

HEADER = "Idempotency-Key"
_KEY_OK = re.compile(r"^[\x21-\x7e]{1,200}$")


def _replay(stored: IdempotentResponse) -> Response:
    response = Response(flask_json.dumps(stored.body), status=stored.status_code, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


class IdempotentRequest:
    def __init__(self, key: str, client_id: str, request_body: Any):
        self.key, self.client_id = key, client_id
        # Keyed with the subject pepper: a body may carry a person's identifier, and a plain
        # SHA-256 of a known body shape would let anyone with the table test guesses of it.
        # Stored under the current pepper; a retry across a rotation matches under any pepper
        # still active (the retired ones stay listed for as long as their hashes must match).
        body = json.dumps(request_body, sort_keys=True, default=str, separators=(",", ":")).encode()
        peppers = current_settings().subject_peppers or ("",)
        hashes = [hmac.new(pepper.encode(), body, hashlib.sha256).hexdigest() for pepper in peppers]
        self.request_hash, self.request_hashes = hashes[0], set(hashes)

    def answered(self) -> Response | None:
        """The stored answer to replay, if this key was answered within the TTL (an older one is
        dropped); 422 if the key was used for another request."""
        stored = db.session.scalar(
            select(IdempotentResponse).where(
                IdempotentResponse.client_id == self.client_id, IdempotentResponse.key == self.key
            )
        )
        if stored is None:
            return None
        if stored.created_at <= utcnow() - dt.timedelta(seconds=current_settings().idempotency_ttl):
            db.session.delete(stored)
            db.session.flush()
            return None
        if stored.request_hash not in self.request_hashes:
            raise Invalid(
                f"This {HEADER} was already used for a different request.",
                errors={HEADER: ["Reused with a different body."]},
            )
        return _replay(stored)

    def store(self, response: Response) -> None:
        db.session.add(
            IdempotentResponse(
                client_id=self.client_id,
                key=self.key,
                request_hash=self.request_hash,
                status_code=response.status_code,
                body=response.get_json(),
            )
        )
        db.session.flush()


def from_request() -> IdempotentRequest | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY_OK.match(key):
        raise BadRequest(f"{HEADER} must be 1 to 200 printable ASCII characters.", errors={HEADER: ["Malformed."]})
    return IdempotentRequest(key, current_actor().client_id or "", request.get_json())


def idempotent(view):
    """Honour `Idempotency-Key` on a write route. Goes under `require` (the client is known)
    and above the response schema (the rendered answer is what is stored)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        idem = from_request()
        if idem is None:
            return view(*args, **kwargs)
        if (replay := idem.answered()) is not None:
            return replay
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code >= 400:
            return response
        try:
            idem.store(response)
        except IntegrityError:
            # A copy of this request committed first: undo this one and give its answer.
            db.session.rollback()
            if (replay := idem.answered()) is None:
                raise
            return replay
        return response

    return wrapper


def purge_expired() -> int:
    """Drop answers older than the retention; returns how many (the caller commits)."""
    cutoff = utcnow() - dt.timedelta(seconds=current_settings().idempotency_ttl)
    return execute_count(delete(IdempotentResponse).where(IdempotentResponse.created_at < cutoff))
