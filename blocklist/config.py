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

DAY = 24 * 3600
# Numbers are reassigned to new subscribers, URLs are short-lived; ranges, codes and keywords
# stay bad for longer. Override with BLOCKLIST_TTL_<KIND>.
DEFAULT_TTL = {
    "number": 180 * DAY,
    "code": 365 * DAY,
    "range": 365 * DAY,
    "keyword": 365 * DAY,
    "url": 30 * DAY,
    "domain": 90 * DAY,
}
# Requests per API client, by org kind (any limits-library string, e.g. "100/second;6000/minute").
# Carriers poll the feed every few seconds and send batch look-ups; marking apps query heavily;
# regulators are few people; consumers export in bulk (few, large requests).
# Override with BLOCKLIST_RATE_LIMIT_<KIND>.
DEFAULT_RATE_LIMITS = {
    "carrier": "6000/minute",
    "internet": "6000/minute",
    "consumer": "600/minute",
    "regulator": "1200/minute",
}


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def _env_int(name: str, default: int | None) -> int | None:
    value = _env(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise RuntimeError(f"{ENV_PREFIX}{name} must be an integer, got {value!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise RuntimeError(f"{ENV_PREFIX}{name} must be true or false, got {value!r}")


def normalise_database_url(url: str) -> str:
    """Return `url` with a driver that is installed.

    A plain ``postgresql://`` URL means psycopg2 to SQLAlchemy; we ship psycopg 3, so the URL is
    rewritten to ``postgresql+psycopg://`` unless psycopg2 is the one installed.
    """
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            rest = url[len(plain) :]
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
        # Entries: numbers without a country code are read in this region (ISO 3166 alpha-2).
        "DEFAULT_REGION": (_env("DEFAULT_REGION", "CN") or "CN").upper(),
        # Default time-to-live per kind, seconds (0: never expires); publishers may set their own.
        "ENTRY_TTL": {kind: _env_int(f"TTL_{kind.upper()}", default) for kind, default in DEFAULT_TTL.items()},
        # Breadth limits for non-regulators: the most numbers one published range may cover,
        # and the fewest folded characters a keyword may have (regulators are not limited).
        "MAX_RANGE_SPAN": _env_int("MAX_RANGE_SPAN", 10_000),
        "MIN_KEYWORD_CHARS": _env_int("MIN_KEYWORD_CHARS", 3),
        # How long a stored Idempotency-Key answer is replayed.
        "IDEMPOTENCY_TTL": _env_int("IDEMPOTENCY_TTL", 24 * 3600),
        # Rate limiting (blocklist/ratelimit.py); Redis makes the counts shared by all workers.
        "REDIS_URL": _env("REDIS_URL") or None,
        "RATE_LIMIT_ENABLED": _env_bool("RATE_LIMIT_ENABLED", True),
        "RATE_LIMITS": {
            kind: _env(f"RATE_LIMIT_{kind.upper()}") or default for kind, default in DEFAULT_RATE_LIMITS.items()
        },
        "RATE_LIMIT_TOKEN": _env("RATE_LIMIT_TOKEN") or "60/minute",
        # Failed client authentications per caller address on /oauth/* (each costs a hash).
        "RATE_LIMIT_TOKEN_FAILURES": _env("RATE_LIMIT_TOKEN_FAILURES") or "10/minute",
        "RATE_LIMIT_KEY_PREFIX": _env("RATE_LIMIT_KEY_PREFIX") or "blocklist",
        "RATE_LIMIT_PROXY_HOPS": _env_int("RATE_LIMIT_PROXY_HOPS", 0),
        # POST /v1/check: longest text in characters (longer: 413), and how many keywords may be
        # added to or dropped from the active set before the main automaton is rebuilt.
        "CHECK_MAX_TEXT": _env_int("CHECK_MAX_TEXT", 65536),
        "CHECK_REBUILD_AFTER": _env_int("CHECK_REBUILD_AFTER", 2000),
        # Feed: days of change log kept (older cursors get 410 and re-snapshot), and seconds
        # between expiry sweeps in each serving process (0: only `flask expire` / the timer).
        "FEED_RETENTION_DAYS": _env_int("FEED_RETENTION_DAYS", 7),
        "SWEEP_INTERVAL": _env_int("SWEEP_INTERVAL", 5),
        # Long-polls (blocklist/feeds/longpoll.py): threads per gunicorn worker (the same variable
        # deploy/gunicorn.conf.py reads), threads per worker never given to long-polls, and the
        # waiting long-polls allowed per worker (unset: half the threads; clamped at start-up to
        # THREADS - LONGPOLL_FREE_THREADS) and per API client in one worker.
        "THREADS": _env_int("THREADS", 8),
        "LONGPOLL_FREE_THREADS": _env_int("LONGPOLL_FREE_THREADS", 2),
        "LONGPOLL_PER_WORKER": _env_int("LONGPOLL_PER_WORKER", None),
        "LONGPOLL_PER_CLIENT": _env_int("LONGPOLL_PER_CLIENT", 2),
        # Snapshots and checksums (blocklist/feeds/snapshot.py), seconds: longest wait for the
        # client to take one streamed chunk; longest idle gap inside the snapshot's transaction
        # and longest statement (PostgreSQL), after which the server ends the transaction.
        "SNAPSHOT_SEND_TIMEOUT": _env_int("SNAPSHOT_SEND_TIMEOUT", 30),
        "SNAPSHOT_IDLE_TIMEOUT": _env_int("SNAPSHOT_IDLE_TIMEOUT", 60),
        "SNAPSHOT_STATEMENT_TIMEOUT": _env_int("SNAPSHOT_STATEMENT_TIMEOUT", 1800),
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
