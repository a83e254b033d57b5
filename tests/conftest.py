"""Fixtures: one real app and database per test session (SQLite, or PostgreSQL when
BLOCKLIST_TEST_DATABASE_URL is set), migrated to head with Alembic; every test starts empty."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import flask_migrate
import pytest
import werkzeug.security
from flask_sqlalchemy.session import Session as SignallingSession
from sqlalchemy import delete, insert, text
from support.settings import override_settings

from blocklist import create_app, listener
from blocklist.audit import signing
from blocklist.audit.models import AuditHead
from blocklist.auth import services as auth_services
from blocklist.clock import CLOCK
from blocklist.config import EXTENSION as SETTINGS
from blocklist.config import settings_of
from blocklist.context import OPERATOR
from blocklist.db import db
from blocklist.feeds.models import FeedHead

TEST_CONFIG = {
    "testing": True,
    # A cheap hash keeps the suite fast; production uses scrypt (see config.py).
    "secret_hash_method": "pbkdf2:sha256:1000",
    "max_body_bytes": 1024 * 1024,
    "secret_key": "test-secret-key",
    # tests/test_ratelimit.py turns it on with small limits.
    "rate_limit_enabled": False,
    # Person subjects: the current pepper first (tests/entries/test_subjects.py rotates it).
    "subject_peppers": ("test-pepper-0123456789",),
}


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("BLOCKLIST_TEST_DATABASE_URL")
    if url:
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite")


def is_postgres(app) -> bool:
    return db.engine.dialect.name == "postgresql"


def _reset_schema(app) -> None:
    """Start from an empty database so `upgrade` runs every migration from scratch."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return _database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app(database_url):
    app = create_app({**TEST_CONFIG, "database_url": database_url})
    with app.app_context():
        _reset_schema(app)
        flask_migrate.upgrade()
    return app


def _empty_tables(app) -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(delete(table))
        conn.execute(insert(AuditHead).values(id=1, seq=0, hash="0" * 64))
        conn.execute(insert(FeedHead).values(id=1, position=0))


class _SessionOnTestConnection(SignallingSession):
    """Flask-SQLAlchemy's session, but every statement runs on the test's own connection
    (its `get_bind` would otherwise pick the engine and escape the outer transaction)."""

    def get_bind(self, *args, **kwargs):
        return self.bind


@contextmanager
def _rolled_back(app):
    """Run the test inside one outer transaction on one connection, rolled back at the end
    (Warehouse's tests/conftest.py): the app's commits only release savepoints."""
    with app.app_context():
        connection = db.engine.connect()
    outer = connection.begin()
    if connection.dialect.name == "sqlite":
        # pysqlite only opens a transaction before DML: open it now, or releasing the first
        # savepoint would commit.
        connection.exec_driver_sql("BEGIN")
    scoped = db.session
    db.session = db._make_scoped_session(
        {"class_": _SessionOnTestConnection, "bind": connection, "join_transaction_mode": "create_savepoint"}
    )
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
        db.session = scoped
        outer.rollback()
        connection.close()


def _opens_own_connections(item) -> bool:
    """Whether the test, or a fixture it uses (other than the session's `app`), asks for the
    database URL: it opens its own connections to the database (a live server, another app)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    if "database_url" in info.argnames:
        return True
    return any(
        "database_url" in definitions[-1].argnames
        for name, definitions in info.name2fixturedefs.items()
        if name != "app" and definitions
    )


def pytest_collection_modifyitems(items):
    """Such a test's writes must really commit: mark it `committed`."""
    for item in items:
        if _opens_own_connections(item):
            item.add_marker(pytest.mark.committed)


@pytest.fixture(autouse=True)
def clean_db(request, app):
    """Each test starts from the migrated, empty database. Most run in a transaction that is
    rolled back; a test marked `committed` (other connections or processes must see its data:
    live servers, threads, snapshots) really commits, and the tables are emptied after it."""
    if request.node.get_closest_marker("committed") is None:
        with _rolled_back(app):
            yield
        return
    yield
    with app.app_context():
        db.session.remove()
        _empty_tables(app)
    listener.forget_all()  # the per-worker caches never heard of the TRUNCATE


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class Credentials:
    org_id: int
    org_kind: str
    client_id: str
    client_secret: str


