"""OAuth endpoints (form bodies, plain Flask routes) and the regulators' admin API."""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask import Response, json, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.http import HTTP_STATUS_CODES

from ..context import current_actor
from ..errors import PROBLEM_MIME
from ..pagination import PageArgsSchema
from . import queries, services
from .oauth2 import authorization_server, require
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


@oauth_bp.post("/token")
def issue_token():
    return _as_problem(authorization_server().create_token_response())


@oauth_bp.post("/revoke")
def revoke_token():
    return _as_problem(authorization_server().create_endpoint_response("revocation"))


@oauth_bp.post("/introspect")
def introspect_token():
    return _as_problem(authorization_server().create_endpoint_response("introspection"))


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
    def post(self, data):
        """Register an organisation"""
        return services.create_org(data["name"], data["kind"], actor=current_actor())


@blp.route("/<int:org_id>")
class OrgById(MethodView):
    @require(ADMIN, regulator=True)
    @blp.response(200, OrgSchema)
    def get(self, org_id):
        """One organisation"""
        return services.get_org(org_id)


@blp.route("/<int:org_id>/suspend")
class OrgSuspend(MethodView):
    @require(ADMIN, regulator=True)
    @blp.arguments(OrgStatusChangeSchema, required=False)
    @blp.response(200, OrgSchema)
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
    def get(self, page, org_id):
        """List an organisation's API clients (secrets are never shown again)"""
        return queries.list_clients(services.get_org(org_id), page).as_dict()

    @require(ADMIN, regulator=True)
    @blp.arguments(ClientSchema)
    @blp.response(201, ClientWithSecretSchema)
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
    def delete(self, org_id, client_id):
        """Revoke a client: its secret and tokens stop working at once"""
        services.revoke_client(services.get_client(services.get_org(org_id), client_id), actor=current_actor())


@blp.route("/<int:org_id>/clients/<string:client_id>/rotate")
class OrgClientRotate(MethodView):
    @require(ADMIN, regulator=True)
    @blp.response(200, ClientWithSecretSchema)
    def post(self, org_id, client_id):
        """Rotate a client's secret; the old secret and its tokens stop working"""
        client = services.get_client(services.get_org(org_id), client_id)
        client.client_secret = services.rotate_client_secret(client, actor=current_actor())
        return client
