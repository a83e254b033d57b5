"""Domain errors: what services raise when a request cannot be done. Each carries the HTTP
status it means, a sentence for the caller, and optionally per-field `errors` and extension
members; `errors.py` renders every one as a problem document in one place, and CLIs print
them. Services never build HTTP responses themselves."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400

    def __init__(
        self, detail: str, *, errors: dict[str, Any] | None = None, headers: dict[str, str] | None = None, **extra: Any
    ):
        super().__init__(detail)
        self.detail, self.errors, self.headers, self.extra = detail, errors, headers, extra


class BadRequest(DomainError):
    """Malformed beyond what a schema checks (a cursor, a header)."""

    status = 400


class Forbidden(DomainError):
    """The actor may not do this to this object."""

    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    """The object's state forbids it now (already revoked, allowlisted, answered)."""

    status = 409


class Gone(DomainError):
    status = 410


class PreconditionFailed(DomainError):
    """`If-Match` names a version that is no longer current."""

    status = 412


class Invalid(DomainError):
    """A value that cannot be what it claims (422, with per-field `errors`)."""

    status = 422


class Unavailable(DomainError):
    """Not now; try again (503, with `Retry-After`)."""

    status = 503
