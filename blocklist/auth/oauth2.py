"""The OAuth 2 authorization server (client credentials, RFC 7009, RFC 7662) and the resource
protector every /v1 route goes through. Thin glue around Authlib's classes."""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, current_app, request
from flask_smorest import Blueprint
from sqlalchemy import select
from werkzeug import security

from ..apidoc import RETRY_AFTER, problem
from ..config import settings_of
from ..context import Actor, presented_client, set_actor
from ..db import db, utcnow
from ..errors import abort
from ..ratelimit import check as check_rate_limit
from ..ratelimit import failed_authentication
from ..reads import Cache, usable
from . import services
from .models import Client, Org, OrgStanding, Token, hash_token
from .scopes import ALL_SCOPES, scope_list

CLIENT_ID_MAX: int = Client.__mapper__.columns["client_id"].type.length  # type: ignore[attr-defined]


def query_client(client_id: str) -> Client | None:
    """The client with this id, or None (also, without a query, for ids no client can have:
    longer than the column, or with control characters such as NUL that PostgreSQL refuses)."""
    if not 0 < len(client_id) <= CLIENT_ID_MAX or not client_id.isprintable():
        return None
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def authenticate_client_secret(method: str) -> Callable:
    """Authlib client-auth function for `method` ("client_secret_basic" or "_post").

    Reads the credentials with `context.presented_client` (the rate limiter keys on the same
    id), and does one password-hash verification for every presented secret: a known client's
    hash, or for an unknown id a dummy hash of the same method, so neither the time taken nor
    the answer (Authlib's one `invalid_client`) tells which ids exist. A revoked client or a
    suspended org fails after the same verification."""

    def authenticate(query_client, request) -> Client | None:
        presented = presented_client(request.headers, request.form)
        if presented is None or presented.method != method:
            return None
        client = query_client(presented.client_id)
        if client is None:
            dummy_hash = current_app.extensions["blocklist_oauth2"]["dummy_secret_hash"]
            security.check_password_hash(dummy_hash, presented.client_secret)
            return None
        return client if client.check_client_secret(presented.client_secret) else None

    return authenticate


class OAuthServer(AuthorizationServer):
    def authenticate_client(self, request, methods, endpoint="token"):
        """Authlib's, plus: a failed client authentication counts against the caller's address
        (`ratelimit.failed_authentication`)."""
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError:
            failed_authentication()
            raise


def query_token(token_string: str) -> Token | None:
    return db.session.scalar(select(Token).where(Token.token_hash == hash_token(token_string)))


def _lock_client_as_authenticated(client: Client) -> None:
    """Share-lock the client's and then its org's rows until the token is committed; raise
    invalid_client if a revocation, rotation or suspension committed since the client
    authenticated. Such a change either committed first (and is seen here) or waits for this
    commit, and then revokes the new token with the others: none slips between the two."""
    secret_hash, revoked_at = db.session.execute(
        select(Client.secret_hash, Client.revoked_at).where(Client.id == client.id).with_for_update(read=True)
    ).one()
    org_status = db.session.scalar(select(Org.status).where(Org.id == client.org_id).with_for_update(read=True))
    if secret_hash != client.secret_hash or revoked_at is not None or org_status != "active":
        raise InvalidClientError(
            status_code=401,
            description=("The client was revoked or rotated, or its organisation suspended, during this request."),
        )


def save_token(token: dict[str, Any], request) -> None:
    client: Client = request.client
    _lock_client_as_authenticated(client)
    db.session.add(
        Token(
            token_hash=hash_token(token["access_token"]),
            client_pk=client.id,
            scope=token.get("scope", ""),
            issued_at=utcnow(),
            expires_at=utcnow() + dt.timedelta(seconds=int(token["expires_in"])),
        )
    )
    db.session.flush()  # the token endpoint's unit of work commits it with the answer


def generate_access_token(client, grant_type, user, scope) -> str:
    # 256 bits of randomness; the "blx_" prefix lets secret scanners recognise leaked tokens.
    return "blx_" + secrets.token_urlsafe(32)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = scope_list(self.request.payload.scope)
        allowed = scope_list(self.request.client.scope)
        extra = [s for s in requested if s not in allowed]
        if extra:
            raise InvalidScopeError(f"Scope not granted to this client: {' '.join(extra)}")


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,40}")


