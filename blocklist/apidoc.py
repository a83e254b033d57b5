"""OpenAPI pieces shared by the routes: problem responses, the headers the API reads and sends,
and the documentation of the plain Flask views (OAuth endpoints, health, metrics, RFC 8414
metadata) that flask-smorest does not see.

A plain view is documented where it is defined, with `@operation(...)`; `init_app` adds every
such view of the URL map to the spec, and the schemas registered with `schema(...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from apispec import BasePlugin
from flask import Flask

View = TypeVar("View", bound=Callable[..., Any])

_SCHEMAS: dict[str, dict[str, Any]] = {}
_DOC_ATTRIBUTE = "_blocklist_openapi"

PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}

RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}}
}
ETAG = {
    "ETag": {
        "description": "The entry's current version (a strong validator); send it back in If-Match to change "
        "the entry only if nobody changed it since",
        "schema": {"type": "string", "examples": ['"42.3"']},
    }
}
IDEMPOTENT_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored first answer to the same Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
CURSOR_HEADER = {
    "X-Blocklist-Cursor": {
        "description": "The feed cursor of this snapshot: follow /v1/feed/changes?since=<this> from here",
        "schema": {"type": "string"},
    }
}
WRITE_CURSOR_HEADER = {
    "X-Blocklist-Cursor": {
        "description": "The feed cursor after this write's changes (when it changed nothing in the feed: the "
        "head after it committed). Pass it as `min_cursor` to a look-up, check or entry read to read your "
        "write on any node",
        "schema": {"type": "string"},
    }
}
MIN_CURSOR_PARAM = {
    "in": "query",
    "name": "min_cursor",
    "required": False,
    "description": "A cursor from a write's `X-Blocklist-Cursor` (or the feed): answer only once this node "
    "reflects the feed up to it, waiting at most `BLOCKLIST_MIN_CURSOR_WAIT_MS` (2 s); then 503 with "
    "`Retry-After`. A cursor beyond the feed head is a 400",
    "schema": {"type": "string"},
}
# POSTs that only read: their answers carry no write cursor.
READ_POSTS = frozenset({("/v1/check", "POST"), ("/v1/lookup", "POST"), ("/v1/subjects/screen", "POST")})

IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "1 to 200 printable ASCII characters, unique per request you mean (per client, kept "
    "`BLOCKLIST_IDEMPOTENCY_TTL` seconds): a retry with the same key and body gets the first answer "
    "(with `Idempotent-Replayed: true`) and writes nothing; the same key with another body is a 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "example": "publish-2026-11-25-0001",
}
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "description": "Optional: the ETag you read (strong comparison, RFC 9110 13.1.1). A weak tag (`W/…`) or "
    "an outdated one gets 412; `*` matches any current entry",
    "schema": {"type": "string"},
    "example": '"42.3"',
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "description": "ETags of snapshots you hold (weak comparison, RFC 9110 13.1.2; `*` matches any): "
    "304 when the active set has not changed",
    "schema": {"type": "string"},
}


def problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A response whose body is an RFC 9457 problem document."""
    response: dict[str, Any] = {"description": description, "content": PROBLEM_CONTENT}
    if headers:
        response["headers"] = headers
    return response


def schema(name: str, definition: dict[str, Any]) -> dict[str, str]:
    """Register a JSON Schema under components/schemas; returns a `$ref` to it."""
    _SCHEMAS[name] = definition
    return {"$ref": f"#/components/schemas/{name}"}


def operation(**doc: Any) -> Callable[[View], View]:
    """Document a plain Flask view: `doc` is its OpenAPI operation object (summary, tags,
    requestBody, responses, …), for every method the route serves but HEAD and OPTIONS."""

    def mark(view: View) -> View:
        setattr(view, _DOC_ATTRIBUTE, doc)
        return view

    return mark


def init_app(app: Flask, api: Any) -> None:
    """Add the registered schemas and every `@operation` view to `api`'s spec. Call once every
    blueprint is registered."""
    for name, definition in _SCHEMAS.items():
        api.spec.components.schema(name, definition)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        doc = getattr(app.view_functions[rule.endpoint], _DOC_ATTRIBUTE, None)
        if doc is None:
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        # flask-smorest's FlaskPlugin turns the rule into the path (`<int:id>` -> `{id}`).
        api.spec.path(rule=rule, operations={m.lower(): dict(doc) for m in methods})


def _operation_ref(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _entry_link(path: str, method: str, description: str) -> dict[str, Any]:
    return {
        "operationRef": _operation_ref(path, method),
        "parameters": {"entry_id": "$response.body#/id"},
        "description": description,
    }


# OpenAPI links (3.1 "Link Object") where operations chain: publish -> read -> change -> dispute
# -> resolve. Clients may follow them; Schemathesis' stateful phase does (tests/test_fuzz_schemathesis.py).
ENTRY_LINKS: dict[str, dict[str, Any]] = {
    "GetEntry": _entry_link("/v1/entries/{entry_id}", "get", "Read the entry"),
    "PatchEntry": _entry_link("/v1/entries/{entry_id}", "patch", "Change the caller's report on the entry"),
    "DisputeEntry": _entry_link("/v1/entries/{entry_id}/disputes", "post", "Dispute the entry"),
}
DISPUTE_LINKS: dict[str, dict[str, Any]] = {
    "ResolveDispute": {
        "operationRef": _operation_ref("/v1/disputes/{dispute_id}/resolve", "post"),
        "parameters": {"dispute_id": "$response.body#/id"},
        "description": "Resolve the dispute (regulators)",
    }
}


# (path, method) -> the responses that carry links, and the links.
LINKS: dict[tuple[str, str], tuple[tuple[str, ...], dict[str, dict[str, Any]]]] = {
    ("/v1/entries", "post"): (("200", "201"), ENTRY_LINKS),
    ("/v1/entries/{entry_id}", "get"): (("200",), ENTRY_LINKS),
    ("/v1/entries/{entry_id}", "patch"): (("200",), ENTRY_LINKS),
    ("/v1/entries/{entry_id}/disputes", "post"): (("201",), DISPUTE_LINKS),
}


class LinksPlugin(BasePlugin):
    """Adds `LINKS` to the operations' responses as apispec builds each path (flask-smorest's
    `@blp.doc(responses=...)` would replace the response its `@blp.response` documents), and
    the write cursor header to every write's success responses."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **kwargs: Any) -> None:
        for method, operation in (operations or {}).items():
            if (
                (path or "").startswith("/v1/")
                and method in ("post", "put", "patch", "delete")
                and (path, method.upper()) not in READ_POSTS
            ):
                # Every successful write answers with its cursor (reads.py, `_write_cursor`).
                for status, response in operation.get("responses", {}).items():
                    if str(status).startswith("2") and isinstance(response, dict):
                        response.setdefault("headers", {}).update(WRITE_CURSOR_HEADER)
            statuses, table = LINKS.get((path or "", method), ((), {}))
            for status in statuses:
                for key in (status, int(status)):
                    if key in operation.get("responses", {}):
                        operation["responses"][key].setdefault("links", {}).update(table)
