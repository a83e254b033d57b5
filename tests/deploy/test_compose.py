"""deploy/compose.yaml is a valid Compose file and a safe stack, and the Dockerfile caches its
dependencies.

Validated against the Compose Specification's own JSON schema (tests/deploy/compose-spec.json,
copied unchanged from github.com/compose-spec/compose-spec, schema/compose-spec.json, Apache-2.0),
and with `docker compose config` where the Compose v2 plugin is installed (Debian 12 ships only
Compose v1, which predates the top-level `name:`). Images cannot be pulled here, so the stack is
not started; what it promises is asserted from the file: only nginx is published, the app trusts
only nginx's address, the database and the signing key live in volumes, migrations and the key
come first.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
APP_IMAGE = "blocklist-exchange:latest"
KEY_DIR = "/var/lib/blocklist"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _app_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == APP_IMAGE}


def test_valid_against_the_compose_specification(compose):
    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
    errors = [str(error) for error in jsonschema_rs.validator_for(schema).iter_errors(compose)]
    assert errors == []


def test_docker_compose_config_accepts_it(tmp_path):
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose v2 plugin is not installed")
    env = {"PATH": "/usr/bin:/bin", "POSTGRES_PASSWORD": "x", "BLOCKLIST_SECRET_KEY": "y", "HOME": str(tmp_path)}
    result = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr


def test_only_nginx_publishes_ports(compose):
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"nginx"}
    ports = compose["services"]["nginx"]["ports"]
    assert ports == ["${BLOCKLIST_HTTPS_PORT:-443}:443", "${BLOCKLIST_HTTP_PORT:-80}:80"]
    assert compose["networks"]["backend"]["internal"] is True
    for name in ("db", "redis", "app"):
        assert "frontend" not in compose["services"][name]["networks"]


def test_the_app_trusts_only_nginx(compose):
    nginx_address = compose["services"]["nginx"]["networks"]["backend"]["ipv4_address"]
    app_address = compose["services"]["app"]["networks"]["backend"]["ipv4_address"]
    subnet = compose["networks"]["backend"]["ipam"]["config"][0]["subnet"]
    assert subnet.startswith(nginx_address.rsplit(".", 1)[0] + ".")
    for name, service in _app_services(compose).items():
        env = service["environment"]
        assert env["FORWARDED_ALLOW_IPS"] == nginx_address, name
        assert env["BLOCKLIST_RATE_LIMIT_PROXY_HOPS"] == "1", name
    nginx_conf = (DEPLOY / "nginx/compose.conf").read_text()
    assert re.search(rf"server {re.escape(app_address)}:8000\b", nginx_conf)


def test_app_containers_are_read_only_and_unprivileged(compose):
    services = _app_services(compose)
    assert {"keygen", "migrate", "app", "jobs"} <= set(services)
    for name, service in services.items():
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    assert compose["services"]["nginx"]["read_only"] is True


def test_database_and_signing_key_live_in_volumes(compose):
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["db"]["volumes"]
    services = _app_services(compose)
    assert services["keygen"]["volumes"] == [f"audit-key:{KEY_DIR}"]  # the only writer
    for name in ("app", "jobs", "sth"):
        assert services[name]["volumes"] == [f"audit-key:{KEY_DIR}:ro"], name
    for service in services.values():
        assert service["environment"]["BLOCKLIST_AUDIT_SIGNING_KEY_FILE"].startswith(KEY_DIR + "/")
    assert set(compose["volumes"]) == {"pgdata", "audit-key"}


def test_migrations_and_the_key_come_before_the_app(compose):
    services = compose["services"]
    assert services["keygen"]["entrypoint"][-3:] == ["audit", "keygen", "--if-missing"]
    assert services["migrate"]["entrypoint"][-2:] == ["db", "upgrade"]
    needs = services["app"]["depends_on"]
    assert needs["migrate"] == needs["keygen"] == {"condition": "service_completed_successfully"}
    assert "audit checkpoint" in " ".join(services["jobs"]["entrypoint"])
    # One tree-head signer per deployment, looping at BLOCKLIST_STH_INTERVAL.
    assert services["sth"]["entrypoint"][-4:] == ["wsgi", "audit", "sth", "--loop"]
    assert services["sth"]["restart"] == "unless-stopped"
    assert services["nginx"]["depends_on"]["app"] == {"condition": "service_healthy"}


def test_nginx_mounts_files_that_exist(compose):
    for volume in compose["services"]["nginx"]["volumes"]:
        source = volume.split(":", 1)[0]
        if source.startswith("./nginx/"):
            assert (DEPLOY / source).exists(), source


def test_dockerfile_installs_dependencies_before_copying_the_source():
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    build = lines[: next(i for i, line in enumerate(lines) if line.startswith("FROM ") and i > 0 and "AS" not in line)]
    copy_source = next(i for i, line in enumerate(build) if line.startswith("COPY blocklist"))
    install_deps = next(i for i, line in enumerate(build) if "pip install -r" in line)
    assert install_deps < copy_source
    assert all(not line.startswith("COPY") or "pyproject.toml" in line for line in build[:install_deps])
