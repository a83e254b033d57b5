"""Who may read the exports: a client presenting its id and secret with HTTP Basic (TAXII 2.1
§1.6.9 requires Basic; MISP and resolvers' zone fetchers send a fixed header) or a Bearer token,
with the same scope, `feeds:read`, either way."""

from __future__ import annotations

from types import SimpleNamespace

from flask import request

from ..auth.oauth2 import authenticate, authenticate_client_secret, query_client
from ..auth.scopes import FEEDS_READ, scope_list
from ..context import Actor, set_actor
from ..errors import abort
from ..ratelimit import check as check_rate_limit
from ..ratelimit import failed_authentication

CHALLENGE = 'Basic realm="blocklist", charset="UTF-8", Bearer realm="blocklist"'


def authenticate_reader() -> None:
    """Authenticate the caller for `feeds:read` by Basic or Bearer, record it as the actor and
    count it against its rate limit. 401 (with both challenges) for a wrong or unusable client
    or token, 403 without the scope."""
    header = request.headers.get("Authorization", "")
    if not header[:6].lower() == "basic ":
        if not header:
            abort(
                401,
                "Credentials are required: HTTP Basic with your client id and secret, or a Bearer token.",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        authenticate(FEEDS_READ)
    else:
        verify = authenticate_client_secret("client_secret_basic")
        client = verify(query_client, SimpleNamespace(headers=request.headers, form={}))
        if client is None:
            failed_authentication()
            abort(
                401,
                "The client id or secret is wrong, or the client or its organisation is not active.",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        if FEEDS_READ not in scope_list(client.scope):
            abort(403, "The client lacks the feeds:read scope.")
        org = client.org
        set_actor(Actor(org.id, org.name, client.client_id, org.kind))
    check_rate_limit()


SECURITY = [{"oauth2": [FEEDS_READ]}, {"clientBasic": []}]
