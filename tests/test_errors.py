"""Every error is an RFC 9457 problem document; bad input never gets a 500."""

from __future__ import annotations

import json

import pytest
from support.problems import assert_problem


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
    response = client.post(
        "/v1/orgs", headers={**auth.headers("regulator"), "Content-Type": "application/json"}, data=payload
    )
    assert_problem(response, 413)


@pytest.mark.parametrize("data", ["{bad json", "[1, 2", "\xff\xfe"])
def test_malformed_json_is_400_problem(client, auth, data):
    response = client.post(
        "/v1/orgs", headers={**auth.headers("regulator"), "Content-Type": "application/json"}, data=data
    )
    assert_problem(response, 400)


@pytest.mark.parametrize(
    "payload",
    [[], "a string", 42, None, {"name": ["x"], "kind": "carrier"}, {"name": "x", "kind": "carrier", "unexpected": 1}],
)
def test_wrong_shapes_are_422_problem_with_errors(client, auth, payload):
    response = client.post("/v1/orgs", headers=auth.headers("regulator"), json=payload)
    body = assert_problem(response, 422)
    assert body["errors"]


def test_oauth_errors_are_problems_with_rfc6749_members(client):
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    body = assert_problem(response, 401 if response.status_code == 401 else 400)
    assert body["error"] in {"invalid_client", "invalid_request"}


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "a\\u0000b", "kind": "carrier"}',
        '{"name": "a\\ud800b", "kind": "carrier"}',
        '{"name": "ok", "kind": "carrier", "x": ["\\udfff"]}',
    ],
)
def test_unstorable_strings_are_422_not_500(client, auth, raw):
    response = client.post(
        "/v1/orgs", data=raw, headers={**auth.headers("regulator"), "Content-Type": "application/json"}
    )
    body = assert_problem(response, 422)
    assert body["errors"]


def test_unicode_tricks_are_kept_verbatim_in_raw_value(client, auth):
    headers = auth.headers("carrier")
    tricky = "\u202e138\u200b1234\uff15678"  # bidi override, zero-width space, full-width digit
    response = client.post("/v1/entries", json={"kind": "keyword", "value": tricky}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["raw_value"] == tricky
    assert response.json["value"] == "13812345678"


# --- hostile input that used to reach a 500 or an unbounded error body (issue #12, items 8-9) --


def _json_post(client, path, headers, raw: bytes):
    return client.post(path, data=raw, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("path", ["/v1/entries", "/v1/check", "/v1/entries/bulk", "/v1/orgs"])
@pytest.mark.parametrize("opening,closing", [("[", "]"), ('{"a":', "}")])
def test_json_nested_past_the_limit_is_400_and_up_to_it_is_validated(client, auth, path, opening, closing):
    from blocklist.jsonio import MAX_JSON_DEPTH

    headers = auth.headers("regulator")

    def nested(depth):  # an unknown member holding `depth` levels (the body object is one more)
        inner = opening * (depth - 1) + ("1" if opening != "[" else "") + closing * (depth - 1)
        return ('{"unknown": ' + inner + "}").encode()

    assert_problem(
        _json_post(client, path, headers, (opening * 1000 + "1" * (opening != "[") + closing * 1000).encode()), 400
    )
    body = assert_problem(_json_post(client, path, headers, nested(MAX_JSON_DEPTH + 1)), 400)
    assert body["errors"] == {"body": [f"Nested more than {MAX_JSON_DEPTH} levels deep."]}
    body = assert_problem(_json_post(client, path, headers, nested(MAX_JSON_DEPTH)), 422)
    assert body["errors"]["unknown"] == ["Unknown field."]


@pytest.mark.parametrize(
    "method,url,name",
    [
        ("GET", "/v1/entries?q=ab%00", "q"),
        ("GET", "/v1/entries?tag=fraud:a%00b", "tag"),
        ("GET", "/v1/audit?action=%00", "action"),
        ("GET", "/v1/lookup?value=1381234%005678", "value"),
        ("DELETE", "/v1/orgs/{org}/clients/blc%00x", "client_id"),
    ],
)
def test_nul_in_a_query_or_path_parameter_is_422_naming_it(client, auth, method, url, name):
    regulator = auth.org("regulator")
    response = client.open(url.format(org=regulator.org_id), method=method, headers=auth.headers(regulator))
    body = assert_problem(response, 422)
    assert body["errors"] == {name: ["Contains NUL or an unpaired surrogate."]}


def test_nul_at_the_oauth_endpoints_is_refused_the_oauth_way_for_credentials(client, auth):
    """Credentials are the OAuth server's to refuse (401 invalid_client, as for any unknown id);
    NUL in any other form field is a 422 naming it."""
    creds = auth.org("carrier")
    form = {"grant_type": "client_credentials", "client_id": "a\x00", "client_secret": "x"}
    assert assert_problem(client.post("/oauth/token", data=form), 401)["error"] == "invalid_client"
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(creds.client_id + "\x00", creds.client_secret)
    )
    assert assert_problem(response, 401)["error"] == "invalid_client"
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "entries:read\x00"},
        auth=(creds.client_id, creds.client_secret),
    )
    assert assert_problem(response, 422)["errors"] == {"scope": ["Contains NUL or an unpaired surrogate."]}


