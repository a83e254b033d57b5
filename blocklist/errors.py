"""RFC 9457 problem+json for every error the service returns.

flask-smorest's own handler reads ``error.data`` (what ``abort(..., message=, errors=,
headers=)`` stores); this module renders the same information as a problem document, and turns
anything unexpected into a 500 (or 503 when the database is unreachable) without leaking details.
A validation problem lists at most `MAX_REPORTED_ERRORS` field errors, however many there are.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn
from urllib.parse import quote

from flask import Flask, Response, json, request
from flask_smorest import abort as smorest_abort
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable, default_exceptions

from .exceptions import DomainError

PROBLEM_MIME = "application/problem+json"
# Field errors listed in one problem; the rest are counted in `errors_omitted`. A body of a
# million unknown keys once answered with a million errors (31 MB).
MAX_REPORTED_ERRORS = 100
log = logging.getLogger(__name__)


def abort(
    status: int, detail: str, *, errors: dict | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> NoReturn:
    """Stop the request with a problem response.

    `errors` is the per-field object for validation problems; `extra` members are added to the
    problem document as extension members (e.g. ``allowlist_reason``).
    """
    kwargs: dict[str, Any] = {"message": detail}
    if errors is not None:
        kwargs["errors"] = errors
    if headers:
        kwargs["headers"] = headers
    if extra:
        kwargs["extra"] = extra
    smorest_abort(status, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


def _flatten_webargs_messages(messages: Any) -> Any:
    """webargs keys errors by location (``{"json": {...}, "query": {...}}``); clients want fields."""
    if not isinstance(messages, dict):
        return messages
    merged: dict[str, Any] = {}
    for location, errors in messages.items():
        if isinstance(errors, dict):
            merged.update(errors)
        else:
            merged[location] = errors
    return merged


def _count_errors(errors: Any) -> int:
    return sum(_count_errors(value) for value in errors.values()) if isinstance(errors, dict) else 1


def cap_errors(errors: Any, limit: int = MAX_REPORTED_ERRORS) -> tuple[Any, int]:
    """Return `errors` cut to its first `limit` field errors (in order, nesting kept) and how
    many were cut. A field error is one leaf: the list of messages for one field."""
    if not isinstance(errors, dict):
        return errors, 0
    kept: dict[Any, Any] = {}
    room, cut = limit, 0
    for key, value in errors.items():
        if room <= 0:
            cut += _count_errors(value)
            continue
        value, value_cut = cap_errors(value, room)
        kept[key] = value
        room -= _count_errors(value)
        cut += value_cut
    return kept, cut


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: Any = None,
    headers: dict | None = None,
    extra: dict | None = None,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    # A URI reference (RFC 9457): percent-encoded, so a NUL in the path is not echoed raw.
    body["instance"] = quote(request.path, safe="/:@!$&'()*+,;=~", errors="replace")
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIME)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_http_exception(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    detail = data.get("message") or error.description
    errors = data.get("errors")
    if errors is None and "messages" in data:
        errors = _flatten_webargs_messages(data["messages"])
        if error.code == 422:
            detail = "The request did not validate; see errors for each field."
        elif error.code == 400:
            detail = "The request body is not valid JSON." if "json" in data["messages"] else detail
    extra = dict(data.get("extra") or {})
    errors, cut = cap_errors(errors)
    if cut:
        extra["errors_omitted"] = extra.get("errors_omitted", 0) + cut
    if extra.get("errors_omitted"):
        detail = (
            f"{detail} Only the first {MAX_REPORTED_ERRORS} field errors are listed; "
            f"{extra['errors_omitted']} more are counted in errors_omitted."
        )
    headers = dict(data.get("headers") or {})
    valid_methods = getattr(error, "valid_methods", None)
    if error.code == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    return problem_response(error.code or 500, error.name, detail, errors=errors, headers=headers, extra=extra)


def handle_domain_error(error: DomainError) -> Response:
    """A service's domain error, rendered exactly as `abort` would render it."""
    exception = default_exceptions[error.status]()
    # What flask-smorest's abort stores on the exception, read by handle_http_exception.
    data = {"message": error.detail, "errors": error.errors, "headers": error.headers, "extra": error.extra}
    exception.data = data  # type: ignore[attr-defined]
    return handle_http_exception(exception)


def handle_database_unavailable(error: DBAPIError) -> Response:
    log.warning("database unavailable: %s", error)
    exc = ServiceUnavailable()
    return problem_response(
        503, exc.name, "The database is unavailable; try again shortly.", headers={"Retry-After": "5"}
    )


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    if isinstance(error, OperationalError) or (isinstance(error, DBAPIError) and error.connection_invalidated):
        return handle_database_unavailable(error)
    log.exception("unhandled error")
    exc = InternalServerError()
    return problem_response(500, exc.name, "An internal error occurred; it has been logged.")


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
