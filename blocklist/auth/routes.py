"""OAuth endpoints (form bodies, plain Flask routes) and the regulators' admin API."""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask import Response, json, request
from flask.views import MethodView
from werkzeug.http import HTTP_STATUS_CODES

from ..apidoc import RETRY_AFTER, operation, problem, schema
from ..context import current_actor
from ..errors import PROBLEM_MIME
from ..jsonio import Blueprint
from ..pagination import PageArgsSchema
from . import queries, services
from .oauth2 import authorization_server, malformed, require
from .schemas import (
    ClientListSchema,
    ClientSchema,
    ClientWithSecretSchema,
    OrgListSchema,
    OrgSchema,
    OrgStatusChangeSchema,
)
from .scopes import ADMIN

oauth_bp = FlaskBlueprint("oauth", __name__, url_prefix="/oauth")


def _as_problem(response: Response) -> Response:
    """OAuth errors keep their RFC 6749 members (`error`, `error_description`) and gain the
    problem+json ones, so OAuth libraries and problem-aware clients both read them."""
    if response.status_code < 400:
        return response
    body = response.get_json(silent=True) or {}
    title = HTTP_STATUS_CODES.get(response.status_code, "Error")
    problem = {
        "type": "about:blank",
        "title": title,
        "status": response.status_code,
        "detail": body.get("error_description") or body.get("error") or title,
        "instance": request.path,
        **body,
    }
    response.set_data(json.dumps(problem))
    response.mimetype = PROBLEM_MIME
    return response


# --- the OAuth endpoints' documentation (form bodies; Authlib reads them, not marshmallow) ---

_CLIENT_FIELDS = {
    "client_id": {"type": "string", "description": "client_secret_post: the client id (else HTTP Basic)"},
    "client_secret": {"type": "string", "description": "client_secret_post: the client secret (else HTTP Basic)"},
}
_TOKEN_REQUEST = schema(
    "TokenRequest",
    {
        "type": "object",
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "scope": {
                "type": "string",
                "description": "Space-separated subset of the client's scopes (default: all of them)",
                "examples": ["entries:read feeds:read"],
            },
            **_CLIENT_FIELDS,
        },
        "required": ["grant_type"],
    },
)
_TOKEN = schema(
    "TokenResponse",
    {
        "type": "object",
        "properties": {
            "access_token": {"type": "string", "description": "Opaque bearer token"},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer", "description": "Seconds"},
            "scope": {"type": "string"},
        },
        "required": ["access_token", "token_type", "expires_in", "scope"],
    },
)
_TOKEN_HINT = {
    "type": "string",
    "description": "A hint only (RFC 7009 2.1, RFC 7662 2.1): only access tokens exist, and any hint is ignored",
    "examples": ["access_token"],
}
_REVOKE_REQUEST = schema(
    "RevokeRequest",
    {
        "type": "object",
        "properties": {"token": {"type": "string"}, "token_type_hint": _TOKEN_HINT, **_CLIENT_FIELDS},
        "required": ["token"],
    },
)
_INTROSPECT_REQUEST = schema(
    "IntrospectRequest",
    {
        "type": "object",
        "properties": {"token": {"type": "string"}, "token_type_hint": _TOKEN_HINT, **_CLIENT_FIELDS},
        "required": ["token"],
    },
)
_INTROSPECTION = schema(
    "IntrospectionResponse",
    {
        "type": "object",
        "description": "RFC 7662; only `active` when the token is not active (or not the caller's to see)",
        "properties": {
            "active": {"type": "boolean"},
            "client_id": {"type": "string"},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "scope": {"type": "string"},
            "sub": {"type": "string"},
            "org_id": {"type": "integer"},
            "org_kind": {"type": "string", "enum": ["carrier", "internet", "regulator", "consumer"]},
            "exp": {"type": "integer"},
            "iat": {"type": "integer"},
        },
        "required": ["active"],
    },
)
_OAUTH_ERROR = schema(
    "OAuthProblem",
    {
        "description": "An RFC 6749 error that is also an RFC 9457 problem",
        "allOf": [
            {"$ref": "#/components/schemas/Problem"},
            {
                "type": "object",
                "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
                "required": ["error"],
            },
        ],
    },
)


