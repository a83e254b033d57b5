"""Health, readiness, metrics, docs and the spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEST_CONFIG, is_postgres
from support.problems import assert_problem

from blocklist import create_app

ROOT = Path(__file__).resolve().parent.parent


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert response.headers["X-Request-Id"]


def test_request_id_is_echoed_when_sane_and_replaced_when_not(client):
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    replaced = client.get("/healthz", headers={"X-Request-Id": "bad id <script>"}).headers["X-Request-Id"]
    assert replaced != "bad id <script>" and len(replaced) == 32


def test_readyz_when_database_is_up(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ready"


@pytest.mark.committed  # another app, on a database that is down
def test_readyz_fails_when_database_is_down(app, tmp_path):
    with app.app_context():
        postgres = is_postgres(app)
    # Nothing listens on port 1; a SQLite file in a missing directory cannot be opened.
    url = (
        "postgresql://postgres@127.0.0.1:1/test?connect_timeout=2"
        if postgres
        else f"sqlite:///{tmp_path}/missing/dir/db.sqlite"
    )
    down = create_app({**TEST_CONFIG, "database_url": url})
    response = down.test_client().get("/readyz")
    body = assert_problem(response, 503)
    assert "Database unreachable" in body["detail"]
    assert response.headers["Retry-After"]
    # Liveness does not depend on the database.
    assert down.test_client().get("/healthz").status_code == 200


@pytest.mark.committed  # another app, on a database that is down
def test_api_routes_answer_503_problem_when_database_is_down(app, tmp_path):
    with app.app_context():
        postgres = is_postgres(app)
    url = (
        "postgresql://postgres@127.0.0.1:1/test?connect_timeout=2"
        if postgres
        else f"sqlite:///{tmp_path}/missing/dir/db.sqlite"
    )
    down = create_app({**TEST_CONFIG, "database_url": url})
    response = down.test_client().get("/v1/entries", headers={"Authorization": "Bearer blx_x"})
    assert_problem(response, 503)


def test_metrics_count_requests_by_endpoint_and_status(client):
    client.get("/healthz")
    client.get("/v1/entries")  # 401
    text = client.get("/metrics").get_data(as_text=True)
    assert 'blocklist_http_requests_total{endpoint="/healthz",method="GET",status="200"}' in text
    assert 'blocklist_http_requests_total{endpoint="/v1/entries",method="GET",status="401"}' in text
    assert "blocklist_http_request_duration_seconds_bucket" in text


def test_openapi_json_and_docs_are_served_without_a_cdn(client):
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    assert "/v1/orgs" in spec.json["paths"]
    assert (
        spec.json["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
    )
    docs = client.get("/docs")
    assert docs.status_code == 200
    html = docs.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_committed_spec_matches_the_code(tmp_path):
    """CI fails when openapi/openapi.json drifts from what the code generates."""
    out = tmp_path / "openapi.json"
    env = {**os.environ}
    env.pop("BLOCKLIST_DATABASE_URL", None)
    env["BLOCKLIST_DATABASE_URL"] = f"sqlite:///{tmp_path}/spec.sqlite"
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "openapi", "write", "--format=json", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    generated = json.loads(out.read_text())
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    assert generated == committed, (
        "openapi/openapi.json is stale: run `flask --app wsgi openapi write --format=json openapi/openapi.json`"
    )
