"""Every systemd unit and timer in deploy/ passes `systemd-analyze verify`, and all of them agree
on one layout: the release in /opt/blocklist/app, its virtualenv in /opt/blocklist/venv.

`verify` also checks that each ExecStart= binary exists and is executable. Rather than install
into the real /opt, the units are verified under a temporary root (`--root`) that holds what a
node holds: the units in etc/systemd/system, the distribution's own units (the targets every
service depends on) and /usr/bin/kill, and the virtualenv layout of deploy/README.md with the
console scripts this checkout's `pip install` produced (copied from the venv running the tests,
so a unit naming a script the package does not install fails here). Debian's `systemd` package
provides systemd-analyze; `.ci/run` installs it when missing.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted([*DEPLOY.glob("*.service"), *DEPLOY.glob("*.timer")])
APP_DIR = "/opt/blocklist/app"
VENV_BIN = "/opt/blocklist/venv/bin"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")

# Skipped on a developer machine without it; in CI (CI=true) a missing tool fails instead.
pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None and not os.environ.get("CI"),
    reason="systemd-analyze missing (Debian package systemd; .ci/run installs it)",
)


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


@pytest.fixture(scope="module")
def node_root(tmp_path_factory) -> Path:
    """A filesystem root laid out like an installed node (see the module docstring)."""
    root = tmp_path_factory.mktemp("node")
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/bin").mkdir()
    shutil.copy2("/usr/bin/kill", root / "usr/bin/kill")
    (root / "bin").symlink_to("usr/bin")
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy2(unit, units / unit.name)
    (root / "etc/blocklist").mkdir()
    (root / "etc/blocklist/env").write_text("BLOCKLIST_DATABASE_URL=postgresql://blocklist@db/blocklist\n")
    venv_bin = root / VENV_BIN.lstrip("/")
    venv_bin.mkdir(parents=True)
    for script in ("flask", "gunicorn", "blocklist-sync"):
        installed = Path(sys.executable).parent / script
        if installed.exists():
            shutil.copy2(installed, venv_bin / script)
    (root / APP_DIR.lstrip("/")).mkdir(parents=True)
    return root


def test_deploy_has_units():
    names = {unit.name for unit in UNITS}
    assert {"blocklist.service", "blocklist-expire.service", "blocklist-expire.timer"} <= names


def test_the_tree_head_timer_runs_the_sth_job_every_minute():
    timer = _unit(DEPLOY / "blocklist-audit-sth.timer")
    assert timer["Timer"]["Unit"] == "blocklist-audit-sth.service"
    assert timer["Timer"]["OnUnitActiveSec"] == "60s"  # BLOCKLIST_STH_INTERVAL's default
    service = _unit(DEPLOY / "blocklist-audit-sth.service")
    assert service["Service"]["ExecStart"].endswith("flask --app wsgi audit sth")
    assert service["Service"]["Type"] == "oneshot"


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_unit_verifies(unit: Path, node_root: Path):
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={node_root}", f"/etc/systemd/system/{unit.name}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".service"], ids=lambda unit: unit.name)
def test_services_share_one_layout(unit: Path):
    service = _unit(unit)["Service"]
    assert service.get("WorkingDirectory", APP_DIR) == APP_DIR
    commands = service.get("ExecStart", "").splitlines()
    assert commands
    for command in commands:
        assert command.split()[0].startswith(VENV_BIN + "/"), command


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".timer"], ids=lambda unit: unit.name)
def test_timers_start_a_unit_from_deploy(unit: Path):
    target = _unit(unit)["Timer"].get("Unit", unit.with_suffix(".service").name)
    assert (DEPLOY / target).is_file()
