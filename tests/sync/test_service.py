"""What running blocklist-sync as a service needs: the secret from a file, a systemd credential
or the environment and never from the command line; a progress bar only on a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios

import pytest
from conftest import threaded_server
from sync_support import ROOT, SYNC, mirror_set, run, secret_env, sync_command


@pytest.fixture
def feed_server(app, database_url):
    server = threaded_server(database_url, threads=4)
    yield server
    server.stop()


def _env_without_secret() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("BLOCKLIST_CLIENT_SECRET", "CREDENTIALS_DIRECTORY")}


def test_the_secret_is_read_from_a_file_a_credential_or_the_environment(feed_server, auth, publish, tmp_path):
    publish("code", "10687415")
    creds = auth.org("consumer")

    secret_file = tmp_path / "secret"
    secret_file.write_text(creds.client_secret + "\n")  # a trailing newline, as editors leave it
    from_file = run(
        sync_command(feed_server, creds, tmp_path / "a.sqlite", "--client-secret-file", str(secret_file)),
        _env_without_secret(),
    )
    assert from_file.returncode == 0, from_file.stderr
    assert mirror_set(tmp_path / "a.sqlite") == {("code", "10687415")}

    credentials = tmp_path / "credentials"  # what systemd's LoadCredential= makes
    credentials.mkdir()
    (credentials / "client-secret").write_text(creds.client_secret)
    from_credential = run(
        sync_command(feed_server, creds, tmp_path / "b.sqlite"),
        {**_env_without_secret(), "CREDENTIALS_DIRECTORY": str(credentials)},
    )
    assert from_credential.returncode == 0, from_credential.stderr

    from_env = run(sync_command(feed_server, creds, tmp_path / "c.sqlite"), secret_env(creds))
    assert from_env.returncode == 0, from_env.stderr

    wrong_file = tmp_path / "wrong"
    wrong_file.write_text("not-the-secret")
    refused = run(
        sync_command(feed_server, creds, tmp_path / "d.sqlite", "--client-secret-file", str(wrong_file)),
        secret_env(creds),  # the file wins over the environment
    )
    assert refused.returncode == 1 and "cannot get a token: 401" in refused.stderr

    missing_file = run(
        sync_command(feed_server, creds, tmp_path / "e.sqlite", "--client-secret-file", str(tmp_path / "nope")),
        _env_without_secret(),
    )
    assert missing_file.returncode == 2 and "cannot read the client secret" in missing_file.stderr


@pytest.mark.parametrize("spelling", [["--client-secret", "s3cret"], ["--client-secret=s3cret"]])
def test_a_secret_on_the_command_line_is_refused(spelling, tmp_path):
    refused = run([*SYNC, "--url", "http://127.0.0.1:9", "--client-id", "x", "--db", str(tmp_path / "m"), *spelling])
    assert refused.returncode == 2
    assert "--client-secret is not accepted" in refused.stderr and "--client-secret-file" in refused.stderr
    assert "s3cret" not in refused.stderr


def test_a_progress_bar_with_total_and_rate_on_a_terminal(feed_server, auth, publish, tmp_path):
    for code in ("10687415", "10684500", "10680001"):
        publish("code", code)
    creds = auth.org("consumer")
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 rows, 100 columns
    try:
        process = subprocess.Popen(
            sync_command(feed_server, creds, tmp_path / "m.sqlite"),
            cwd=ROOT,
            env=secret_env(creds),
            stdout=subprocess.DEVNULL,
            stderr=terminal,
        )
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=60) == 0
    finally:
        os.close(controller)
    text = output.decode()
    assert "snapshot: 100%" in text and "3/3" in text, text
    assert "entries/s" in text, text  # the rate
