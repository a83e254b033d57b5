"""TAXII 2.1 routes (OASIS TAXII 2.1 §4-5): plain Flask views over `taxii`, documented with
`apidoc.operation`. Every answer, errors included, is `application/taxii+json;version=2.1`;
errors have TAXII's error shape (§3.6.1)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from ..apidoc import RETRY_AFTER, operation
from ..errors import handle_domain_error, handle_unexpected
from ..exceptions import DomainError, NotFound
from ..feeds.snapshot import consistent_read
from . import taxii
from .access import CHALLENGE, SECURITY, authenticate_reader

bp = Blueprint("taxii", __name__, url_prefix="/taxii2")

# Sent as `application/taxii+json;version=2.1` (the media type's parameter is not part of the key).
_TAXII_CONTENT = {"application/taxii+json": {"schema": {"type": "object"}}}
_DATE_HEADERS = {
    "X-TAXII-Date-Added-First": {
        "description": "date_added of the first object in this answer",
        "schema": {"type": "string"},
    },
    "X-TAXII-Date-Added-Last": {
        "description": "date_added of the last object in this answer",
        "schema": {"type": "string"},
    },
}


def _error(description: str, headers: dict | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _TAXII_CONTENT}
    if headers:
        response["headers"] = headers
    return response


_ERRORS = {
    "400": _error("A filter or `next` is malformed (TAXII error)"),
    "401": _error(
        "Missing or wrong credentials (TAXII error)",
        {"WWW-Authenticate": {"schema": {"type": "string"}, "description": f"`{CHALLENGE}`"}},
    ),
    "403": _error("The client lacks feeds:read (TAXII error)"),
    "404": _error("No such API root, collection or object (TAXII error)"),
    "406": _error("The Accept header names no TAXII 2.1 media type (TAXII error)"),
    "422": _error("A parameter holds a NUL character or an unpaired surrogate (TAXII error)"),
    "429": _error("Over the rate limit (TAXII error)", RETRY_AFTER),
    "503": _error("The database is unavailable (TAXII error)", RETRY_AFTER),
}


def _param(name: str, description: str, where: str = "query", **schema: Any) -> dict[str, Any]:
    return {
        "in": where,
        "name": name,
        "required": where == "path",
        "description": description,
        "schema": {"type": "string", **schema},
    }


_ACCEPT = {
    "in": "header",
    "name": "Accept",
    "required": False,
    "description": "Must admit application/taxii+json;version=2.1 (else 406)",
    "schema": {"type": "string", "default": taxii.TAXII_MEDIA_TYPE},
}
_API_ROOT = _param("api_root", f"The API root; this server has one, `{taxii.API_ROOT}`", "path")
_COLLECTION = _param("collection_id", "A collection id (GET …/collections/ lists them)", "path")
_OBJECT = _param("object_id", "A STIX id, e.g. indicator--<uuid>", "path")
_FILTERS = [
    _param("added_after", "Only objects added after this RFC 3339 time"),
    _param("limit", f"At most this many objects (1 to {taxii.MAX_LIMIT}; default {taxii.DEFAULT_LIMIT})"),
    _param("next", "The `next` of the previous page"),
    _param("match[id]", f"Comma-separated STIX ids (at most {taxii.MAX_MATCH_IDS})"),
    _param("match[type]", "Comma-separated STIX types: indicator, identity"),
    _param("match[version]", "last, first, all or RFC 3339 times (only the latest version's content is kept)"),
    _param("match[spec_version]", "2.1"),
]


def _doc(summary: str, parameters: list, *, dated: bool = False) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": summary, "content": _TAXII_CONTENT}
    if dated:
        ok["headers"] = _DATE_HEADERS
    return {
        "summary": summary,
        "tags": ["taxii"],
        "security": SECURITY,
        "parameters": [_ACCEPT, *parameters],
        "responses": {"200": ok, **_ERRORS},
    }


def _acceptable() -> bool:
    """Whether the Accept header (if any) admits `application/taxii+json;version=2.1`."""
    header = request.headers.get("Accept")
    if not header:
        return True
    for part in header.split(","):
        media, *params = [p.strip().lower() for p in part.split(";")]
        versions = [p.split("=", 1)[1].strip('"') for p in params if p.startswith("version=")]
        if media in ("*/*", "application/*", "application/taxii+json") and versions in ([], ["2.1"]):
            return True
    return False


def _begin(api_root: str | None = None) -> None:
    authenticate_reader()
    if not _acceptable():
        raise _NotAcceptable("This server speaks TAXII 2.1: accept application/taxii+json;version=2.1.")
    if api_root is not None and api_root != taxii.API_ROOT:
        raise NotFound(f"No such API root; this server has one, /taxii2/{taxii.API_ROOT}/.")


class _NotAcceptable(DomainError):
    status = 406


def _answer(body: Any, headers: dict[str, str] | None = None) -> Response:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return Response(text, status=200, content_type=taxii.TAXII_MEDIA_TYPE, headers=headers)


@bp.errorhandler(Exception)
def _taxii_error(error: Exception) -> Response:
    """Every error of these routes, rendered as the API renders it, then in TAXII's shape."""
    response = handle_domain_error(error) if isinstance(error, DomainError) else handle_unexpected(error)
    problem = json.loads(response.get_data())
    body: dict[str, Any] = {"title": problem.get("title", "Error"), "http_status": str(response.status_code)}
    if problem.get("detail"):
        body["description"] = problem["detail"]
    if problem.get("errors"):
        body["details"] = problem["errors"]
    response.set_data(json.dumps(body, ensure_ascii=False))
    response.content_type = taxii.TAXII_MEDIA_TYPE
    return response


