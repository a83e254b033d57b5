"""`flask org create` and `flask client create` print JSON that works with the token endpoint."""

from __future__ import annotations

import json


def test_org_and_client_create_print_usable_credentials(runner, client):
    result = runner.invoke(args=["org", "create", "--name", "China Unicom", "--kind", "carrier"])
    assert result.exit_code == 0, result.output
    org = json.loads(result.output)
    assert org["id"] and org["kind"] == "carrier" and org["status"] == "active"

    result = runner.invoke(args=["client", "create", "--org", str(org["id"])])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["scope"] == "entries:read entries:write feeds:read"
    assert created["client_id"] and created["client_secret"]

    token = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(created["client_id"], created["client_secret"])
    )
    assert token.status_code == 200


def test_client_create_with_scope(runner):
    org = json.loads(runner.invoke(args=["org", "create", "--name", "Reg", "--kind", "regulator"]).output)
    result = runner.invoke(args=["client", "create", "--org", str(org["id"]), "--scope", "audit:read admin"])
    assert json.loads(result.output)["scope"] == "audit:read admin"


def test_cli_errors_exit_non_zero_with_a_message(runner):
    bad_kind = runner.invoke(args=["org", "create", "--name", "X", "--kind", "bank"])
    assert bad_kind.exit_code != 0
    missing_org = runner.invoke(args=["client", "create", "--org", "424242"])
    assert missing_org.exit_code != 0 and "424242" in missing_org.output
    org = json.loads(runner.invoke(args=["org", "create", "--name", "Y", "--kind", "consumer"]).output)
    beyond = runner.invoke(args=["client", "create", "--org", str(org["id"]), "--scope", "entries:write"])
    assert beyond.exit_code != 0 and "entries:write" in beyond.output
    duplicate = runner.invoke(args=["org", "create", "--name", "Y", "--kind", "consumer"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