def _form(ref: dict[str, str]) -> dict:
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": ref}}}


def _oauth_error(description: str, headers: dict | None = None) -> dict:
    response: dict = {"description": description, "content": {"application/problem+json": {"schema": _OAUTH_ERROR}}}
    if headers:
        response["headers"] = headers
    return response


_CLIENT_AUTH = {
    "security": [{"clientBasic": []}, {}],  # HTTP Basic, or client_id/client_secret in the form
    "tags": ["oauth"],
}
_OAUTH_ERRORS = {
    "401": _oauth_error(
        "invalid_client: unknown id, wrong secret, revoked client or suspended org (one answer for all)",
        {"WWW-Authenticate": {"description": "Basic, when the client used HTTP Basic", "schema": {"type": "string"}}},
    ),
    "413": problem("The body is larger than BLOCKLIST_MAX_BODY_BYTES"),
    "422": problem("A parameter holds NUL or an unpaired surrogate"),
    "429": problem(
        "Over BLOCKLIST_RATE_LIMIT_TOKEN for this client id and address, or too many failed authentications "
        "from this address",
        RETRY_AFTER,
    ),
    "503": problem("The database is unavailable", RETRY_AFTER),
}


@oauth_bp.post("/token")
@operation(
    **_CLIENT_AUTH,
    summary="Get an access token (client-credentials grant, RFC 6749 4.4)",
    operationId="issueToken",
    requestBody=_form(_TOKEN_REQUEST),
    responses={
        "200": {"description": "A bearer token", "content": {"application/json": {"schema": _TOKEN}}},
        "400": _oauth_error(
            "invalid_request (no grant_type, a parameter repeated, two client authentications), "
            "unsupported_grant_type or invalid_scope"
        ),
        **_OAUTH_ERRORS,
    },
)
def issue_token():
    if error := malformed(request, grant=True):
        return _as_problem(authorization_server().handle_error_response(None, error))
    return _as_problem(authorization_server().create_token_response())


@oauth_bp.post("/revoke")
@operation(
    **_CLIENT_AUTH,
    summary="Revoke one of the client's tokens (RFC 7009); unknown tokens are a 200 too",
    operationId="revokeToken",
    requestBody=_form(_REVOKE_REQUEST),
    responses={
        "200": {
            "description": "Revoked (or it was not a live token of this client)",
            "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
        },
        "400": _oauth_error("invalid_request: no token, a parameter repeated, or two client authentications"),
        **_OAUTH_ERRORS,
    },
)
def revoke_token():
    if error := malformed(request, grant=False):
        return _as_problem(authorization_server().handle_error_response(None, error))
    return _as_problem(authorization_server().create_endpoint_response("revocation"))


@oauth_bp.post("/introspect")
@operation(
    **_CLIENT_AUTH,
    summary="Inspect a token (RFC 7662)",
    operationId="introspectToken",
    requestBody=_form(_INTROSPECT_REQUEST),
    responses={
        "200": {"description": "The token's state", "content": {"application/json": {"schema": _INTROSPECTION}}},
        "400": _oauth_error("invalid_request: no token, a parameter repeated, or two client authentications"),
        **_OAUTH_ERRORS,
    },
)
def introspect_token():
    if error := malformed(request, grant=False):
        return _as_problem(authorization_server().handle_error_response(None, error))
    return _as_problem(authorization_server().create_endpoint_response("introspection"))


ORG_NOT_FOUND = {"404": problem("No organisation with this id")}
CLIENT_NOT_FOUND = {"404": problem("No such organisation, or it has no client with this id")}