def malformed(request, *, grant: bool) -> OAuth2Error | None:
    """Why an ``/oauth/*`` request is `invalid_request` before any client is authenticated
    (RFC 6749 5.2), or None: a parameter given more than once, in the body or the query (3.2:
    "MUST NOT be included more than once"); HTTP Basic and a ``client_secret`` in the body at
    once (2.3: "MUST NOT use more than one authentication method"); for the token endpoint
    (`grant`), no ``grant_type`` (an unknown one stays `unsupported_grant_type`)."""
    counts = Counter(name for params in (request.args, request.form) for name, _ in params.items(multi=True))
    repeated = [name for name, n in counts.items() if n > 1]
    if repeated:
        # error_description allows only printable ASCII but '"' and '\\' (RFC 6749 5.2): name
        # only the parameters that are plain words, and at most a few.
        named = sorted(name for name in repeated if _PLAIN_NAME.fullmatch(name))[:5]
        return InvalidRequestError(
            "Each parameter may be given once (RFC 6749 3.2)" + (f"; repeated: {', '.join(named)}." if named else ".")
        )
    # Basic counts as a method when it carries an id and a secret, as `presented_client` reads
    # it (a colon-less Basic value is no credential: Authlib ignores it and reads the form).
    try:
        basic_id, basic_secret = extract_basic_authorization(request.headers)
    except UnicodeDecodeError:
        basic_id, basic_secret = None, None
    if basic_id and basic_secret and "client_secret" in request.form:
        return InvalidRequestError(
            "Authenticate the client one way per request (RFC 6749 2.3): HTTP Basic or "
            "client_id/client_secret in the body, not both."
        )
    if grant and not request.form.get("grant_type"):
        return InvalidRequestError("The grant_type parameter is required (client_credentials).")
    return None


def _check_token_param(request) -> None:
    """RFC 7009 2.1 / RFC 7662 2.1: `token` is required; `token_type_hint` is only a hint, so an
    unknown one is ignored (the token is looked up among every type: there is only one)."""
    if not request.form.get("token"):
        raise InvalidRequestError("The token parameter is required.")


class TokenRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def check_params(self, request, client) -> None:
        _check_token_param(request)

    def query_token(self, token_string, token_type_hint):
        return query_token(token_string)

    def revoke_token(self, token: Token, request) -> None:
        client: Client = request.client
        actor = Actor(client.org.id, client.org.name, client.client_id, client.org.kind)
        set_actor(actor)
        services.revoke_token(token, actor=actor)


