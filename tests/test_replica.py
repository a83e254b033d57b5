"""Matching reads from a real PostgreSQL streaming replica (`BLOCKLIST_REPLICA_URL`).

The test makes its own two clusters in a temporary directory — a primary (`initdb`) and a hot
standby cloned from it with `pg_basebackup -R` (streaming replication) — serves gunicorn on the
primary with the standby as its replica, and shows that look-ups read the replica (with its
replay paused, a value just published on the primary is not found), and that `min_cursor` waits
for the replica: a 503 with `Retry-After` while it is paused, the write once it replays again.
It needs PostgreSQL's server binaries (`initdb`, `pg_ctl`, `pg_basebackup`); without them it
skips. About 10 s.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest
import requests
from conftest import TEST_CONFIG, LiveServer, free_port

ROOT = pathlib.Path(__file__).resolve().parents[1]
CURSOR = "X-Blocklist-Cursor"


def _bindir() -> pathlib.Path | None:
    candidates = [os.environ.get("PG_BINDIR", "")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        candidates.append(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
    candidates += sorted((str(p) for p in pathlib.Path("/usr/lib/postgresql").glob("*/bin")), reverse=True)
    for candidate in candidates:
        if candidate and all((pathlib.Path(candidate) / b).exists() for b in ("initdb", "pg_ctl", "pg_basebackup")):
            return pathlib.Path(candidate)
    return None


class Clusters:
    """A primary and its streaming hot standby, owned by this test (as `postgres` when run as
    root: PostgreSQL refuses to run as root)."""

    def __init__(self, bindir: pathlib.Path):
        self.bindir = bindir
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="blocklist-replica-"))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")
        self.primary_port, self.replica_port = free_port(), free_port()
        self.started: list[pathlib.Path] = []

    def run(self, *args: str) -> str:
        return subprocess.run([*self.as_user, *args], check=True, capture_output=True, text=True).stdout

    def start(self, data: pathlib.Path, port: int) -> None:
        options = f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self.run(str(self.bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", f"{data}.log", "-w", "start")
        self.started.append(data)

    def url(self, port: int, database: str = "blocklist") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def up(self) -> Clusters:
        primary, replica = self.dir / "primary", self.dir / "replica"
        self.run(str(self.bindir / "initdb"), "-D", str(primary), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start(primary, self.primary_port)
        self.run(
            str(self.bindir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary_port),
            "-U",
            "postgres",
            "blocklist",
        )
        self.run(
            str(self.bindir / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres"),
            *("-D", str(replica), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast"),
        )
        self.start(replica, self.replica_port)
        return self

    def replica_sql(self, sql: str) -> str:
        return self.run(
            str(self.bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.replica_port),
            "-U",
            "postgres",
            "-Atc",
            sql,
            "blocklist",
        ).strip()

    def down(self) -> None:
        for data in reversed(self.started):
            subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def clusters():
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL will not start as root")
    made = Clusters(bindir)
    try:
        yield made.up()
    finally:
        made.down()


def _flask(database_url: str, *args: str) -> dict:
    env = {
        **os.environ,
        "BLOCKLIST_DATABASE_URL": database_url,
        "BLOCKLIST_SECRET_HASH_METHOD": TEST_CONFIG["secret_hash_method"],
    }
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    out = subprocess.run([flask, "--app", "wsgi", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}


def test_matching_reads_the_replica_and_min_cursor_waits_for_it(clusters):
    primary, replica = clusters.url(clusters.primary_port), clusters.url(clusters.replica_port)
    _flask(primary, "db", "upgrade")
    org = _flask(primary, "org", "create", "--name", "carrier", "--kind", "carrier")
    creds = _flask(primary, "client", "create", "--org", str(org["id"]))
    server = LiveServer(
        primary,
        workers=2,
        worker_class="gthread",
        extra_env={"BLOCKLIST_REPLICA_URL": replica, "BLOCKLIST_MIN_CURSOR_WAIT_MS": "500"},
    ).start()
    try:
        token = requests.post(
            server.url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(creds["client_id"], creds["client_secret"]),
            timeout=10,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def lookup(value: str, cursor: str | None = None) -> requests.Response:
            url = f"{server.url}/v1/lookup?value={value}&kind=code" + (f"&min_cursor={cursor}" if cursor else "")
            return requests.get(url, headers=headers, timeout=10)

        first = requests.post(server.url + "/v1/entries", json={"kind": "code", "value": "10687415"}, headers=headers)
        assert first.status_code == 201
        answer = lookup("10687415", first.headers[CURSOR])
        assert answer.status_code == 200 and answer.json()["listed"] is True

        clusters.replica_sql("SELECT pg_wal_replay_pause()")
        second = requests.post(server.url + "/v1/entries", json={"kind": "code", "value": "10690001"}, headers=headers)
        assert second.status_code == 201
        # Read from the paused replica: the primary has it, the answer does not.
        assert lookup("10690001").json()["listed"] is False
        waited = lookup("10690001", second.headers[CURSOR])
        assert waited.status_code == 503
        assert waited.headers["Retry-After"] == "1"
        assert waited.headers["Content-Type"] == "application/problem+json"

        clusters.replica_sql("SELECT pg_wal_replay_resume()")
        caught_up = lookup("10690001", second.headers[CURSOR])
        assert caught_up.status_code == 200 and caught_up.json()["listed"] is True

        check = requests.post(
            f"{server.url}/v1/check?min_cursor={second.headers[CURSOR]}",
            json={"sender": "10690001", "text": "hello"},
            headers=headers,
            timeout=10,
        )
        assert check.status_code == 200 and check.json()["verdict"] == "block"
    finally:
        server.stop()
