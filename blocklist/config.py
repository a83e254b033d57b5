"""Settings from the environment, in one place.

Every variable is documented in the README's "Configuration" table; keep the two in step.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path
from typing import Any

ENV_PREFIX = "BLOCKLIST_"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise RuntimeError(f"{ENV_PREFIX}{name} must be an integer, got {value!r}") from exc


def normalise_database_url(url: str) -> str:
    """Return `url` with a driver that is installed.

    A plain ``postgresql://`` URL means psycopg2 to SQLAlchemy; we ship psycopg 3, so the URL is
    rewritten to ``postgresql+psycopg://`` unless psycopg2 is the one installed.
    """
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            rest = url[len(plain):]
            if importlib.util.find_spec("psycopg") is not None:
                return "postgresql+psycopg://" + rest
            return "postgresql://" + rest
    return url


def default_sqlite_url(instance_path: str) -> str:
    return "sqlite:///" + str(Path(instance_path) / "blocklist.sqlite")


def load_settings(instance_path: str) -> dict[str, Any]:
    """Build the Flask config mapping from the environment."""
    database_url = _env("DATABASE_URL") or default_sqlite_url(instance_path)
    secret_key = _env("SECRET_KEY")
    token_lifetime = _env_int("TOKEN_LIFETIME", 3600)
    return {
        "SECRET_KEY": secret_key or secrets.token_urlsafe(32),
        "SECRET_KEY_IS_EPHEMERAL": secret_key is None,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Whole-request body limit; larger bodies get a 413 problem.
        "MAX_CONTENT_LENGTH": _env_int("MAX_BODY_BYTES", 16 * 1024 * 1024),
        "TOKEN_LIFETIME": token_lifetime,
        "OAUTH2_TOKEN_EXPIRES_IN": {"client_credentials": token_lifetime},
        # werkzeug.security method for client secrets; scrypt is a memory-hard password hash.
        "SECRET_HASH_METHOD": _env("SECRET_HASH_METHOD", "scrypt"),
        "PAGE_LIMIT_DEFAULT": 100,
        "PAGE_LIMIT_MAX": 1000,
        # flask-smorest / OpenAPI
        "API_TITLE": "Blocklist exchange",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
    }
