"""Settings from the environment, in one place: a frozen, typed `Settings` built once per app.

Every variable is documented in the README's "Configuration" table; keep the two in step. Code
reads `current_settings()` (in a request or app context) or `settings_of(app)` (at start-up);
nothing reads the environment or `app.config` for the service's own settings. Tests build an
app with overrides by field name (`create_app({"max_range_span": 100})`): a misspelt or dead
name is a TypeError, not a silently ignored key.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from flask import Flask, current_app

from .values.trust import DEFAULT_HALF_LIFE, DEFAULT_WEIGHTS, TrustRules

ENV_PREFIX = "BLOCKLIST_"
EXTENSION = "blocklist.settings"

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
    # Subjects stay listed until their listing is ended or expires; a regulator's list runs years.
    "enterprise": 3 * 365 * DAY,
    "person": 3 * 365 * DAY,
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


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    database_url: str
    secret_key: str
    testing: bool = False
    # Whole-request body limit; larger bodies get a 413 problem.
    max_body_bytes: int = 16 * 1024 * 1024
    token_lifetime: int = 3600
    # werkzeug.security method for client secrets; scrypt is a memory-hard password hash.
    secret_hash_method: str = "scrypt"
    # Entries: numbers without a country code are read in this region (ISO 3166 alpha-2).
    default_region: str = "CN"
    # Default time-to-live per kind, seconds (0: never expires); publishers may set their own.
    entry_ttl: Mapping[str, int] = field(default_factory=lambda: _frozen(DEFAULT_TTL))
    # Breadth limits for non-regulators: the most numbers one published range may cover,
    # and the fewest folded characters a keyword may have (regulators are not limited).
    max_range_span: int = 10_000
    min_keyword_chars: int = 3
    # How long a stored Idempotency-Key answer is replayed, seconds.
    idempotency_ttl: int = DAY
    # Rate limiting (blocklist/ratelimit.py); Redis makes the counts shared by all workers.
    redis_url: str | None = None
    rate_limit_enabled: bool = True
    rate_limits: Mapping[str, str] = field(default_factory=lambda: _frozen(DEFAULT_RATE_LIMITS))
    rate_limit_token: str = "60/minute"
    # Failed client authentications per caller address on /oauth/* (each costs a hash).
    rate_limit_token_failures: str = "10/minute"
    rate_limit_key_prefix: str = "blocklist"
    rate_limit_proxy_hops: int = 0
    # POST /v1/check: longest text in characters (longer: 413), and how many keywords may be
    # added to or dropped from the active set before the main automaton is rebuilt.
    check_max_text: int = 65536
    check_rebuild_after: int = 2000
    # Feed: days of change log kept (older cursors get 410 and re-snapshot), and seconds
    # between expiry sweeps in each serving process (0: only `flask expire` / the timer).
    feed_retention_days: int = 7
    sweep_interval: int = 5
    # Long-polls (blocklist/feeds/longpoll.py): threads per gunicorn worker (the same variable
    # deploy/gunicorn.conf.py reads), threads per worker never given to long-polls, and the
    # waiting long-polls allowed per worker (None: half the threads; clamped at start-up to
    # THREADS - LONGPOLL_FREE_THREADS) and per API client in one worker.
    threads: int = 8
    longpoll_free_threads: int = 2
    longpoll_per_worker: int | None = None
    longpoll_per_client: int = 2
    # Snapshots and checksums (blocklist/feeds/snapshot.py), seconds: longest wait for the
    # client to take one streamed chunk; longest idle gap inside the snapshot's transaction
    # and longest statement (PostgreSQL), after which the server ends the transaction.
    snapshot_send_timeout: int = 30
    snapshot_idle_timeout: int = 60
    snapshot_statement_timeout: int = 1800
    # The audit trail's checkpoint signing key (PEM), and public keys (PEM files) of earlier
    # signing keys whose checkpoints stay verifiable after a rotation.
    audit_signing_key_file: str = ""
    audit_retired_public_keys: tuple[str, ...] = ()
    # Seconds between signed tree heads of the audit transparency log (`flask audit sth --loop`).
    sth_interval: int = 60
    # Person subjects (blocklist/values/subjects.py): the file of peppers, one per line, the
    # first current and the rest retired but still matched; and the peppers read from it at
    # start-up (never in a repr or a log line).
    subject_pepper_file: str = ""
    subject_peppers: tuple[str, ...] = field(default=(), repr=False)
    # Trust (blocklist/values/trust.py): the score and tier rule's constants, and the most
    # entries the tier job re-assesses per transaction.
    trust: TrustRules = field(default_factory=TrustRules)
    tier_batch: int = 10_000
    # Disputes: hours to acknowledge, days to resolve (from filing); later ones are overdue.
    dispute_ack_hours: int = 48
    dispute_resolve_days: int = 14
    # The read path (blocklist/reads.py): validated tokens and the allowlist cached per worker,
    # emptied by LISTEN/NOTIFY (PostgreSQL only); the longest a `min_cursor` read waits,
    # milliseconds; an optional PostgreSQL streaming replica for the matching queries.
    read_cache: bool = True
    min_cursor_wait_ms: int = 2000
    replica_url: str | None = None
    # The node index file (blocklist/nodeindex): look-ups and checks read it instead of the
    # database; None (the default) reads the database.
    node_index: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))
        if self.replica_url:
            object.__setattr__(self, "replica_url", normalise_database_url(self.replica_url))
        object.__setattr__(self, "default_region", self.default_region.upper())
        object.__setattr__(self, "entry_ttl", _frozen(self.entry_ttl))
        object.__setattr__(self, "rate_limits", _frozen(self.rate_limits))
        object.__setattr__(self, "audit_retired_public_keys", tuple(self.audit_retired_public_keys))
        object.__setattr__(self, "subject_peppers", tuple(self.subject_peppers))

    @classmethod
    def from_env(cls, instance_path: str, environ: Mapping[str, str] = os.environ) -> Settings:
        env = _Env(environ)
        pepper_file = env.text("SUBJECT_PEPPER") or str(Path(instance_path) / "subject-pepper")
        return cls(
            database_url=env.text("DATABASE_URL") or default_sqlite_url(instance_path),
            secret_key=env.text("SECRET_KEY") or secrets.token_urlsafe(32),
            max_body_bytes=env.integer("MAX_BODY_BYTES", 16 * 1024 * 1024),
            token_lifetime=env.integer("TOKEN_LIFETIME", 3600),
            secret_hash_method=env.text("SECRET_HASH_METHOD") or "scrypt",
            default_region=env.text("DEFAULT_REGION") or "CN",
            entry_ttl={kind: env.integer(f"TTL_{kind.upper()}", ttl) for kind, ttl in DEFAULT_TTL.items()},
            max_range_span=env.integer("MAX_RANGE_SPAN", 10_000),
            min_keyword_chars=env.integer("MIN_KEYWORD_CHARS", 3),
            idempotency_ttl=env.integer("IDEMPOTENCY_TTL", DAY),
            redis_url=env.text("REDIS_URL"),
            rate_limit_enabled=env.flag("RATE_LIMIT_ENABLED", True),
            rate_limits={
                kind: env.text(f"RATE_LIMIT_{kind.upper()}") or limit for kind, limit in DEFAULT_RATE_LIMITS.items()
            },
            rate_limit_token=env.text("RATE_LIMIT_TOKEN") or "60/minute",
            rate_limit_token_failures=env.text("RATE_LIMIT_TOKEN_FAILURES") or "10/minute",
            rate_limit_key_prefix=env.text("RATE_LIMIT_KEY_PREFIX") or "blocklist",
            rate_limit_proxy_hops=env.integer("RATE_LIMIT_PROXY_HOPS", 0),
            check_max_text=env.integer("CHECK_MAX_TEXT", 65536),
            check_rebuild_after=env.integer("CHECK_REBUILD_AFTER", 2000),
            feed_retention_days=env.integer("FEED_RETENTION_DAYS", 7),
            sweep_interval=env.integer("SWEEP_INTERVAL", 5),
            threads=env.integer("THREADS", 8),
            longpoll_free_threads=env.integer("LONGPOLL_FREE_THREADS", 2),
            longpoll_per_worker=env.optional_integer("LONGPOLL_PER_WORKER"),
            longpoll_per_client=env.integer("LONGPOLL_PER_CLIENT", 2),
            snapshot_send_timeout=env.integer("SNAPSHOT_SEND_TIMEOUT", 30),
            snapshot_idle_timeout=env.integer("SNAPSHOT_IDLE_TIMEOUT", 60),
            snapshot_statement_timeout=env.integer("SNAPSHOT_STATEMENT_TIMEOUT", 1800),
            audit_signing_key_file=env.text("AUDIT_SIGNING_KEY_FILE")
            or str(Path(instance_path) / "audit-signing-key.pem"),
            audit_retired_public_keys=tuple(
                p.strip() for p in (env.text("AUDIT_RETIRED_PUBLIC_KEYS") or "").split(",") if p.strip()
            ),
            sth_interval=env.integer("STH_INTERVAL", 60),
            subject_pepper_file=pepper_file,
            subject_peppers=read_peppers(pepper_file),
            trust=TrustRules(
                weights={k: env.integer(f"TRUST_WEIGHT_{k.upper()}", w) for k, w in DEFAULT_WEIGHTS.items()},
                per_extra_org=env.integer("TRUST_PER_EXTRA_ORG", 15),
                half_life={k: env.integer(f"HALF_LIFE_{k.upper()}", h) for k, h in DEFAULT_HALF_LIFE.items()},
                block_at=env.integer("TRUST_BLOCK_AT", 60),
                label_at=env.integer("TRUST_LABEL_AT", 30),
                fp_penalty=env.integer("TRUST_FP_PENALTY", 10),
                fp_watch_orgs=env.integer("TRUST_FP_WATCH_ORGS", 3),
            ),
            tier_batch=env.integer("TIER_BATCH", 10_000),
            dispute_ack_hours=env.integer("DISPUTE_ACK_HOURS", 48),
            dispute_resolve_days=env.integer("DISPUTE_RESOLVE_DAYS", 14),
            read_cache=env.flag("READ_CACHE", True),
            min_cursor_wait_ms=env.integer("MIN_CURSOR_WAIT_MS", 2000),
            replica_url=env.text("REPLICA_URL"),
            node_index=env.text("NODE_INDEX"),
        )

    def replace(self, changes: Mapping[str, Any]) -> Settings:
        """These settings with `changes` (field names); an unknown name raises TypeError."""
        return dataclasses.replace(self, **changes)

    def flask_config(self) -> dict[str, Any]:
        """The keys Flask and its extensions read from `app.config`, derived from these settings."""
        # No pool_pre_ping: db.ping_after_idle pings only connections that sat idle.
        engine_options: dict[str, Any] = {}
        if self.database_url.startswith("sqlite"):
            # Several gunicorn workers share the file: wait for the write lock instead of failing.
            engine_options["connect_args"] = {"timeout": 30}
        return {
            "TESTING": self.testing,
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "MAX_CONTENT_LENGTH": self.max_body_bytes,
            "OAUTH2_TOKEN_EXPIRES_IN": {"client_credentials": self.token_lifetime},
            # flask-smorest / OpenAPI; Swagger UI assets come from the package itself:
            # carrier networks are closed.
            "API_TITLE": "Blocklist exchange",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.1.0",
            "OPENAPI_URL_PREFIX": "/",
            "OPENAPI_JSON_PATH": "openapi.json",
            "OPENAPI_SWAGGER_UI_PATH": "docs",
            "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
        }


class _Env:
    """Typed reads of BLOCKLIST_* variables; a malformed value stops start-up with its name."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def text(self, name: str) -> str | None:
        return self._environ.get(ENV_PREFIX + name) or None

    def optional_integer(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError as exc:
            raise RuntimeError(f"{ENV_PREFIX}{name} must be an integer, got {value!r}") from exc

    def integer(self, name: str, default: int) -> int:
        value = self.optional_integer(name)
        return default if value is None else value

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in {"1", "true", "yes", "on"}:
            return True
        if value.lower() in {"0", "false", "no", "off"}:
            return False
        raise RuntimeError(f"{ENV_PREFIX}{name} must be true or false, got {value!r}")


MIN_PEPPER_CHARS = 16


def read_peppers(path: str) -> tuple[str, ...]:
    """The peppers in the file, one a line (blank lines and `#` comments skipped), current
    first; none when the file does not exist. A pepper shorter than MIN_PEPPER_CHARS stops
    start-up (the message never quotes it)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise RuntimeError(f"{ENV_PREFIX}SUBJECT_PEPPER: cannot read {path}: {exc.strerror}") from None
    peppers = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    if any(len(p) < MIN_PEPPER_CHARS for p in peppers):
        raise RuntimeError(
            f"{ENV_PREFIX}SUBJECT_PEPPER: every pepper in {path} needs at least {MIN_PEPPER_CHARS} characters"
        )
    return peppers


def require_peppers(settings: Settings) -> int:
    """How many subject peppers are loaded; RuntimeError (a start-up error) when none is:
    person subjects cannot be published or looked up without one."""
    if not settings.subject_peppers:
        raise RuntimeError(
            f"no subject pepper: {ENV_PREFIX}SUBJECT_PEPPER names a missing or empty file "
            f"({settings.subject_pepper_file}); make one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE` (mode 600), see README"
        )
    return len(settings.subject_peppers)


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


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = settings
    app.config.update(settings.flask_config())


def settings_of(app: Flask) -> Settings:
    settings: Settings = app.extensions[EXTENSION]
    return settings


def current_settings() -> Settings:
    """The running app's settings (inside an app or request context)."""
    return settings_of(current_app)
