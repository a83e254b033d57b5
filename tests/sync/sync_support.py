"""Running blocklist-sync as a real subprocess against a live gunicorn, for tests/sync/."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time

from sqlalchemy import select

from blocklist.db import db
from blocklist.entries.models import Entry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYNC = [sys.executable, "-m", "blocklist.sync.cli"]
# Short retry waits: a test outage lasts seconds, not minutes.
FAST_RETRIES = ["--backoff", "0.1", "0.5"]


def secret_env(creds) -> dict[str, str]:
    """The environment the client reads its secret from (never the command line)."""
    return {**os.environ, "BLOCKLIST_CLIENT_SECRET": creds.client_secret}


def sync_command(server, creds, db_path, *extra) -> list[str]:
    return [*SYNC, "--url", server.url, "--client-id", creds.client_id, "--db", str(db_path), *extra]


def run(args, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, **kwargs)


def mirror_set(db_path) -> set[tuple[str, str]]:
    with sqlite3.connect(db_path) as conn:
        return set(conn.execute("SELECT kind, value FROM entries"))


def server_set(app) -> set[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(select(Entry.kind, Entry.value).where(Entry.status == "active")).all()
        db.session.remove()
    return {(kind, value) for kind, value in rows}


def wait_for(predicate, timeout=30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


class Follower:
    """`blocklist-sync --follow` in a subprocess; its stderr collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.lines: list[str] = []
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def logged(self, text: str, timeout: float = 30.0) -> bool:
        """Whether `text` appears in its stderr within `timeout` seconds."""
        return wait_for(lambda: text in self.stderr, timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.reader.join(timeout=10)
