"""Rate limiting per API client (flask-limiter), shared across workers and nodes through Redis.

- `/v1` routes: one budget per authenticated client across the whole API, sized by its org
  kind (``RATE_LIMITS``). It is checked by `check()`, which `auth.oauth2.require` calls right
  after authentication, so the key is the client, never a shared address.
- `/oauth/*` (token, revoke, introspect): ``RATE_LIMIT_TOKEN`` per client id *and* address
  (these are unauthenticated, and every attempt costs a password-hash verification; keying on the
  address too means nobody can lock a carrier out by spraying its public client id). The id is
  the one the OAuth server will authenticate (`context.presented_client`: Basic URL-decoded, else
  the form's), so ``blc%5F…`` and ``blc_…`` share one budget.
- `/oauth/*` also: ``RATE_LIMIT_TOKEN_FAILURES`` failed client authentications per address,
  whatever ids they name (the OAuth server reports each through `failed_authentication()`).
  Once it is spent, every `/oauth/*` request from that address gets a 429 before any hashing.
- `/healthz`, `/readyz`, `/metrics` (and the docs) are never limited.

Over the limit: 429 problem+json with ``Retry-After``. Every limited response carries
``RateLimit-Limit/Remaining/Reset`` (IETF draft; Reset in seconds) and the older
``X-RateLimit-Limit/Remaining/Reset`` (Reset as a Unix time).

Storage: Redis at ``REDIS_URL`` when set (one count shared by every gunicorn worker and node),
else per-process memory. When Redis is unreachable each process counts on its own (in memory)
and retries Redis with back-off: a blocklist that stops answering, or waits on a dead Redis in
every request, is worse than one that is briefly metered per process.
"""

from __future__ import annotations

import math
import time
from typing import cast

from flask import Blueprint, Flask, Response, current_app, g, request
from flask_limiter import Limiter
from limits import parse_many
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException

from .config import Settings, current_settings, settings_of
from .context import Actor, NoActor, client_address, current_actor, presented_client

EXTENSION = "blocklist_ratelimit"
ORG_KINDS = ("carrier", "internet", "consumer", "regulator")
NEVER_LIMITED = {"ops.healthz", "ops.readyz", "ops.metrics"}
OAUTH_KEY_ID_MAX = 100


def _limiter() -> Limiter:
    return current_app.extensions[EXTENSION]["limiter"]


def remote_address() -> str:
    return client_address() or "unknown"


def _caller() -> Actor | None:
    """The authenticated caller, if this request has one yet: flask-limiter also asks for the
    key and the limit outside the authenticated part of a request."""
    try:
        return current_actor()
    except NoActor:
        return None


def _client_key() -> str:
    caller = _caller()
    return "client:" + ((caller.client_id if caller else None) or "unknown")


def _oauth_key() -> str:
    try:
        form = request.form
    except HTTPException:  # e.g. a body over the size limit: the view answers 413 itself
        form = ImmutableMultiDict()
    presented = presented_client(request.headers, form)
    # Cut to a length beyond any real id (64), so a megabyte of "id" is not a megabyte of key.
    client_id = presented.client_id[:OAUTH_KEY_ID_MAX] if presented else ""
    return f"oauth:{client_id}@{remote_address()}"


def _failures_key() -> str:
    return f"oauth-failures:{remote_address()}"


def failed_authentication() -> None:
    """Count this request against its address's budget of failed client authentications
    (``RATE_LIMIT_TOKEN_FAILURES``); the OAuth server calls it when a client fails to
    authenticate. The count is taken when the response is sent."""
    g.blocklist_failed_authentication = True


def _authentication_failed(response: Response) -> bool:
    return bool(g.get("blocklist_failed_authentication"))


def _api_limit() -> str:
    """The limit string for the authenticated caller's org kind."""
    limits = current_settings().rate_limits
    caller = _caller()  # none yet: the strictest (a consumer's)
    return limits.get((caller.org_kind if caller else None) or "", limits["consumer"])


def _breach_detail() -> str:
    current = _limiter().current_limit
    limit = f" of {current.limit}" if current is not None else ""
    return f"Rate limit{limit} exceeded; retry after the number of seconds in Retry-After."