@bp.get("/")
@operation(**_doc("TAXII 2.1 discovery", []))
def discovery() -> Response:
    _begin()
    return _answer(taxii.discovery(request.host_url.rstrip("/")))


@bp.get("/<string:api_root>/")
@operation(**_doc("TAXII 2.1 API root information", [_API_ROOT]))
def api_root(api_root: str) -> Response:
    _begin(api_root)
    return _answer(taxii.api_root())


@bp.get("/<string:api_root>/collections/")
@operation(**_doc("TAXII 2.1 collections: one per kind, and `all`", [_API_ROOT]))
def collections(api_root: str) -> Response:
    _begin(api_root)
    return _answer(taxii.collections())


@bp.get("/<string:api_root>/collections/<string:collection_id>/")
@operation(**_doc("One TAXII 2.1 collection", [_API_ROOT, _COLLECTION]))
def collection(api_root: str, collection_id: str) -> Response:
    _begin(api_root)
    return _answer(taxii.collection(collection_id))


def _page(collection_id: str):
    filters = taxii.Filters.parse(request.args)
    taxii.collection_name(collection_id)
    read = consistent_read()
    try:
        return taxii.page(read, collection_id, filters)
    finally:
        read.close()


@bp.get("/<string:api_root>/collections/<string:collection_id>/objects/")
@operation(
    **_doc(
        "STIX 2.1 objects of a collection, paged by `next` (or `added_after`)",
        [_API_ROOT, _COLLECTION, *_FILTERS],
        dated=True,
    )
)
def objects(api_root: str, collection_id: str) -> Response:
    _begin(api_root)
    page = _page(collection_id)
    body = taxii.envelope_json(page, lambda obj: obj.serialize())
    return _answer(body, taxii.date_headers([added for _, added in page.objects]))


@bp.get("/<string:api_root>/collections/<string:collection_id>/manifest/")
@operation(
    **_doc(
        "Manifest of a collection's objects (ids, versions, date_added)",
        [_API_ROOT, _COLLECTION, *_FILTERS],
        dated=True,
    )
)
def manifest(api_root: str, collection_id: str) -> Response:
    _begin(api_root)
    page = _page(collection_id)
    return _answer(taxii.manifest(page), taxii.date_headers([added for _, added in page.objects]))


def _one(collection_id: str, object_id: str):
    taxii.collection_name(collection_id)
    read = consistent_read()
    try:
        found = taxii.find(read, collection_id, object_id)
    finally:
        read.close()
    if found is None:
        raise NotFound("No such object in this collection.")
    return found


@bp.get("/<string:api_root>/collections/<string:collection_id>/objects/<string:object_id>/")
@operation(**_doc("The latest version of one object", [_API_ROOT, _COLLECTION, _OBJECT], dated=True))
def get_object(api_root: str, collection_id: str, object_id: str) -> Response:
    _begin(api_root)
    obj, added = _one(collection_id, object_id)
    return _answer('{"more":false,"objects":[' + obj.serialize() + "]}", taxii.date_headers([added]))


_VERSION_FILTERS = [
    _param("added_after", "Only versions added after this RFC 3339 time"),
    _param("limit", f"At most this many versions (1 to {taxii.MAX_LIMIT}; default {taxii.DEFAULT_LIMIT})"),
    _param("next", "The `next` of the previous page of versions"),
    _param("match[spec_version]", "2.1"),
]


@bp.get("/<string:api_root>/collections/<string:collection_id>/objects/<string:object_id>/versions/")
@operation(
    **_doc(
        "The versions of one object still in the change log, oldest first, paged by `next`",
        [_API_ROOT, _COLLECTION, _OBJECT, *_VERSION_FILTERS],
        dated=True,
    )
)
def versions(api_root: str, collection_id: str, object_id: str) -> Response:
    _begin(api_root)
    filters = taxii.Filters.parse(request.args)
    taxii.collection_name(collection_id)
    read = consistent_read()
    try:
        found = taxii.versions(read, collection_id, object_id, filters)
    finally:
        read.close()
    if found is None:
        raise NotFound("No such object in this collection.")
    body: dict[str, Any] = {"more": found.more}
    if found.next is not None:
        body["next"] = found.next
    body["versions"] = [taxii.stamp(version) for version, _ in found.versions]
    return _answer(body, taxii.date_headers([added for _, added in found.versions]))
