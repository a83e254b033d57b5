"""The checkpoint-signing key: one file made once by `flask audit keygen` and shared by every
node; never created by a request; a missing or unusable key is a clear error (503 problem over
HTTP, exit 1 from the CLI, a refused start under gunicorn), never a 500 or a traceback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEST_CONFIG
from support.problems import assert_problem
from support.settings import override_settings

from blocklist import create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_key(app, tmp_path, monkeypatch) -> Path:
    """Point the app at a key file that does not exist (yet)."""
    path = tmp_path / "state" / "audit-signing-key.pem"
    override_settings(monkeypatch, app, audit_signing_key_file=str(path))
    return path


@pytest.fixture
def reader(auth):
    return auth.headers(auth.org("regulator", name="Auditor"))


def test_public_key_without_a_key_is_503_and_creates_none(client, no_key):
    for _ in range(2):
        body = assert_problem(client.get("/v1/audit/public-key"), 503)
        assert "signing key is not configured" in body["detail"] and str(no_key) not in body["detail"]
    assert not no_key.exists() and not no_key.parent.exists()


def test_verify_and_checkpoint_routes_without_a_key_are_503(client, runner, reader, signing_key, monkeypatch, app):
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    override_settings(monkeypatch, app, audit_signing_key_file=str(signing_key.parent / "gone.pem"))
    assert_problem(client.get("/v1/audit/verify", headers=reader), 503)


@pytest.mark.parametrize("command", [["public-key"], ["checkpoint"]])
def test_cli_without_a_key_exits_1_naming_the_file(runner, no_key, command):
    result = runner.invoke(args=["audit", *command])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"audit signing key {no_key} does not exist" in result.output and "audit keygen" in result.output
    assert not no_key.exists()


def test_cli_with_a_garbage_key_exits_1(runner, no_key):
    no_key.parent.mkdir()
    no_key.write_text("not a key\n")
    result = runner.invoke(args=["audit", "public-key"])
    assert result.exit_code == 1 and "is not an unencrypted PEM private key" in result.output


def test_keygen_creates_the_key_once(runner, client, no_key):
    made = runner.invoke(args=["audit", "keygen"])
    assert made.exit_code == 0, made.output
    out = json.loads(made.output)
    assert out["key_file"] == str(no_key) and out["created"] is True
    assert stat.S_IMODE(no_key.stat().st_mode) == 0o600
    assert client.get("/v1/audit/public-key").json["key_id"] == out["key_id"]
    pem = no_key.read_bytes()
    again = runner.invoke(args=["audit", "keygen"])
    assert again.exit_code == 1 and "already exists" in again.output
    quiet = runner.invoke(args=["audit", "keygen", "--if-missing"])
    assert quiet.exit_code == 0 and json.loads(quiet.output) == {**out, "created": False}
    assert no_key.read_bytes() == pem


def test_keygen_into_an_unwritable_place_exits_1(runner, app, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    override_settings(monkeypatch, app, audit_signing_key_file=str(blocker / "audit-signing-key.pem"))
    result = runner.invoke(args=["audit", "keygen"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"cannot write the audit signing key to {blocker}/audit-signing-key.pem" in result.output


def test_a_checkpoint_signed_on_one_node_verifies_on_another_sharing_the_key(
    app, runner, reader, signing_key, database_url, tmp_path
):
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    # Another node: its own app and connection pool, configured with the same key file.
    other = create_app({**TEST_CONFIG, "database_url": database_url, "audit_signing_key_file": str(signing_key)})
    result = other.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and json.loads(result.output)["ok"] is True
    # A node with a key of its own (what the old default made) cannot verify the checkpoint.
    own = tmp_path / "own.pem"
    stray = create_app({**TEST_CONFIG, "database_url": database_url, "audit_signing_key_file": str(own)})
    assert stray.test_cli_runner().invoke(args=["audit", "keygen"]).exit_code == 0
    result = stray.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "unknown key" in json.loads(result.output)["reason"]


def _gunicorn(database_url: str, key_file: Path) -> subprocess.CompletedProcess:
    """Run gunicorn with the production settings until it exits (it must refuse to start)."""
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    env = {
        **os.environ,
        "BLOCKLIST_DATABASE_URL": database_url,
        "BLOCKLIST_AUDIT_SIGNING_KEY_FILE": str(key_file),
        "BLOCKLIST_BIND": "127.0.0.1:0",
        "BLOCKLIST_WORKERS": "1",
        "BLOCKLIST_SWEEP_INTERVAL": "0",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return subprocess.run(
        [gunicorn, "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gunicorn_refuses_to_start_without_the_key(database_url, tmp_path):
    missing = tmp_path / "missing.pem"
    result = _gunicorn(database_url, missing)
    assert result.returncode != 0
    assert f"blocklist cannot start: audit signing key {missing} does not exist" in result.stderr
    assert not missing.exists()


def test_gunicorn_refuses_to_start_with_a_garbage_key(database_url, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    result = _gunicorn(database_url, garbage)
    assert result.returncode != 0
    assert f"blocklist cannot start: audit signing key {garbage} is not an unencrypted PEM" in result.stderr


def test_gunicorn_refuses_to_start_without_a_subject_pepper(database_url, tmp_path, session_signing_key):
    missing = tmp_path / "subject-pepper"
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    env = {
        **os.environ,
        "BLOCKLIST_DATABASE_URL": database_url,
        "BLOCKLIST_AUDIT_SIGNING_KEY_FILE": str(session_signing_key),
        "BLOCKLIST_SUBJECT_PEPPER": str(missing),
        "BLOCKLIST_BIND": "127.0.0.1:0",
        "BLOCKLIST_WORKERS": "1",
        "BLOCKLIST_SWEEP_INTERVAL": "0",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run(
        [gunicorn, "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert (
        f"blocklist cannot start: no subject pepper: BLOCKLIST_SUBJECT_PEPPER names a missing or empty file ({missing})"
        in result.stderr
    )
