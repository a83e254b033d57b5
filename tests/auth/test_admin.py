"""The regulators' admin API: every route as regulator, as other kinds and without a token."""

from __future__ import annotations

import pytest
from support.problems import assert_problem


def _admin_routes(org_id: int, client_id: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "/v1/orgs", None),
        ("POST", "/v1/orgs", {"name": "New Org", "kind": "internet"}),
        ("GET", f"/v1/orgs/{org_id}", None),
        ("POST", f"/v1/orgs/{org_id}/suspend", {"reason": "test"}),
        ("POST", f"/v1/orgs/{org_id}/reinstate", {}),
        ("GET", f"/v1/orgs/{org_id}/clients", None),
        ("POST", f"/v1/orgs/{org_id}/clients", {"name": "second"}),
        ("POST", f"/v1/orgs/{org_id}/clients/{client_id}/rotate", None),
        ("DELETE", f"/v1/orgs/{org_id}/clients/{client_id}", None),
    ]


ROUTE_IDS = [
    "list-orgs",
    "create-org",
    "get-org",
    "suspend",
    "reinstate",
    "list-clients",
    "create-client",
    "rotate",
    "revoke-client",
]
EXPECTED_OK = [200, 201, 200, 200, 200, 200, 201, 200, 204]


@pytest.mark.parametrize("index", range(len(ROUTE_IDS)), ids=ROUTE_IDS)
def test_regulator_may_use_every_admin_route(client, auth, index):
    admin = auth.headers("regulator")
    target = auth.org("carrier")
    method, path, body = _admin_routes(target.org_id, target.client_id)[index]
    response = client.open(path, method=method, headers=admin, json=body)
    assert response.status_code == EXPECTED_OK[index], response.get_data(as_text=True)


@pytest.mark.parametrize("index", range(len(ROUTE_IDS)), ids=ROUTE_IDS)
@pytest.mark.parametrize("caller_kind", ["carrier", "internet", "consumer"])
def test_non_regulators_are_forbidden_every_admin_route(client, auth, index, caller_kind):
    caller = auth.org(caller_kind)
    # The caller targets its own org, the most tempting case.
    method, path, body = _admin_routes(caller.org_id, caller.client_id)[index]
    response = client.open(path, method=method, headers=auth.headers(caller), json=body)
    assert_problem(response, 403)


@pytest.mark.parametrize("index", range(len(ROUTE_IDS)), ids=ROUTE_IDS)
def test_admin_routes_need_a_token(client, auth, index):
    target = auth.org("carrier")
    method, path, body = _admin_routes(target.org_id, target.client_id)[index]
    assert_problem(client.open(path, method=method, json=body), 401)


def test_regulator_token_without_admin_scope_is_forbidden(client, auth):
    regulator = auth.org("regulator")
    headers = auth.headers(regulator, scope="entries:read entries:write feeds:read audit:read")
    assert_problem(client.get("/v1/orgs", headers=headers), 403)


def test_org_lifecycle_and_listing(client, auth):
    admin = auth.headers("regulator")
    created = client.post("/v1/orgs", headers=admin, json={"name": "China Mobile", "kind": "carrier"})
    assert created.status_code == 201
    org = created.json
    assert org["kind"] == "carrier" and org["status"] == "active" and org["suspended_at"] is None
    assert client.get(f"/v1/orgs/{org['id']}", headers=admin).json == org
    duplicate = client.post("/v1/orgs", headers=admin, json={"name": "China Mobile", "kind": "internet"})
    assert_problem(duplicate, 409)
    suspended = client.post(f"/v1/orgs/{org['id']}/suspend", headers=admin).json
    assert suspended["status"] == "suspended" and suspended["suspended_at"]
    reinstated = client.post(f"/v1/orgs/{org['id']}/reinstate", headers=admin).json
    assert reinstated["status"] == "active" and reinstated["suspended_at"] is None


def test_org_list_pages_with_cursor(client, auth):
    admin = auth.headers("regulator")
    for i in range(5):
        client.post("/v1/orgs", headers=admin, json={"name": f"org {i}", "kind": "internet"})
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/orgs", headers=admin, query_string=params).json
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 and seen == sorted(seen) and len(set(seen)) == 6


@pytest.mark.parametrize(
    "params, field", [({"limit": 0}, "limit"), ({"limit": 100000}, "limit"), ({"limit": "ten"}, "limit")]
)
def test_bad_page_arguments_are_422(client, auth, params, field):
    body = assert_problem(client.get("/v1/orgs", headers=auth.headers("regulator"), query_string=params), 422)
    assert field in body["errors"]


def test_malformed_cursor_is_400(client, auth):
    body = assert_problem(
        client.get("/v1/orgs", headers=auth.headers("regulator"), query_string={"cursor": "!!not-a-cursor"}), 400
    )
    assert "cursor" in body["errors"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "x"}, "kind"),
        ({"kind": "carrier"}, "name"),
        ({"name": "", "kind": "carrier"}, "name"),
        ({"name": "x", "kind": "bank"}, "kind"),
        ({"name": 5, "kind": "carrier"}, "name"),
    ],
)
def test_org_create_validation(client, auth, payload, field):
    body = assert_problem(client.post("/v1/orgs", headers=auth.headers("regulator"), json=payload), 422)
    assert field in body["errors"]


def test_client_secret_is_shown_once_and_scopes_are_capped(client, auth):
    admin = auth.headers("regulator")
    target = auth.org("consumer")
    created = client.post(f"/v1/orgs/{target.org_id}/clients", headers=admin, json={"name": "exporter"})
    assert created.status_code == 201
    assert created.json["client_secret"]
    assert created.json["scope"] == "entries:read feeds:read"
    listing = client.get(f"/v1/orgs/{target.org_id}/clients", headers=admin).json
    assert len(listing["items"]) == 2
    assert all("client_secret" not in item and "secret_hash" not in item for item in listing["items"])
    narrowed = client.post(f"/v1/orgs/{target.org_id}/clients", headers=admin, json={"scope": "feeds:read"})
    assert narrowed.json["scope"] == "feeds:read"
    refused = client.post(f"/v1/orgs/{target.org_id}/clients", headers=admin, json={"scope": "entries:write"})
    assert "scope" in assert_problem(refused, 422)["errors"]


def test_client_routes_404_for_unknown_or_foreign_clients(client, auth):
    admin = auth.headers("regulator")
    one = auth.org("carrier")
    other = auth.org("carrier")
    assert_problem(client.get("/v1/orgs/9999", headers=admin), 404)
    assert_problem(client.get("/v1/orgs/9999/clients", headers=admin), 404)
    # A client id must belong to the org in the path.
    assert_problem(client.delete(f"/v1/orgs/{one.org_id}/clients/{other.client_id}", headers=admin), 404)
    assert_problem(client.post(f"/v1/orgs/{one.org_id}/clients/{other.client_id}/rotate", headers=admin), 404)
    assert_problem(client.post(f"/v1/orgs/{one.org_id}/clients/blc_nope/rotate", headers=admin), 404)


def test_suspended_org_gets_no_new_clients(client, auth):
    admin = auth.headers("regulator")
    target = auth.org("carrier")
    client.post(f"/v1/orgs/{target.org_id}/suspend", headers=admin)
    assert_problem(client.post(f"/v1/orgs/{target.org_id}/clients", headers=admin, json={}), 409)