class TokenIntrospectionEndpoint(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def check_params(self, request, client) -> None:
        _check_token_param(request)

    def query_token(self, token_string, token_type_hint):
        return query_token(token_string)

    def check_permission(self, token: Token, client: Client, request) -> bool:
        # A client may introspect its own tokens; a regulator (the admin side) any token.
        return token.client_pk == client.id or client.org.is_regulator

    def create_introspection_payload(self, token: Token | None) -> dict[str, Any]:
        if token is None or not token.is_usable():
            return {"active": False}
        return self.introspect_token(token)

    def introspect_token(self, token: Token) -> dict[str, Any]:
        return {
            "active": True,
            "client_id": token.client.client_id,
            "token_type": "Bearer",
            "scope": token.scope,
            "sub": token.client.client_id,
            "org_id": token.client.org_id,
            "org_kind": token.client.org.kind,
            "exp": int(token.expires_at.timestamp()),
            "iat": int(token.issued_at.timestamp()),
        }


@dataclass(frozen=True)
class OrgState(OrgStanding):
    id: int
    name: str
    kind: str
    status: str


@dataclass(frozen=True)
class ClientState:
    id: int
    client_id: str
    revoked_at: dt.datetime | None
    org: OrgState


@dataclass(frozen=True)
class TokenState:
    """What a request needs of its bearer token, its client and org, as read from the database:
    plain values, so it can outlive the session and be shared by a worker's threads."""

    scope: str
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    client: ClientState

    @classmethod
    def of(cls, token: Token) -> TokenState:
        client, org = token.client, token.client.org
        org_state = OrgState(org.id, org.name, org.kind, org.status)
        client_state = ClientState(client.id, client.client_id, client.revoked_at, org_state)
        return cls(token.scope, token.expires_at, token.revoked_at, client_state)

    # --- what Authlib's BearerTokenValidator asks -------------------------------------------
    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


# Validated tokens by hash, per worker process: emptied whenever a token is revoked, a client
# revoked or rotated, or an org suspended or reinstated (`services.AUTH_TOPIC`, pushed to every
# worker by LISTEN/NOTIFY). Expiry is checked on every use. Unknown tokens are never stored.
TOKENS = Cache(services.AUTH_TOPIC)


def bearer_token(token_string: str) -> TokenState | None:
    """The state of the token with this bearer string: from the worker's cache when
    `reads.usable()`, else (and on a miss) one query, which joins the client and the org."""
    key = hash_token(token_string)
    cached = usable()
    if cached:
        hit = TOKENS.get(key)
        if hit is not None:
            return hit
    generation = TOKENS.generation
    token = db.session.scalar(select(Token).where(Token.token_hash == key))
    if token is None:
        return None
    state = TokenState.of(token)
    if cached:
        TOKENS.put(key, state, generation)
    return state


class TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> TokenState | None:
        return bearer_token(token_string)

    def validate_token(self, token: TokenState | None, scopes, request) -> None:
        # Say why an unexpired token fails when it is its client or org (suspension also
        # revokes the tokens, so this comes before the revocation check).
        if token is not None and not token.is_expired():
            if token.client.revoked_at is not None:
                raise InvalidTokenError(description="The client of this token has been revoked.", realm=self.realm)
            if not token.client.org.is_active:
                raise InvalidTokenError(description="The organisation is suspended.", realm=self.realm)
        super().validate_token(token, scopes, request)


class ProblemResourceProtector(ResourceProtector):
    """Authlib raises its own HTTPException whose body flask-smorest's handler drops; raise
    through our problem abort instead so 401/403 keep their detail and WWW-Authenticate."""

    def raise_error_response(self, error: OAuth2Error) -> NoReturn:
        headers = dict(error.get_headers())
        headers.pop("Content-Type", None)
        body = dict(error.get_body())
        if error.status_code == 403:  # RFC 6750 3.1: tell the client which error, in the header too
            headers.setdefault("WWW-Authenticate", f'Bearer error="{body.get("error")}"')
        detail = body.get("error_description") or {
            "missing_authorization": "An access token is required (Authorization: Bearer …).",
            "invalid_token": "The access token is invalid, expired or revoked.",
            "insufficient_scope": "The access token lacks the scope this operation requires.",
        }.get(str(body.get("error")), "Not authorised.")
        abort(error.status_code, detail, headers=headers, error=body.get("error"))


def _protector() -> ProblemResourceProtector:
    return current_app.extensions["blocklist_oauth2"]["protector"]


def authorization_server() -> AuthorizationServer:
    return current_app.extensions["blocklist_oauth2"]["server"]


def _cached_valid_token(scope: str | None) -> TokenState | None:
    """The request's bearer token when the worker's cache holds it (so Authlib validated that
    very string before) and `TokenValidator.validate_token` passes it for `scope`; else None,
    and Authlib's whole path decides (and says why a token fails). Saves a look-up the request
    object Authlib builds from the whole request (about a quarter of a look-up's time)."""
    parts = request.headers.get("Authorization", "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer" or not usable():
        return None
    token = TOKENS.get(hash_token(parts[1]))
    if token is None:
        return None
    try:
        _protector().get_token_validator("bearer").validate_token(token, [scope] if scope else None, None)
    except OAuth2Error:
        return None
    return token


def authenticate(scope: str | None) -> TokenState:
    """Validate the bearer token for `scope` and record the caller as the current actor.

    Raises a 401 problem for a missing/bad/expired/revoked token, 403 for a missing scope.
    """
    token = _cached_valid_token(scope)
    if token is None:
        protector = _protector()
        try:
            token = protector.acquire_token([scope] if scope else None)
        except OAuth2Error as error:
            protector.raise_error_response(error)
    org = token.client.org
    set_actor(Actor(org.id, org.name, token.client.client_id, org.kind))
    return token


def require(scope: str | None, *, regulator: bool = False) -> Callable:
    """Route decorator: a valid token with `scope` (None: any valid token), and if `regulator`
    of a regulator org.

    Also documents the route's security requirement and its 401/403/429 answers in the spec.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            token = authenticate(scope)
            check_rate_limit()  # per client, so only once the client is known
            if regulator and not token.client.org.is_regulator:
                abort(403, "Only a regulator may do this.")
            return view(*args, **kwargs)

        return Blueprint.doc(
            security=[{"oauth2": [scope] if scope else []}],
            responses={
                "401": problem(
                    "Missing, invalid, expired or revoked token",
                    {
                        "WWW-Authenticate": {
                            "schema": {"type": "string"},
                            "description": "Bearer challenge (RFC 6750), with `error` for a bad token",
                        }
                    },
                ),
                "403": problem("Token lacks the scope, or the org may not do this"),
                "429": problem("The client is over its rate limit; retry after `Retry-After` seconds", RETRY_AFTER),
                "503": problem("The database is unavailable; retry after `Retry-After` seconds", RETRY_AFTER),
            },
        )(wrapper)

    return decorator


def init_app(app: Flask) -> None:
    # One server and protector per app, so several apps (tests, workers) never share state.
    app.config.setdefault("OAUTH2_ACCESS_TOKEN_GENERATOR", generate_access_token)
    server = OAuthServer(app, query_client=query_client, save_token=save_token)
    for method in ("client_secret_basic", "client_secret_post"):
        server.register_client_auth_method(method, authenticate_client_secret(method))
    server.scopes_supported = list(ALL_SCOPES)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(TokenRevocationEndpoint)
    server.register_endpoint(TokenIntrospectionEndpoint)
    protector = ProblemResourceProtector()
    protector.register_token_validator(TokenValidator())
    # Verified against for unknown client ids: the same method, so the same cost, as real ones.
    dummy_hash = security.generate_password_hash(secrets.token_urlsafe(32), method=settings_of(app).secret_hash_method)
    app.extensions["blocklist_oauth2"] = {"server": server, "protector": protector, "dummy_secret_hash": dummy_hash}
