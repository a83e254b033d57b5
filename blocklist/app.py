"""The application factory: settings, extensions, every package's routes, the spec."""

from __future__ import annotations

import http
import os
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from flask import Flask, send_from_directory
from flask.sessions import SessionInterface
from flask_migrate import Migrate
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, fields
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from . import apidoc, config, context, errors, jsonio, ops, ratelimit, reads
from .config import Settings
from .db import db, init_unit_of_work, ping_after_idle
from .jsonio import StorableJSONProvider
from .pagination import MAX_ID

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")
# Swagger UI 5 (renders OpenAPI 3.1), from the dist that the flask-swagger-ui package ships with
# its licence; only its files are used, flask-smorest renders the page at /docs.
SWAGGER_UI_DIST = str(files("flask_swagger_ui") / "dist")


API_DESCRIPTION = """Shared blocklist exchange: one violation, restricted everywhere.

Headers on every operation, declared here once: the response's `X-Request-Id` (a sane one the
caller sent, else a new one; it is also the audit trail's `request_id`), and, with rate limiting
on, `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and `X-RateLimit-Limit`,
`X-RateLimit-Remaining`, `X-RateLimit-Reset` (a Unix time). Errors are RFC 9457
`application/problem+json`. OAuth clients discover the token endpoints at
`/.well-known/oauth-authorization-server` (RFC 8414)."""


class ProblemSchema(Schema):
    """RFC 9457 problem details; extension members (e.g. `allowlist_reason`) are allowed."""

    class Meta:
        unknown = INCLUDE

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(metadata={"description": "Per-field messages, for validation problems (at most 100)"})
    errors_omitted = fields.Integer(metadata={"description": "How many more field errors there were than listed"})


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` limited to a 32-bit INTEGER, the narrowest id column (orgs, disputes,
    allowlist). Entry ids and audit seqs are BIGINT but stay far below 2**31 at the planned
    scale (10M entries); past that they would need a converter of their own."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class BlocklistApi(Api):
    """flask-smorest's Api with problem+json errors instead of its own error body."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)

    def _register_responses(self):
        """flask-smorest's shared error responses (422, default), documented with the media type
        they are really sent with: every error body is `application/problem+json`."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, errors.PROBLEM_MIME)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM_MIME)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def _document_security(api: Api) -> None:
    # ProblemSchema is registered by flask-smorest as the error schema (BlocklistApi.ERROR_SCHEMA).
    api.spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/oauth/token",
                    "scopes": {
                        "entries:read": "Read entries, look up values, check messages",
                        "entries:write": "Publish and change the org's own reports",
                        "feeds:read": "Snapshots and the change feed",
                        "audit:read": "Read and verify the audit trail",
                        "admin": "Regulators: orgs, clients, allowlist, revocation, disputes",
                    },
                }
            },
        },
    )
    api.spec.components.security_scheme(
        "clientBasic",
        {"type": "http", "scheme": "basic", "description": "OAuth client id and secret (client_secret_basic)"},
    )
    api.spec.tag({"name": "oauth", "description": "Tokens (RFC 6749, 7009, 7662) and server metadata (RFC 8414)"})
    api.spec.tag({"name": "ops", "description": "Health, readiness and metrics (no token, never rate limited)"})


class NoCookieSession(SessionInterface):
    """The service keeps no cookie session (callers authenticate with OAuth tokens and nothing
    reads `flask.session`): no signing serializer is built and no cookie parsed per request."""

    def open_session(self, app: Flask, request: Any) -> None:
        return None  # Flask hands the request a NullSession, which refuses writes

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        return None


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, then `overrides` (Settings field names),
    then extensions."""
    app = Flask(__name__, instance_relative_config=True)
    app.json = StorableJSONProvider(app)
    app.session_interface = NoCookieSession()
    # Ids in paths fit the id columns: a larger one is simply not found (404), never a 500.
    app.url_map.converters["int"] = BoundedIntConverter
    settings = Settings.from_env(app.instance_path).replace(overrides or {})
    config.init_app(app, settings)
    app.json.sort_keys = False
    if settings.database_url.startswith("sqlite"):
        os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    with app.app_context():
        ping_after_idle(db.engine)
    Migrate(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    context.init_app(app)
    ops.init_app(app)
    reads.init_app(app)  # write cursors, the replica session

    api = BlocklistApi(
        app, spec_kwargs={"info": {"description": API_DESCRIPTION}, "extra_plugins": [apidoc.LinksPlugin()]}
    )
    _document_security(api)
    errors.init_app(app)

    from . import audit, auth, entries, exports, feeds, holdings, lifecycle, matching, nodeindex
    from .auth import metadata

    auth.init_app(app, api)
    app.register_blueprint(metadata.bp)
    audit.init_app(app, api)
    entries.init_app(app, api)
    holdings.init_app(app, api)
    lifecycle.init_app(app, api)
    ratelimit.init_app(app)
    jsonio.init_app(app)  # NUL in a parameter: 422 before any view runs
    matching.init_app(app, api)
    nodeindex.init_app(app)  # flask node-index ...
    feeds.init_app(app, api)
    exports.init_app(app)

    @app.get("/docs/assets/<path:filename>")
    def swagger_assets(filename: str):
        return send_from_directory(SWAGGER_UI_DIST, filename)

    apidoc.init_app(app, api)  # the plain views (OAuth, ops, metadata) into the spec
    init_unit_of_work(app)  # last: every view, the OAuth endpoints included
    hops = settings.rate_limit_proxy_hops
    if hops > 0:
        # The caller's address (request.remote_addr: rate limits, the audit trail) is the
        # X-Forwarded-For entry the nearest of `hops` trusted proxies added; entries further
        # left are the caller's own claims. gunicorn already honours X-Forwarded-Proto.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]
    return app
