"""Each write leaves exactly one record with who, when, which request, before and after;
failed writes leave none; secrets and tokens never reach the trail."""

from __future__ import annotations

from support.audit import max_seq, records_after, sql, trail_text
from support.problems import assert_problem


def _one_record(app, since: int, action: str) -> dict:
    new = records_after(app, since)
    assert [r["action"] for r in new] == [action], new
    return new[0]


def _as_admin(auth, request_id: str):
    admin = auth.org("regulator")
    return admin, {**auth.headers(admin), "X-Request-Id": request_id}


def _assert_actor(app, record: dict, creds, request_id: str) -> None:
    assert record["actor_org_id"] == creds.org_id
    assert record["actor_client_id"] == creds.client_id
    assert record["actor_org_name"] == sql(app, "SELECT name FROM orgs WHERE id = :id", id=creds.org_id)[0][0]
    assert record["request_id"] == request_id
    assert record["remote_addr"] == "127.0.0.1"


def test_org_create_is_recorded(app, client, auth):
    admin, headers = _as_admin(auth, "req-org-create")
    before = max_seq(app)
    response = client.post("/v1/orgs", headers=headers, json={"name": "China Mobile", "kind": "carrier"})
    assert response.status_code == 201
    assert response.headers["X-Request-Id"] == "req-org-create"
    record = _one_record(app, before, "org.create")
    _assert_actor(app, record, admin, "req-org-create")
    assert record["target_type"] == "org" and record["target_id"] == str(response.json["id"])
    assert record["before"] is None
    assert record["after"]["name"] == "China Mobile" and record["after"]["kind"] == "carrier"
    assert record["after"]["status"] == "active"


def test_org_suspend_and_reinstate_are_recorded(app, client, auth):
    admin, headers = _as_admin(auth, "req-suspend")
    target = auth.org("carrier")
    before = max_seq(app)
    response = client.post(f"/v1/orgs/{target.org_id}/suspend", headers=headers, json={"reason": "spam"})
    assert response.status_code == 200
    record = _one_record(app, before, "org.suspend")
    _assert_actor(app, record, admin, "req-suspend")
    assert record["target_id"] == str(target.org_id) and record["reason"] == "spam"
    assert record["before"]["status"] == "active" and record["before"]["suspended_at"] is None
    assert record["after"]["status"] == "suspended" and record["after"]["suspended_at"]

    before = max_seq(app)
    headers["X-Request-Id"] = "req-reinstate"
    assert client.post(f"/v1/orgs/{target.org_id}/reinstate", headers=headers).status_code == 200
    record = _one_record(app, before, "org.reinstate")
    _assert_actor(app, record, admin, "req-reinstate")
    assert record["before"]["status"] == "suspended" and record["after"]["status"] == "active"
    assert record["reason"] is None


def test_client_create_rotate_and_revoke_are_recorded(app, client, auth):
    admin, headers = _as_admin(auth, "req-client-create")
    target = auth.org("internet")
    before = max_seq(app)
    created = client.post(
        f"/v1/orgs/{target.org_id}/clients", headers=headers, json={"name": "interceptor", "scope": "entries:read"}
    )
    assert created.status_code == 201
    client_id = created.json["client_id"]
    record = _one_record(app, before, "client.create")
    _assert_actor(app, record, admin, "req-client-create")
    assert record["target_type"] == "client" and record["target_id"] == client_id
    assert record["before"] is None
    assert record["after"] == {
        **record["after"],
        "client_id": client_id,
        "org_id": target.org_id,
        "name": "interceptor",
        "scope": "entries:read",
        "revoked_at": None,
    }

    before = max_seq(app)
    headers["X-Request-Id"] = "req-rotate"
    assert client.post(f"/v1/orgs/{target.org_id}/clients/{client_id}/rotate", headers=headers).status_code == 200
    record = _one_record(app, before, "client.rotate")
    _assert_actor(app, record, admin, "req-rotate")
    assert record["before"]["secret_rotated_at"] is None and record["after"]["secret_rotated_at"]

    before = max_seq(app)
    headers["X-Request-Id"] = "req-revoke-client"
    assert client.delete(f"/v1/orgs/{target.org_id}/clients/{client_id}", headers=headers).status_code == 204
    record = _one_record(app, before, "client.revoke")
    _assert_actor(app, record, admin, "req-revoke-client")
    assert record["before"]["revoked_at"] is None and record["after"]["revoked_at"]


def test_token_revoke_is_recorded_as_the_revoking_client(app, client, auth):
    creds = auth.org("carrier")
    token = auth.token(creds)
    token_id = sql(app, "SELECT max(id) FROM oauth_tokens")[0][0]
    before = max_seq(app)
    response = client.post(
        "/oauth/revoke",
        data={"token": token},
        auth=(creds.client_id, creds.client_secret),
        headers={"X-Request-Id": "req-token-revoke"},
    )
    assert response.status_code == 200
    record = _one_record(app, before, "token.revoke")
    _assert_actor(app, record, creds, "req-token-revoke")
    assert record["target_type"] == "token" and record["target_id"] == str(token_id)
    assert record["after"]["client_id"] == creds.client_id and record["after"]["revoked_at"]


