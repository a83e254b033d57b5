"""Who is acting, and in which request: read by services when they write the audit trail."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class Actor:
    org_id: int | None
    org_name: str | None
    client_id: str | None
    org_kind: str | None = None

    @property
    def is_regulator(self) -> bool:
        return self.org_kind == "regulator"


# Changes made from the command line (flask org create, ...): the operator, with a
# regulator's powers, recorded as such in the audit trail.
OPERATOR = Actor(org_id=None, org_name="operator (cli)", client_id=None, org_kind="regulator")
# Changes the service makes by itself (the expiry sweeper and other jobs): no org's powers.
SYSTEM = Actor(org_id=None, org_name="system", client_id=None, org_kind="system")


class NoActor(RuntimeError):
    """A write or an authorisation decision without an authenticated caller: a programming
    error (a route without `require`), never a default."""


def set_actor(actor: Actor) -> None:
    g.actor = actor


def current_actor() -> Actor:
    """The authenticated caller of this request (set by `require`). Routes pass it to the
    services explicitly; there is no default actor: without one this raises `NoActor`."""
    actor = getattr(g, "actor", None) if has_request_context() else None
    if actor is None:
        raise NoActor("no authenticated caller in this request")
    return actor


def current_request_id() -> str | None:
    return getattr(g, "request_id", None) if has_request_context() else None


def client_address() -> str | None:
    return request.remote_addr


@dataclass(frozen=True)
class PresentedClient:
    method: str  # "client_secret_basic" or "client_secret_post"
    client_id: str
    client_secret: str


def presented_client(headers, form) -> PresentedClient | None:
    """The client credentials an ``/oauth/*`` request presents, read the way Authlib reads them
    (its own `extract_basic_authorization`: Basic is URL-decoded, RFC 6749 2.3.1): the Basic
    pair when it has both an id and a secret, else the form's ``client_id``/``client_secret``;
    None when neither. The OAuth server authenticates exactly this client and the rate limiter
    counts against exactly this id, so no encoding of an id gets a budget of its own. One
    method per request (RFC 6749 2.3): with a Basic pair, form credentials are not tried."""
    try:
        client_id, secret = extract_basic_authorization(headers)
    except UnicodeDecodeError:  # Basic credentials that are not UTF-8: none presented
        client_id, secret = None, None
    if client_id and secret:
        return PresentedClient("client_secret_basic", client_id, secret)
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if client_id and secret:
        return PresentedClient("client_secret_post", client_id, secret)
    return None


def current_remote_addr() -> str | None:
    """The caller's address for the audit trail (None outside a request)."""
    return client_address() if has_request_context() else None


def _assign_request_id() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    request_id = getattr(g, "request_id", None)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    # API answers are data, never pages to sniff or cache in shared proxies (OWASP API8).
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith(("/v1/", "/oauth/")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
