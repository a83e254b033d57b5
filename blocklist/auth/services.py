"""Organisations, clients and tokens: the only code that changes them, each change audited.
Every change that can stop a token working invalidates `AUTH_TOPIC` in its transaction: each
worker's cache of validated tokens (`oauth2.TOKENS`) is emptied, here at once and elsewhere at
commit."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from ..audit.actions import Action
from ..audit.services import record
from ..config import current_settings
from ..context import Actor
from ..db import db, execute_count, utcnow
from ..exceptions import Conflict, Invalid, NotFound
from ..listener import invalidate
from .models import Client, Org, Token
from .scopes import DEFAULT_SCOPES, ORG_KINDS, scope_list, scope_string

AUTH_TOPIC = "auth"


def _tokens_may_have_changed() -> None:
    invalidate(AUTH_TOPIC, db.session)


def org_snapshot(org: Org) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "kind": org.kind, "status": org.status, "suspended_at": org.suspended_at}


def client_snapshot(client: Client) -> dict[str, Any]:
    # Never the secret or its hash: the audit trail is readable by auditors.
    return {
        "client_id": client.client_id,
        "org_id": client.org_id,
        "name": client.name,
        "scope": client.scope,
        "revoked_at": client.revoked_at,
        "secret_rotated_at": client.secret_rotated_at,
    }


def get_org(org_id: int) -> Org:
    """Return the org or raise a 404 problem."""
    org = db.session.get(Org, org_id)
    if org is None:
        raise NotFound(f"No organisation with id {org_id}.")
    return org


def get_client(org: Org, client_id: str) -> Client:
    """Return the org's client or raise a 404 problem (also when it belongs to another org)."""
    client = db.session.scalar(select(Client).where(Client.client_id == client_id, Client.org_id == org.id))
    if client is None:
        raise NotFound(f"Organisation {org.id} has no client {client_id!r}.")
    return client


def create_org(name: str, kind: str, *, actor: Actor) -> Org:
    if kind not in ORG_KINDS:
        raise Invalid(f"Unknown org kind {kind!r}.", errors={"kind": [f"Must be one of {', '.join(ORG_KINDS)}."]})
    org = Org(name=name, kind=kind, status="active")
    db.session.add(org)
    try:
        db.session.flush()
    except IntegrityError:  # the request's transaction is rolled back with the error
        raise Conflict(f"An organisation named {name!r} already exists.") from None
    record(Action.ORG_CREATE, "org", org.id, actor=actor, after=org_snapshot(org))
    return org


def set_org_status(org: Org, status: str, reason: str | None = None, *, actor: Actor) -> Org:
    """Suspend or reinstate. Suspending revokes every token of every client of the org, so its
    tokens fail on the very next request and stay dead after a reinstatement (its clients then
    get new ones)."""
    if org.status == status:
        return org
    before = org_snapshot(org)
    org.status = status
    org.suspended_at = utcnow() if status == "suspended" else None
    db.session.flush()
    _tokens_may_have_changed()
    after = org_snapshot(org)
    if status == "suspended":
        after["tokens_revoked"] = _revoke_tokens(Token.client_pk.in_(select(Client.id).where(Client.org_id == org.id)))
    action = Action.ORG_SUSPEND if status == "suspended" else Action.ORG_REINSTATE
    record(action, "org", org.id, actor=actor, before=before, after=after, reason=reason)
    return org


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    return secret, generate_password_hash(secret, method=current_settings().secret_hash_method)


def resolve_client_scope(org: Org, scope: str | None) -> str:
    """The org kind's default scopes, or the requested subset of them (422 beyond them)."""
    allowed = DEFAULT_SCOPES[org.kind]
    if scope is None or not scope.strip():
        return scope_string(allowed)
    requested = scope_list(scope)
    beyond = [s for s in requested if s not in allowed]
    if beyond:
        raise Invalid(
            f"A {org.kind} org's client may not hold: {' '.join(beyond)}.",
            errors={"scope": [f"Allowed for {org.kind}: {' '.join(allowed)}."]},
        )
    return scope_string(requested)


def create_client(org: Org, *, actor: Actor, name: str = "", scope: str | None = None) -> tuple[Client, str]:
    """Create a client; returns it and its secret (shown this once, stored only hashed)."""
    if not org.is_active:
        raise Conflict("The organisation is suspended; reinstate it before adding clients.")
    secret, secret_hash = _new_secret()
    client = Client(
        client_id="blc_" + secrets.token_hex(12),
        org_id=org.id,
        name=name,
        secret_hash=secret_hash,
        scope=resolve_client_scope(org, scope),
    )
    client.org = org
    db.session.add(client)
    db.session.flush()
    record(Action.CLIENT_CREATE, "client", client.client_id, actor=actor, after=client_snapshot(client))
    return client, secret


def _revoke_tokens(which) -> int:
    """Revoke the unrevoked tokens matching the `which` condition; returns how many."""
    _tokens_may_have_changed()
    return execute_count(update(Token).where(which, Token.revoked_at.is_(None)).values(revoked_at=utcnow()))


def _revoke_client_tokens(client: Client) -> None:
    _revoke_tokens(Token.client_pk == client.id)


def rotate_client_secret(client: Client, *, actor: Actor) -> str:
    """New secret for the client; the old secret and every token issued under it stop working."""
    if client.revoked_at is not None:
        raise Conflict("The client is revoked; create a new one instead.")
    before = client_snapshot(client)
    secret, client.secret_hash = _new_secret()
    client.secret_rotated_at = utcnow()
    _revoke_client_tokens(client)
    db.session.flush()
    record(Action.CLIENT_ROTATE, "client", client.client_id, actor=actor, before=before, after=client_snapshot(client))
    return secret


def revoke_client(client: Client, *, actor: Actor) -> Client:
    if client.revoked_at is not None:
        return client
    before = client_snapshot(client)
    client.revoked_at = utcnow()
    _revoke_client_tokens(client)
    _tokens_may_have_changed()
    db.session.flush()
    record(Action.CLIENT_REVOKE, "client", client.client_id, actor=actor, before=before, after=client_snapshot(client))
    return client


def revoke_token(token: Token, *, actor: Actor) -> None:
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    db.session.flush()
    _tokens_may_have_changed()
    # The token itself is never recorded, only which of the client's tokens it was.
    record(
        Action.TOKEN_REVOKE,
        "token",
        token.id,
        actor=actor,
        after={"client_id": token.client.client_id, "revoked_at": token.revoked_at},
    )