blp = Blueprint(
    "orgs", __name__, url_prefix="/v1/orgs", description="Organisations and their API clients (regulators only)"
)


@blp.route("")
class Orgs(MethodView):
    @require(ADMIN, regulator=True)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, OrgListSchema)
    def get(self, page):
        """List organisations"""
        return queries.list_orgs(page).as_dict()

    @require(ADMIN, regulator=True)
    @blp.arguments(OrgSchema)
    @blp.response(201, OrgSchema)
    @blp.doc(responses={"409": problem("An organisation with this name exists")})
    def post(self, data):
        """Register an organisation"""
        return services.create_org(data["name"], data["kind"], actor=current_actor())


@blp.route("/<int:org_id>")
class OrgById(MethodView):
    @require(ADMIN, regulator=True)
    @blp.response(200, OrgSchema)
    @blp.doc(responses=ORG_NOT_FOUND)
    def get(self, org_id):
        """One organisation"""
        return services.get_org(org_id)


@blp.route("/<int:org_id>/suspend")
class OrgSuspend(MethodView):
    @require(ADMIN, regulator=True)
    @blp.arguments(OrgStatusChangeSchema, required=False)
    @blp.response(200, OrgSchema)
    @blp.doc(responses=ORG_NOT_FOUND)
    def post(self, data, org_id):
        """Suspend an organisation: its tokens stop working on the next request"""
        return services.set_org_status(
            services.get_org(org_id), "suspended", (data or {}).get("reason"), actor=current_actor()
        )


@blp.route("/<int:org_id>/reinstate")
class OrgReinstate(MethodView):
    @require(ADMIN, regulator=True)
    @blp.arguments(OrgStatusChangeSchema, required=False)
    @blp.response(200, OrgSchema)
    @blp.doc(responses=ORG_NOT_FOUND)
    def post(self, data, org_id):
        """Reinstate a suspended organisation"""
        return services.set_org_status(
            services.get_org(org_id), "active", (data or {}).get("reason"), actor=current_actor()
        )


@blp.route("/<int:org_id>/clients")
class OrgClients(MethodView):
    @require(ADMIN, regulator=True)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ClientListSchema)
    @blp.doc(responses=ORG_NOT_FOUND)
    def get(self, page, org_id):
        """List an organisation's API clients (secrets are never shown again)"""
        return queries.list_clients(services.get_org(org_id), page).as_dict()

    @require(ADMIN, regulator=True)
    @blp.arguments(ClientSchema)
    @blp.response(201, ClientWithSecretSchema)
    @blp.doc(responses={**ORG_NOT_FOUND, "409": problem("The organisation is suspended")})
    def post(self, data, org_id):
        """Create an API client; the secret is in this response only"""
        client, secret = services.create_client(
            services.get_org(org_id), actor=current_actor(), name=data["name"], scope=data["scope"]
        )
        client.client_secret = secret  # transient: dumped once, never stored
        return client


@blp.route("/<int:org_id>/clients/<string:client_id>")
class OrgClientById(MethodView):
    @require(ADMIN, regulator=True)
    @blp.response(204)
    @blp.doc(responses=CLIENT_NOT_FOUND)
    def delete(self, org_id, client_id):
        """Revoke a client: its secret and tokens stop working at once"""
        services.revoke_client(services.get_client(services.get_org(org_id), client_id), actor=current_actor())


@blp.route("/<int:org_id>/clients/<string:client_id>/rotate")
class OrgClientRotate(MethodView):
    @require(ADMIN, regulator=True)
    @blp.response(200, ClientWithSecretSchema)
    @blp.doc(responses={**CLIENT_NOT_FOUND, "409": problem("The client is revoked")})
    def post(self, org_id, client_id):
        """Rotate a client's secret; the old secret and its tokens stop working"""
        client = services.get_client(services.get_org(org_id), client_id)
        client.client_secret = services.rotate_client_secret(client, actor=current_actor())
        return client
