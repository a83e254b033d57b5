"""The spec says what the server does (the class of defect Schemathesis' `--checks all` finds):
a request body the spec requires is required, one it leaves optional may be left out, and
every error answer is declared as `application/problem+json`, the type the server sends
(RFC 9457; OpenAPI 3.1 "Response Object": the content type a response is declared with is
the one a client may rely on)."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from support.problems import assert_problem

SPEC = json.loads((pathlib.Path(__file__).parent.parent / "openapi" / "openapi.json").read_text())


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        section = node["$ref"].split("/")[2]
        node = SPEC["components"][section][name]
    return node


def _operations():
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch"}:
                yield path, method, operation


JSON_BODIES = [
    (method, path, operation["requestBody"]["required"])
    for path, method, operation in _operations()
    if "application/json" in operation.get("requestBody", {}).get("content", {})
]


def test_there_are_required_and_optional_bodies_to_check():
    assert ("post", "/v1/entries", True) in JSON_BODIES
    assert ("post", "/v1/orgs/{org_id}/clients", False) in JSON_BODIES


@pytest.mark.parametrize("method, path", [(m, p) for m, p, required in JSON_BODIES if required])
def test_a_required_body_left_out_is_refused(client, auth, method, path):
    url = re.sub(r"\{[^}]+\}", "1", path)  # the body is read before any look-up of the id
    response = client.open(url, method=method.upper(), headers=auth.headers("regulator"))
    assert 400 <= response.status_code < 500, (method, path, response.status_code)
    assert response.mimetype == "application/problem+json"


def test_an_optional_body_left_out_takes_the_defaults(client, auth, callers):
    org = client.post("/v1/orgs", json={"name": "Carrier Z", "kind": "carrier"}, headers=callers["regulator"]).json
    response = client.post(f"/v1/orgs/{org['id']}/clients", headers=callers["regulator"])
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["name"] == "" and response.json["client_secret"]
    # a body that is there is still validated
    assert_problem(client.post(f"/v1/orgs/{org['id']}/clients", json={"name": 5}, headers=callers["regulator"]), 422)


@pytest.mark.parametrize("path, method, operation", list(_operations()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_error_answer_is_declared_as_problem_json(path, method, operation):
    # TAXII 2.1 (section 3.6.1) has its own error message and media type: its routes answer
    # errors in that shape, which stock TAXII clients read, and declare it.
    expected = {"application/taxii+json"} if path.startswith("/taxii2/") else {"application/problem+json"}
    for status, response in operation["responses"].items():
        if status.startswith(("4", "5")) or status == "default":
            content = _resolve(response).get("content", {})
            assert set(content) == expected, (method, path, status, set(content))
