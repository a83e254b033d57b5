"""OAuth 2.0 Authorization Server Metadata (RFC 8414) at `/.well-known/oauth-authorization-server`.

The issuer is the service's own base URL as the caller reached it (behind nginx: the public
`https://` host, from `Host` and the trusted `X-Forwarded-Proto`), so the endpoints it names are
the ones the caller can reach. Everything else is read from the OAuth server's own
configuration (grant, client authentication methods, scopes), so the document cannot drift.
"""

from __future__ import annotations

from flask import Blueprint, request, url_for

from ..apidoc import operation, schema
from .oauth2 import ClientCredentialsGrant, TokenIntrospectionEndpoint, TokenRevocationEndpoint
from .scopes import ALL_SCOPES

WELL_KNOWN_PATH = "/.well-known/oauth-authorization-server"

bp = Blueprint("oauth_metadata", __name__)

_STRINGS = {"type": "array", "items": {"type": "string"}}
_METADATA = schema(
    "AuthorizationServerMetadata",
    {
        "type": "object",
        "description": "RFC 8414 section 2",
        "properties": {
            "issuer": {"type": "string", "format": "uri", "examples": ["https://blocklist.example.org"]},
            "token_endpoint": {"type": "string", "format": "uri"},
            "revocation_endpoint": {"type": "string", "format": "uri"},
            "introspection_endpoint": {"type": "string", "format": "uri"},
            "grant_types_supported": {**_STRINGS, "examples": [["client_credentials"]]},
            "token_endpoint_auth_methods_supported": _STRINGS,
            "revocation_endpoint_auth_methods_supported": _STRINGS,
            "introspection_endpoint_auth_methods_supported": _STRINGS,
            "scopes_supported": _STRINGS,
            "response_types_supported": {
                **_STRINGS,
                "description": "Required by RFC 8414; `none`: there is no authorization endpoint "
                "(only the client-credentials grant)",
            },
            "service_documentation": {"type": "string", "format": "uri"},
        },
        "required": ["issuer", "token_endpoint", "response_types_supported"],
    },
)


@bp.get(WELL_KNOWN_PATH)
@operation(
    tags=["oauth"],
    summary="OAuth 2.0 authorization server metadata (RFC 8414)",
    operationId="oauthAuthorizationServerMetadata",
    responses={"200": {"description": "The metadata document", "content": {"application/json": {"schema": _METADATA}}}},
)
def authorization_server_metadata():
    issuer = request.url_root.rstrip("/")

    def endpoint(name: str) -> str:
        return url_for(name, _external=True)

    return {
        "issuer": issuer,
        "token_endpoint": endpoint("oauth.issue_token"),
        "revocation_endpoint": endpoint("oauth.revoke_token"),
        "introspection_endpoint": endpoint("oauth.introspect_token"),
        "grant_types_supported": [ClientCredentialsGrant.GRANT_TYPE],
        "token_endpoint_auth_methods_supported": list(ClientCredentialsGrant.TOKEN_ENDPOINT_AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(TokenRevocationEndpoint.CLIENT_AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(TokenIntrospectionEndpoint.CLIENT_AUTH_METHODS),
        "scopes_supported": list(ALL_SCOPES),
        # RFC 8414 requires this member even without an authorization endpoint (erratum 7793);
        # `none` (OAuth 2.0 Multiple Response Type Encoding Practices) says no response type is
        # issued from one, where an empty list is forbidden by section 3.2.
        "response_types_supported": ["none"],
        "service_documentation": endpoint("api-docs.openapi_swagger_ui"),
    }
