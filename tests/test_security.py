"""OWASP API Security Top 10 items not covered by a domain's own tests (see SECURITY.md):
mass assignment, excessive data exposure, and response headers."""

from __future__ import annotations

import json

import pytest
from support.problems import assert_problem


@pytest.mark.parametrize(
    "path,body",
    [
        ("/v1/entries", {"kind": "number", "value": "13800000000", "status": "revoked"}),
        ("/v1/entries", {"kind": "number", "value": "13800000000", "reporters": 99}),
        ("/v1/entries", {"kind": "number", "value": "13800000000", "id": 1}),
        ("/v1/entries/bulk", {"items": [{"kind": "code", "value": "10690000", "status": "active", "org": 1}]}),
    ],
)
def test_mass_assignment_of_server_owned_fields_is_refused(client, callers, path, body):
    """API3: fields the server owns (status, reporters, ids, orgs) cannot be set by a client."""
    body_ = assert_problem(client.post(path, json=body, headers=callers["carrier"]), 422)
    assert body_["errors"]


def test_an_org_cannot_be_created_suspended_or_a_client_with_its_own_secret(client, callers):
    assert_problem(
        client.post(
            "/v1/orgs", json={"name": "x", "kind": "carrier", "status": "suspended"}, headers=callers["regulator"]
        ),
        422,
    )
    org = client.post("/v1/orgs", json={"name": "y", "kind": "carrier"}, headers=callers["regulator"]).json
    assert_problem(
        client.post(f"/v1/orgs/{org['id']}/clients", json={"client_secret": "chosen"}, headers=callers["regulator"]),
        422,
    )


def test_entries_expose_org_names_but_no_client_credentials(client, callers, publish, auth):
    """API3: reports say which org reported, never which API client or anything secret."""
    entry = publish("number", "13800000000").json
    text = json.dumps(client.get(f"/v1/entries/{entry['id']}", headers=callers["consumer"]).json)
    creds = callers.creds["carrier"]
    assert creds.client_id not in text and creds.client_secret not in text
    assert set(entry["reports"][0]) == {
        "org",
        "raw_value",
        "reason",
        "evidence",
        "has_evidence",
        "created_at",
        "updated_at",
        "expires_at",
        "withdrawn_at",
        "close_reason",
        "via",
    }
    assert entry["reports"][0]["via"] is None  # a direct report
    clients = client.get(f"/v1/orgs/{creds.org_id}/clients", headers=callers["regulator"]).json["items"]
    assert clients and all(not {"client_secret", "secret_hash"} & set(c) for c in clients)


def test_api_responses_are_not_sniffed_or_cached(client, callers):
    response = client.get("/v1/entries", headers=callers["consumer"])
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/healthz").headers["X-Content-Type-Options"] == "nosniff"
