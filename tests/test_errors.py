"""Every error is an RFC 9457 problem document; bad input never gets a 500."""

from __future__ import annotations

import pytest

from helpers import assert_problem


def test_unknown_path_is_404_problem(client):
    body = assert_problem(client.get("/v1/nothing-here"), 404)
    assert body["instance"] == "/v1/nothing-here"


def test_wrong_method_is_405_problem_with_allow(client):
    response = client.put("/healthz")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_oversized_body_is_413_problem(client, auth, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    payload = '{"name": "' + "x" * (limit + 10) + '", "kind": "carrier"}'
    response = client.post("/v1/orgs", headers={**auth.headers("regulator"), "Content-Type": "application/json"},
                           data=payload)
    assert_problem(response, 413)


@pytest.mark.parametrize("data", ["{bad json", "[1, 2", "\xff\xfe"])
def test_malformed_json_is_400_problem(client, auth, data):
    response = client.post("/v1/orgs", headers={**auth.headers("regulator"), "Content-Type": "application/json"},
                           data=data)
    assert_problem(response, 400)


@pytest.mark.parametrize("payload", [[], "a string", 42, None, {"name": ["x"], "kind": "carrier"},
                                     {"name": "x", "kind": "carrier", "unexpected": 1}])
def test_wrong_shapes_are_422_problem_with_errors(client, auth, payload):
    response = client.post("/v1/orgs", headers=auth.headers("regulator"), json=payload)
    body = assert_problem(response, 422)
    assert body["errors"]


def test_oauth_errors_are_problems_with_rfc6749_members(client):
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    body = assert_problem(response, 401 if response.status_code == 401 else 400)
    assert body["error"] in {"invalid_client", "invalid_request"}


@pytest.mark.parametrize("raw", ['{"name": "a\\u0000b", "kind": "carrier"}',
                                 '{"name": "a\\ud800b", "kind": "carrier"}',
                                 '{"name": "ok", "kind": "carrier", "x": ["\\udfff"]}'])
def test_unstorable_strings_are_422_not_500(client, auth, raw):
    response = client.post("/v1/orgs", data=raw, headers={**auth.headers("regulator"),
                                                           "Content-Type": "application/json"})
    body = assert_problem(response, 422)
    assert body["errors"]


def test_unicode_tricks_are_kept_verbatim_in_raw_value(client, auth):
    headers = auth.headers("carrier")
    tricky = "\u202e138\u200b1234\uff15678"  # bidi override, zero-width space, full-width digit
    response = client.post("/v1/entries", json={"kind": "keyword", "value": tricky}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["raw_value"] == tricky
    assert response.json["value"] == "13812345678"
