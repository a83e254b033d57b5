"""Organisations, their OAuth clients and the access tokens issued to them."""

from __future__ import annotations

import datetime as dt
import hashlib

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug import security

from ..db import Base, UTCDateTime, utcnow
from .scopes import scope_list


class OrgStanding:
    """What an org's kind and status say, for the model and for the per-worker cached copy of
    it (`oauth2.OrgState`) alike."""

    kind: str
    status: str

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def is_regulator(self) -> bool:
        return self.kind == "regulator"


class Org(OrgStanding, Base):
    __tablename__ = "orgs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    clients: Mapped[list[Client]] = relationship(back_populates="org", order_by="Client.id")


class Client(Base, ClientMixin):
    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    secret_hash: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    secret_rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    org: Mapped[Org] = relationship(back_populates="clients", lazy="joined")

    @property
    def is_usable(self) -> bool:
        """A client authenticates only while it is not revoked and its org is not suspended."""
        return self.revoked_at is None and self.org.is_active

    # --- Authlib ClientMixin ---------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = scope_list(self.scope)
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in scope_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        # The hash first, always: a revoked client or suspended org must not answer faster.
        matches = security.check_password_hash(self.secret_hash, client_secret)
        return matches and self.is_usable

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


def hash_token(token: str) -> str:
    """Tokens are stored as their SHA-256: a leaked table grants nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


class Token(Base, TokenMixin):
    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id"), index=True)
    scope: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    client: Mapped[Client] = relationship(lazy="joined")

    # --- Authlib TokenMixin ----------------------------------------------------------------
    def check_client(self, client: Client) -> bool:
        return self.client_pk == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - utcnow()).total_seconds()))

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_client(self) -> Client:
        return self.client

    def get_user(self) -> None:
        return None

    def is_usable(self) -> bool:
        """Valid now: not expired, not revoked, its client not revoked, its org not suspended."""
        return not self.is_expired() and not self.is_revoked() and self.client.is_usable
