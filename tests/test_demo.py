"""The README's worked example runs: `scripts/start.sh` (exactly the README's start command, on
its own port and instance directory) serves the embedded SQLite database, and `scripts/demo.sh`
drives every capability against it over HTTP, twice (it must survive a second run against the
same service). The demo asserts each answer itself and exits non-zero at the first surprise."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
START_DEADLINE = 600  # seconds: start.sh first (re)installs the package into .venv


def _env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            values[name] = value
    return values


@pytest.fixture
def started_service(tmp_path):
    """`bash scripts/start.sh` on a free port with its files in a temporary instance directory;
    yields (base URL, instance directory, start-up log path); stops gunicorn afterwards."""
    if os.environ.get("BLOCKLIST_TEST_DATABASE_URL"):
        pytest.skip("the demo runs on start.sh's embedded SQLite, once, in the SQLite pass")
    if shutil.which("jq") is None or shutil.which("curl") is None:
        pytest.fail("scripts/demo.sh needs jq and curl (.ci/run installs them)")
    port = free_port()
    instance = tmp_path / "instance"
    log_path = tmp_path / "start.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("BLOCKLIST_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        {
            "BLOCKLIST_BIND": f"127.0.0.1:{port}",
            "BLOCKLIST_INSTANCE_DIR": str(instance),
            "BLOCKLIST_WORKERS": "2",
            "BLOCKLIST_AUDIT_SIGNING_KEY_FILE": str(instance / "audit-signing-key.pem"),
        }
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["bash", "scripts/start.sh"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if process.poll() is not None:
                pytest.fail(f"scripts/start.sh exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service did not become ready:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url, instance, log_path
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_start_writes_both_clients_for_scripts_and_demo_runs_every_capability_twice(started_service):
    url, instance, log_path = started_service
    env_file = instance / "demo.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = _env_file_values(env_file)
    for name in ("CLIENT_ID", "CLIENT_SECRET", "REGULATOR_ID", "REGULATOR_SECRET"):
        assert values.get(name), f"{name} missing from {env_file}"
    assert values["CLIENT_ID"] != values["REGULATOR_ID"]
    assert values["BLOCKLIST_URL"] == url
    banner = log_path.read_text()
    assert f"source {env_file}" in banner
    assert values["REGULATOR_ID"] in banner and values["CLIENT_ID"] in banner
    # The subject pepper start.sh made for the embedded default: private, and never printed.
    pepper_file = instance / "subject-pepper"
    assert stat.S_IMODE(pepper_file.stat().st_mode) == 0o600
    pepper = pepper_file.read_text().strip()
    assert len(pepper) >= 16 and pepper not in banner

    env = {key: value for key, value in os.environ.items() if key not in ("CLIENT_ID", "CLIENT_SECRET")}
    env["BLOCKLIST_INSTANCE_DIR"] = str(instance)
    for run in (1, 2):
        result = subprocess.run(
            ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"run {run}:\n{result.stdout}\n{result.stderr}"
        assert "Demo complete" in result.stdout
        assert "DEMO FAILED" not in result.stderr


def test_demo_fails_loudly_when_the_service_is_not_there(tmp_path):
    """No service at the URL: the demo stops at once with a message and a non-zero exit."""
    env = {
        **os.environ,
        "BLOCKLIST_URL": f"http://127.0.0.1:{free_port()}",
        "CLIENT_ID": "x",
        "CLIENT_SECRET": "x",
        "REGULATOR_ID": "y",
        "REGULATOR_SECRET": "y",
    }
    result = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DEMO FAILED" in result.stderr and "/healthz" in result.stderr
