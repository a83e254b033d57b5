"""RFC 9457 problem+json for every error the service returns.

flask-smorest's own handler reads ``error.data`` (what ``abort(..., message=, errors=,
headers=)`` stores); this module renders the same information as a problem document, and turns
anything unexpected into a 500 (or 503 when the database is unreachable) without leaking details.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from flask import Flask, Response, json, request
from flask_smorest import abort as smorest_abort
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

PROBLEM_MIME = "application/problem+json"
log = logging.getLogger(__name__)


def abort(status: int, detail: str, *, errors: dict | None = None,
          headers: dict[str, str] | None = None, **extra: Any) -> NoReturn:
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


def problem_response(status: int, title: str, detail: str | None = None, *,
                     errors: Any = None, headers: dict | None = None,
                     extra: dict | None = None) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    body["instance"] = request.path
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
    headers = dict(data.get("headers") or {})
    if error.code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    return problem_response(error.code or 500, error.name, detail, errors=errors,
                            headers=headers, extra=data.get("extra"))


def handle_database_unavailable(error: DBAPIError) -> Response:
    log.warning("database unavailable: %s", error)
    exc = ServiceUnavailable()
    return problem_response(503, exc.name, "The database is unavailable; try again shortly.",
                            headers={"Retry-After": "5"})


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    if isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    ):
        return handle_database_unavailable(error)
    log.exception("unhandled error")
    exc = InternalServerError()
    return problem_response(500, exc.name, "An internal error occurred; it has been logged.")


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