class AuthHelper:
    """Makes orgs and clients through the service layer and gets tokens over real HTTP."""

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self._count = 0

    def org(self, kind: str, *, name: str | None = None, scope: str | None = None) -> Credentials:
        self._count += 1
        with self.app.app_context():
            org = auth_services.create_org(name or f"{kind}-{self._count}", kind, actor=OPERATOR)
            api_client, secret = auth_services.create_client(org, actor=OPERATOR, scope=scope)
            db.session.commit()
            return Credentials(org.id, kind, api_client.client_id, secret)

    def client_for(self, org_id: int, *, scope: str | None = None) -> Credentials:
        with self.app.app_context():
            org = auth_services.get_org(org_id)
            api_client, secret = auth_services.create_client(org, actor=OPERATOR, scope=scope)
            db.session.commit()
            return Credentials(org.id, org.kind, api_client.client_id, secret)

    def token(self, creds: Credentials, scope: str | None = None) -> str:
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        response = self.client.post("/oauth/token", data=form, auth=(creds.client_id, creds.client_secret))
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json["access_token"]

    def headers(self, creds_or_kind: Credentials | str, scope: str | None = None) -> dict[str, str]:
        creds = self.org(creds_or_kind) if isinstance(creds_or_kind, str) else creds_or_kind
        return {"Authorization": "Bearer " + self.token(creds, scope)}


@pytest.fixture
def auth(app, client) -> AuthHelper:
    return AuthHelper(app, client)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A real gunicorn serving the app on the test database, for end-to-end and concurrency tests."""

    def __init__(
        self, database_url: str, workers: int = 2, worker_class: str = "sync", extra_env: dict[str, str] | None = None
    ):
        self.database_url = database_url
        self.workers = workers
        self.worker_class = worker_class
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self) -> LiveServer:
        import subprocess
        import sys
        import time
        import urllib.request

        env = {
            **os.environ,
            "BLOCKLIST_DATABASE_URL": self.database_url,
            "BLOCKLIST_SECRET_KEY": TEST_CONFIG["secret_key"],
            "BLOCKLIST_SECRET_HASH_METHOD": TEST_CONFIG["secret_hash_method"],
            **self.extra_env,
        }
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.process = subprocess.Popen(
            [
                gunicorn,
                "--no-control-socket",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--worker-class",
                self.worker_class,
                "--timeout",
                "60",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            cwd=root,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def bearer(self, creds: Credentials) -> dict[str, str]:
        """Authorization header with a token for `creds`, fetched over the network."""
        import requests

        response = requests.post(
            self.url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(creds.client_id, creds.client_secret),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return {"Authorization": "Bearer " + response.json()["access_token"]}

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except Exception:
                self.process.kill()


def threaded_server(
    database_url: str, *, workers: int = 1, threads: int = 4, production_settings: bool = False, **env: str
) -> LiveServer:
    """A started gunicorn with gthread workers (long-polls need threads). With
    `production_settings` it runs with deploy/gunicorn.conf.py, whose hook exports the thread
    count gunicorn really uses to the app. `env` adds BLOCKLIST_* (or other) variables."""
    args = f"--threads {threads}" if not production_settings else f"-c deploy/gunicorn.conf.py --threads {threads}"
    extra = {"GUNICORN_CMD_ARGS": args, **({"BLOCKLIST_ACCESS_LOG": "/dev/null"} if production_settings else {}), **env}
    return LiveServer(database_url, workers=workers, worker_class="gthread", extra_env=extra).start()


@pytest.fixture
def live_server(app, database_url):
    """gunicorn with 2 sync workers on the session's database; `.url` is its base URL."""
    server = LiveServer(database_url).start()
    yield server
    server.stop()