def _failures_breach_detail() -> str:
    return (
        f"Too many failed client authentications from this address "
        f"({current_settings().rate_limit_token_failures}); retry after the number of "
        f"seconds in Retry-After."
    )


def check() -> None:
    """Count this request against the authenticated client's budget.

    Call after authentication (`current_actor()` is the caller). Raises a 429 (rendered as a
    problem by `blocklist.errors`) when the client is over its limit.
    """
    state = current_app.extensions.get(EXTENSION)
    if state and state["limiter"].enabled:
        state["api_check"]()


def _add_headers(response: Response) -> Response:
    limiter = current_app.extensions[EXTENSION]["limiter"]
    current = limiter.current_limit
    if current is None:
        return response
    try:
        reset_at, remaining = current.window  # reset as a Unix time (float), hits left
        remaining = max(remaining, 0)
    except Exception:  # storage unreachable: the request went through unmetered
        current_app.logger.exception("rate limit headers: storage unreachable")
        return response
    seconds = max(1, math.ceil(reset_at - time.time()))
    response.headers["RateLimit-Limit"] = str(current.limit.amount)
    response.headers["RateLimit-Remaining"] = str(remaining)
    response.headers["RateLimit-Reset"] = str(seconds)
    response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(math.ceil(reset_at))
    if response.status_code == 429 and "Retry-After" not in response.headers:
        # A 429 of the rate limit itself; another (the long-poll bounds) says its own wait.
        response.headers["Retry-After"] = str(seconds)
    return response


def _validate(settings: Settings) -> None:
    for name, value in [
        *((f"RATE_LIMIT_{k.upper()}", v) for k, v in settings.rate_limits.items()),
        ("RATE_LIMIT_TOKEN", settings.rate_limit_token),
        ("RATE_LIMIT_TOKEN_FAILURES", settings.rate_limit_token_failures),
    ]:
        try:
            parse_many(value)
        except ValueError as exc:
            raise RuntimeError(f"BLOCKLIST_{name} is not a rate limit like '6000/minute': {value!r}") from exc
    missing = [kind for kind in ORG_KINDS if kind not in settings.rate_limits]
    if missing:
        raise RuntimeError(f"RATE_LIMITS lacks org kinds: {', '.join(missing)}")


def init_app(app: Flask) -> None:
    """Set up the limiter for `app`; call after the OAuth blueprint is registered."""
    settings = settings_of(app)
    _validate(settings)
    limiter = Limiter(
        key_func=remote_address,
        app=app,
        enabled=settings.rate_limit_enabled,
        storage_uri=settings.redis_url or "memory://",
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1} if settings.redis_url else {},
        strategy="fixed-window",
        key_prefix=settings.rate_limit_key_prefix,
        headers_enabled=False,  # our own headers below: Retry-After only on a 429
        in_memory_fallback_enabled=bool(settings.redis_url),
        swallow_errors=True,  # anything else going wrong in the limiter lets the request through
    )
    limiter.request_filter(lambda: request.endpoint in NEVER_LIMITED)

    api_limit = limiter.shared_limit(_api_limit, scope="api", key_func=_client_key, error_message=_breach_detail)

    @api_limit
    def api_check() -> None:
        """Counts one request of the current client against its org kind's limit."""

    oauth_bp = cast(Blueprint | None, app.blueprints.get("oauth"))
    if oauth_bp is not None:
        limiter.shared_limit(
            lambda: current_settings().rate_limit_token,
            scope="oauth",
            key_func=_oauth_key,
            error_message=_breach_detail,
        )(oauth_bp)
        # Tested before the request, counted after it only when authentication failed.
        limiter.shared_limit(
            lambda: current_settings().rate_limit_token_failures,
            scope="oauth-failures",
            key_func=_failures_key,
            deduct_when=_authentication_failed,
            error_message=_failures_breach_detail,
        )(oauth_bp)

    app.extensions[EXTENSION] = {"limiter": limiter, "api_check": api_check}
    if limiter.enabled:
        app.after_request(_add_headers)