def _cursor(value) -> str:
    import base64

    raw = value if isinstance(value, bytes) else json.dumps(value).encode()  # bytes: raw JSON text
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "path,value",
    [
        *[("/v1/entries", v) for v in (["abc"], [2**70], [None], [True], [[1]], [1.5], [-1], [2**63])],
        ("/v1/tags", [123]),
        ("/v1/tags", ["a\x00"]),
        ("/v1/tags", ["\ud800"]),
        ("/v1/tags", ["t" * 101]),
        *[(p, ["x"]) for p in ("/v1/allowlist", "/v1/disputes", "/v1/audit", "/v1/orgs", "/v1/audit/checkpoints")],
        ("/v1/orgs", [2**31]),
        ("/v1/audit", [2**63]),
        ("/v1/orgs", b"[" * 2000 + b"]" * 2000),
    ],
)
def test_crafted_cursors_are_400_problems(client, auth, path, value):
    body = assert_problem(
        client.get(path, query_string={"cursor": _cursor(value)}, headers=auth.headers("regulator")), 400
    )
    assert body["errors"] == {"cursor": ["Malformed cursor."]}


def test_cursors_at_the_edge_of_the_id_range_are_honoured(client, auth):
    headers = auth.headers("regulator")
    for path, top in (("/v1/audit", 2**63 - 1), ("/v1/orgs", 2**31 - 1), ("/v1/entries", 2**63 - 1)):
        response = client.get(path, query_string={"cursor": _cursor([top])}, headers=headers)
        assert response.status_code == 200, (path, response.get_data(as_text=True))
    response = client.get("/v1/tags", query_string={"cursor": _cursor(["t" * 100])}, headers=headers)
    assert response.status_code == 200


@pytest.fixture
def count_validations(monkeypatch):
    """How many objects marshmallow has deserialized (one per schema.load, nested ones too)."""
    from marshmallow import Schema

    calls = []
    original = Schema._deserialize

    def counting(self, data, **kwargs):
        calls.append(type(self).__name__)
        return original(self, data, **kwargs)

    monkeypatch.setattr(Schema, "_deserialize", counting)
    return calls


def test_a_body_of_many_unknown_keys_is_refused_before_validation(client, auth, count_validations):
    from blocklist.errors import MAX_REPORTED_ERRORS

    headers = auth.headers("regulator")
    keys = 50_000
    raw = ("{" + ",".join(f'"k{i:05d}": 0' for i in range(keys)) + "}").encode()
    response = _json_post(client, "/v1/orgs", headers, raw)
    body = assert_problem(response, 422)
    assert list(body["errors"]) == [f"k{i:05d}" for i in range(MAX_REPORTED_ERRORS)]
    assert body["errors_omitted"] == keys - MAX_REPORTED_ERRORS
    assert "OrgSchema" not in count_validations
    assert len(response.get_data()) < 10_000


def test_unknown_keys_spread_over_bulk_items_are_counted_across_them(client, auth, count_validations):
    items = [{"kind": "code", "value": f"1068{i:04d}", "x1": 1, "x2": 2} for i in range(500)]
    body = assert_problem(client.post("/v1/entries/bulk", json={"items": items}, headers=auth.headers("carrier")), 422)
    assert body["errors"]["items"]["0"] == {"x1": ["Unknown field."], "x2": ["Unknown field."]}
    assert body["errors_omitted"] == 1000 - 100
    assert "PublishSchema" not in count_validations


@pytest.mark.parametrize(
    "path,payload,field,limit",
    [
        ("/v1/entries/bulk", {"items": [{}] * 20_000}, "items", 10_000),
        ("/v1/lookup", {"values": [{"value": "1"}] * 20_000}, "values", 1000),
    ],
)
def test_an_over_long_list_is_refused_before_its_items_are_validated(
    client, auth, count_validations, path, payload, field, limit
):
    body = assert_problem(client.post(path, json=payload, headers=auth.headers("carrier")), 422)
    assert body["errors"] == {field: [f"Length must be between 1 and {limit}."]}
    assert len(count_validations) == 0


def test_validation_errors_past_the_cap_are_counted_not_listed(client, auth):
    from blocklist.errors import MAX_REPORTED_ERRORS

    items = [{"kind": "bogus", "value": f"1068{i:04d}"} for i in range(300)]
    body = assert_problem(client.post("/v1/entries/bulk", json={"items": items}, headers=auth.headers("carrier")), 422)
    assert len(body["errors"]["items"]) == MAX_REPORTED_ERRORS
    assert body["errors_omitted"] == 300 - MAX_REPORTED_ERRORS
    assert "errors_omitted" in body["detail"]


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_datetimes_past_what_utc_can_hold_are_422(client, auth, moment):
    headers = auth.headers("regulator")
    for path, name in (("/v1/entries", "updated_since"), ("/v1/audit", "since"), ("/v1/audit", "until")):
        body = assert_problem(client.get(path, query_string={name: moment}, headers=headers), 422)
        assert body["errors"] == {name: ["Out of range once converted to UTC."]}
    entry = client.post("/v1/entries", json={"kind": "code", "value": "10687415"}, headers=headers).json
    body = assert_problem(client.patch(f"/v1/entries/{entry['id']}", json={"expires_at": moment}, headers=headers), 422)
    assert body["errors"] == {"expires_at": ["Out of range once converted to UTC."]}