def requires_postgres(app) -> None:
    """Skip a concurrency test on SQLite: its claims are about PostgreSQL."""
    with app.app_context():
        dialect = db.engine.dialect.name
    if dialect != "postgresql":
        pytest.skip("concurrency claims are tested on PostgreSQL (set BLOCKLIST_TEST_DATABASE_URL)")


class Callers:
    """Bearer headers for one org of each kind (more on request), made lazily."""

    def __init__(self, auth):
        self.auth = auth
        self._headers: dict[str, dict[str, str]] = {}
        self.creds = {}

    def __getitem__(self, name: str) -> dict[str, str]:
        """'carrier', 'internet', 'regulator', 'consumer', or 'carrier2' etc. for another org."""
        if name not in self._headers:
            kind = name.rstrip("0123456789")
            creds = self.auth.org(kind, name=f"{name}-org")
            self.creds[name] = creds
            self._headers[name] = self.auth.headers(creds)
        return self._headers[name]

    def org_id(self, name: str) -> int:
        self[name]
        return self.creds[name].org_id


@pytest.fixture
def callers(auth) -> Callers:
    return Callers(auth)


@pytest.fixture
def publish(client, callers):
    """publish(kind, value, as_="carrier", **fields) -> response"""

    def _publish(kind: str, value: str, as_: str = "carrier", **fields):
        return client.post("/v1/entries", json={"kind": kind, "value": value, **fields}, headers=callers[as_])

    return _publish


@pytest.fixture
def hash_checks(monkeypatch) -> list[str]:
    """Every password-hash verification of a client secret, in order (the costly step)."""
    calls = []
    check = werkzeug.security.check_password_hash

    def counting(pwhash, password):
        calls.append(pwhash.split("$", 1)[0])
        return check(pwhash, password)

    monkeypatch.setattr(werkzeug.security, "check_password_hash", counting)
    return calls


@pytest.fixture
def signing_key(app, tmp_path, monkeypatch):
    """Point the app at a fresh key file under tmp_path (`flask audit keygen` does this in production)."""
    path = tmp_path / "keys" / "audit-signing-key.pem"
    signing.generate_key(path)
    override_settings(monkeypatch, app, audit_signing_key_file=str(path))
    return path


@pytest.fixture
def clock():
    """The service's clock (blocklist/clock.py), for a test to move forward instead of sleeping."""
    yield CLOCK
    CLOCK.reset()


@pytest.fixture(scope="session", autouse=True)
def session_subject_pepper(tmp_path_factory):
    """The subject pepper file every gunicorn the tests start reads (it refuses to start
    without one, deploy/gunicorn.conf.py): the same pepper as TEST_CONFIG's."""
    path = tmp_path_factory.mktemp("pepper") / "subject-pepper"
    path.write_text("\n".join(TEST_CONFIG["subject_peppers"]) + "\n")
    previous = os.environ.get("BLOCKLIST_SUBJECT_PEPPER")
    os.environ["BLOCKLIST_SUBJECT_PEPPER"] = str(path)
    yield path
    if previous is None:
        del os.environ["BLOCKLIST_SUBJECT_PEPPER"]
    else:
        os.environ["BLOCKLIST_SUBJECT_PEPPER"] = previous


@pytest.fixture(scope="session", autouse=True)
def session_signing_key(app, tmp_path_factory):
    """One audit signing key for the session's app, every app a test creates and every gunicorn
    the tests start (which refuses to start without one, deploy/gunicorn.conf.py), as
    `flask audit keygen` makes it."""
    path = tmp_path_factory.mktemp("audit-key") / "audit-signing-key.pem"
    signing.generate_key(path)
    app.extensions[SETTINGS] = settings_of(app).replace({"audit_signing_key_file": str(path)})
    previous = os.environ.get("BLOCKLIST_AUDIT_SIGNING_KEY_FILE")
    os.environ["BLOCKLIST_AUDIT_SIGNING_KEY_FILE"] = str(path)
    yield path
    if previous is None:
        del os.environ["BLOCKLIST_AUDIT_SIGNING_KEY_FILE"]
    else:
        os.environ["BLOCKLIST_AUDIT_SIGNING_KEY_FILE"] = previous