def test_generated_request_id_is_recorded_and_returned(app, client, auth):
    _, headers = _as_admin(auth, "ignored")
    del headers["X-Request-Id"]
    before = max_seq(app)
    response = client.post("/v1/orgs", headers=headers, json={"name": "Gen", "kind": "consumer"})
    assert response.status_code == 201
    assert _one_record(app, before, "org.create")["request_id"] == response.headers["X-Request-Id"]


def test_failed_changes_leave_no_record(app, client, auth):
    _, headers = _as_admin(auth, "req-fail")
    assert client.post("/v1/orgs", headers=headers, json={"name": "Dup", "kind": "carrier"}).status_code == 201
    consumer = auth.org("consumer")
    before = max_seq(app)
    assert_problem(client.post("/v1/orgs", headers=headers, json={"name": "Dup", "kind": "internet"}), 409)
    assert_problem(client.post("/v1/orgs", headers=headers, json={"name": "X", "kind": "bank"}), 422)
    assert_problem(
        client.post(f"/v1/orgs/{consumer.org_id}/clients", headers=headers, json={"scope": "entries:write"}), 422
    )
    assert_problem(client.post("/v1/orgs/424242/suspend", headers=headers), 404)
    assert_problem(client.post("/v1/orgs", json={"name": "NoToken", "kind": "carrier"}), 401)
    assert records_after(app, before) == []


def test_no_secret_or_token_ever_reaches_the_trail(app, client, auth):
    admin = auth.org("regulator")
    headers = auth.headers(admin)
    target = auth.org("carrier")
    secrets = [admin.client_secret, target.client_secret]
    created = client.post(f"/v1/orgs/{target.org_id}/clients", headers=headers, json={"name": "second"}).json
    secrets.append(created["client_secret"])
    rotated = client.post(f"/v1/orgs/{target.org_id}/clients/{created['client_id']}/rotate", headers=headers).json
    secrets.append(rotated["client_secret"])
    tokens = [headers["Authorization"].split()[1], auth.token(target), auth.token(target)]
    assert (
        client.post(
            "/oauth/revoke", data={"token": tokens[1]}, auth=(target.client_id, target.client_secret)
        ).status_code
        == 200
    )
    client.delete(f"/v1/orgs/{target.org_id}/clients/{target.client_id}", headers=headers)
    secret_hashes = [row[0] for row in sql(app, "SELECT secret_hash FROM oauth_clients")]
    token_hashes = [row[0] for row in sql(app, "SELECT token_hash FROM oauth_tokens")]

    trail = trail_text(app)
    assert {"client.create", "client.rotate", "client.revoke", "token.revoke"} <= {
        r["action"] for r in records_after(app)
    }
    for value in secrets + tokens + secret_hashes + token_hashes:
        assert value and value not in trail
    # The API shows the same records; nothing secret there either.
    listed = client.get("/v1/audit?limit=1000", headers=headers).get_data(as_text=True)
    for value in secrets + tokens + secret_hashes + token_hashes:
        assert value not in listed


def test_remote_addr_is_the_caller_behind_a_trusted_proxy_and_never_a_claim(app, client, auth, database_url):
    """Behind nginx (rate_limit_proxy_hops=1: Werkzeug's ProxyFix) the trail records the
    address nginx saw, not nginx's own; without trusted proxies a caller's X-Forwarded-For is
    ignored."""
    from conftest import TEST_CONFIG, AuthHelper

    from blocklist import create_app

    admin, headers = _as_admin(auth, "req-proxy")
    forwarded = {**headers, "X-Forwarded-For": "203.0.113.9, 198.51.100.7"}  # claim, then nginx's entry
    before = max_seq(app)
    assert client.post("/v1/orgs", headers=forwarded, json={"name": "Spoofer", "kind": "carrier"}).status_code == 201
    assert _one_record(app, before, "org.create")["remote_addr"] == "127.0.0.1"
    proxied = create_app({**TEST_CONFIG, "database_url": database_url, "rate_limit_proxy_hops": 1})
    behind = proxied.test_client()
    helper = AuthHelper(proxied, behind)
    forwarded = {
        **helper.headers(helper.org("regulator", name="Regulator behind nginx")),
        "X-Forwarded-For": "203.0.113.9, 198.51.100.7",
    }
    before = max_seq(app)
    assert (
        behind.post("/v1/orgs", headers=forwarded, json={"name": "Behind nginx", "kind": "carrier"}).status_code == 201
    )
    assert _one_record(app, before, "org.create")["remote_addr"] == "198.51.100.7"


def test_only_known_actions_are_recorded(app):
    """An audit action outside `Action` is a programming error, refused before anything is written."""
    import pytest

    from blocklist.audit.services import record_many
    from blocklist.context import OPERATOR

    with app.app_context(), pytest.raises(ValueError):
        record_many([{"action": "entry.mystery", "target_type": "entry", "target_id": 1}], OPERATOR)
