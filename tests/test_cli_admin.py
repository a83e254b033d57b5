"""Operator commands for orgs and clients (`flask org list|suspend|reinstate`, `flask client
list|rotate|revoke`), run through Flask's CLI runner on the real database; their effect is
checked over HTTP (tokens die, secrets change) and in the audit trail (the operator did it)."""

from __future__ import annotations

import json

import pytest


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def _token_status(client, client_id: str, secret: str) -> int:
    return client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)).status_code


def _audit(client, auth, **query) -> list[dict]:
    """The audit records matching `query`, read over HTTP by a regulator (made once per test)."""
    if not hasattr(auth, "regulator_headers"):
        auth.regulator_headers = auth.headers("regulator")
    response = client.get("/v1/audit", query_string=query, headers=auth.regulator_headers)
    assert response.status_code == 200, response.json
    return response.json["items"]


def test_org_list_prints_every_org_one_json_object_a_line(runner, auth):
    created = [auth.org(kind) for kind in ("carrier", "internet", "regulator")]
    result = runner.invoke(args=["org", "list"])
    assert result.exit_code == 0, result.output
    orgs = _lines(result.output)
    assert [o["id"] for o in orgs] == [c.org_id for c in created]
    assert [o["kind"] for o in orgs] == ["carrier", "internet", "regulator"]
    assert all(o["status"] == "active" for o in orgs)


def test_org_suspend_kills_tokens_at_once_and_reinstate_lets_the_org_back(runner, client, auth):
    carrier = auth.org("carrier")
    bearer = auth.headers(carrier)
    assert client.get("/v1/lookup?value=10687415", headers=bearer).status_code == 200

    result = runner.invoke(args=["org", "suspend", str(carrier.org_id), "--reason", "fraud ring"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "suspended"
    assert client.get("/v1/lookup?value=10687415", headers=bearer).status_code == 401
    assert _token_status(client, carrier.client_id, carrier.client_secret) == 401

    result = runner.invoke(args=["org", "reinstate", str(carrier.org_id)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "active"
    assert client.get("/v1/lookup?value=10687415", headers=bearer).status_code == 401  # old token stays dead
    assert client.get("/v1/lookup?value=10687415", headers=auth.headers(carrier)).status_code == 200

    records = _audit(client, auth, target_type="org", target_id=str(carrier.org_id), action="org.")
    actions = [(r["action"], r["actor_org_name"], r["reason"]) for r in records]
    assert ("org.suspend", "operator (cli)", "fraud ring") in actions
    assert ("org.reinstate", "operator (cli)", None) in actions


@pytest.mark.parametrize(
    "args",
    [
        ["org", "suspend", "424242"],
        ["org", "reinstate", "424242"],
        ["client", "list", "--org", "424242"],
        ["client", "rotate", "--org", "424242", "blc_x"],
        ["client", "revoke", "--org", "424242", "blc_x"],
    ],
)
def test_unknown_org_is_a_clear_error_and_changes_nothing(runner, client, auth, args):
    before = _audit(client, auth)
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "No organisation with id 424242" in result.output
    assert "Traceback" not in result.output
    assert _audit(client, auth) == before


def test_client_list_shows_an_orgs_clients_without_secrets(runner, auth):
    carrier = auth.org("carrier")
    second = auth.client_for(carrier.org_id, scope="entries:read")
    auth.org("internet")  # another org's client is not listed
    result = runner.invoke(args=["client", "list", "--org", str(carrier.org_id)])
    assert result.exit_code == 0, result.output
    clients = _lines(result.output)
    assert [c["client_id"] for c in clients] == [carrier.client_id, second.client_id]
    assert clients[1]["scope"] == "entries:read"
    assert "secret" not in result.output.replace("secret_rotated_at", "")


def test_client_rotate_prints_a_new_secret_once_and_the_old_one_stops_working(runner, client, auth):
    carrier = auth.org("carrier")
    bearer = auth.headers(carrier)
    result = runner.invoke(args=["client", "rotate", "--org", str(carrier.org_id), carrier.client_id])
    assert result.exit_code == 0, result.output
    rotated = json.loads(result.output)
    assert rotated["client_id"] == carrier.client_id and rotated["secret_rotated_at"]
    new_secret = rotated["client_secret"]
    assert new_secret and new_secret != carrier.client_secret

    assert _token_status(client, carrier.client_id, carrier.client_secret) == 401
    assert client.get("/v1/lookup?value=1", headers=bearer).status_code == 401
    assert _token_status(client, carrier.client_id, new_secret) == 200

    (record,) = _audit(client, auth, action="client.rotate")
    assert record["target_id"] == carrier.client_id and record["actor_org_name"] == "operator (cli)"
    assert new_secret not in json.dumps(record)
    # The secret is shown once: the listing never shows it again.
    listing = runner.invoke(args=["client", "list", "--org", str(carrier.org_id)])
    assert new_secret not in listing.output


def test_revoked_client_cannot_get_a_token_over_http(runner, client, auth):
    carrier = auth.org("carrier")
    bearer = auth.headers(carrier)
    result = runner.invoke(args=["client", "revoke", "--org", str(carrier.org_id), carrier.client_id])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["revoked_at"]

    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(carrier.client_id, carrier.client_secret)
    )
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert client.get("/v1/lookup?value=1", headers=bearer).status_code == 401
    (record,) = _audit(client, auth, action="client.revoke")
    assert record["target_id"] == carrier.client_id and record["actor_org_name"] == "operator (cli)"

    again = runner.invoke(args=["client", "rotate", "--org", str(carrier.org_id), carrier.client_id])
    assert again.exit_code == 1 and "revoked" in again.output


def test_a_client_is_named_with_its_own_org(runner, client, auth):
    carrier, other = auth.org("carrier"), auth.org("internet")
    result = runner.invoke(args=["client", "revoke", "--org", str(other.org_id), carrier.client_id])
    assert result.exit_code == 1 and carrier.client_id in result.output
    assert _token_status(client, carrier.client_id, carrier.client_secret) == 200
