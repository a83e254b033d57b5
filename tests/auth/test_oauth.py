"""The OAuth 2 server: client credentials, scopes, expiry, revocation, suspension."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from dataclasses import replace

import pytest
from conftest import requires_postgres
from sqlalchemy import func, select, text, update
from support.problems import assert_problem

from blocklist.audit.models import AuditRecord
from blocklist.auth.models import Client, Token
from blocklist.auth.scopes import DEFAULT_SCOPES, scope_string
from blocklist.config import settings_of
from blocklist.db import db


def _token_request(client, creds, *, basic=True, scope=None, secret=None):
    form = {"grant_type": "client_credentials"}
    if scope is not None:
        form["scope"] = scope
    secret = creds.client_secret if secret is None else secret
    if basic:
        return client.post("/oauth/token", data=form, auth=(creds.client_id, secret))
    return client.post("/oauth/token", data={**form, "client_id": creds.client_id, "client_secret": secret})


@pytest.mark.parametrize("kind", ["carrier", "internet", "regulator", "consumer"])
@pytest.mark.parametrize("basic", [True, False], ids=["basic", "form"])
def test_token_issued_for_each_org_kind_with_its_default_scopes(client, auth, kind, basic):
    creds = auth.org(kind)
    response = _token_request(client, creds, basic=basic)
    assert response.status_code == 200
    body = response.json
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == scope_string(DEFAULT_SCOPES[kind])
    assert response.headers["Cache-Control"] == "no-store"
    listed = client.get("/v1/entries", headers={"Authorization": "Bearer " + body["access_token"]})
    expected = 200 if "entries:read" in DEFAULT_SCOPES[kind] else 403
    assert listed.status_code == expected


def test_wrong_secret_is_refused(client, auth):
    creds = auth.org("carrier")
    body = assert_problem(_token_request(client, creds, secret="not-the-secret"), 401)
    assert body["error"] == "invalid_client"


@pytest.mark.parametrize("basic", [True, False], ids=["basic", "form"])
def test_unknown_client_and_wrong_secret_get_the_same_answer(client, auth, basic):
    """Nothing in the answer tells an attacker which client ids exist."""
    creds = auth.org("carrier")
    wrong_secret = _token_request(client, creds, basic=basic, secret="not-the-secret")
    unknown = _token_request(client, replace(creds, client_id="blc_" + "0" * 24), basic=basic)
    body = assert_problem(unknown, 401)
    assert body["error"] == "invalid_client"
    assert unknown.get_data() == wrong_secret.get_data()
    assert unknown.headers.get("WWW-Authenticate") == wrong_secret.headers.get("WWW-Authenticate")


@pytest.mark.parametrize("basic", [True, False], ids=["basic", "form"])
def test_unknown_and_known_client_ids_cost_the_same_hashing(app, client, auth, hash_checks, basic):
    creds = auth.org("carrier")
    other = auth.org("internet")
    assert (
        client.delete(
            f"/v1/orgs/{other.org_id}/clients/{other.client_id}", headers=auth.headers("regulator")
        ).status_code
        == 204
    )
    attempts = {
        "wrong secret": replace(creds, client_secret="not-the-secret"),
        "unknown id": replace(creds, client_id="blc_" + "0" * 24),
        "implausible id": replace(creds, client_id="x" * 500),
        "revoked client": other,
    }
    for name, attempt in attempts.items():
        hash_checks.clear()
        assert_problem(_token_request(client, attempt, basic=basic), 401)
        # One verification each, with the configured method (the dummy hash's is the same).
        assert hash_checks == [settings_of(app).secret_hash_method], name


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:secret").decode()}, id="basic-not-utf8"),
        pytest.param({"Authorization": "Basic " + base64.b64encode(b"blc%00x:secret").decode()}, id="basic-nul"),
        pytest.param({"client_id": "blc\x00x", "client_secret": "secret"}, id="form-nul"),
    ],
)
def test_hostile_client_credentials_are_refused_as_invalid_client(client, credentials):
    headers = {k: v for k, v in credentials.items() if k == "Authorization"}
    form = {"grant_type": "client_credentials", **{k: v for k, v in credentials.items() if k != "Authorization"}}
    body = assert_problem(client.post("/oauth/token", data=form, headers=headers), 401)
    assert body["error"] == "invalid_client"


def test_other_grant_types_are_refused(client, auth):
    creds = auth.org("carrier")
    response = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "u", "password": "p"},
        auth=(creds.client_id, creds.client_secret),
    )
    body = assert_problem(response, 400)
    assert body["error"] == "unsupported_grant_type"


def test_scope_can_be_narrowed(client, auth):
    regulator = auth.org("regulator")
    response = _token_request(client, regulator, scope="entries:read")
    assert response.status_code == 200
    assert response.json["scope"] == "entries:read"
    headers = {"Authorization": "Bearer " + response.json["access_token"]}
    assert client.get("/v1/entries", headers=headers).status_code == 200
    body = assert_problem(client.get("/v1/orgs", headers=headers), 403)
    assert body["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in client.get("/v1/orgs", headers=headers).headers["WWW-Authenticate"]


@pytest.mark.parametrize("scope", ["admin", "entries:read admin", "audit:read", "nonsense"])
def test_scope_beyond_the_client_is_refused(client, auth, scope):
    carrier = auth.org("carrier")
    body = assert_problem(_token_request(client, carrier, scope=scope), 400)
    assert body["error"] == "invalid_scope"


def test_missing_and_malformed_tokens_get_401_with_www_authenticate(client):
    missing = client.get("/v1/entries")
    body = assert_problem(missing, 401)
    assert missing.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert body["error"] == "missing_authorization"
    bad = client.get("/v1/entries", headers={"Authorization": "Bearer blx_forged"})
    body = assert_problem(bad, 401)
    assert body["error"] == "invalid_token"
    assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]


def test_expired_token_is_refused(app, client, auth):
    creds = auth.org("carrier")
    token = auth.token(creds)
    headers = {"Authorization": "Bearer " + token}
    assert client.get("/v1/entries", headers=headers).status_code == 200
    with app.app_context():  # let the clock run past the token's lifetime
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.execute(update(Token).values(expires_at=past))
        db.session.commit()
    assert_problem(client.get("/v1/entries", headers=headers), 401)


def test_revoked_token_stops_working_at_once(client, auth):
    creds = auth.org("internet")
    token = auth.token(creds)
    other = auth.token(creds)
    headers = {"Authorization": "Bearer " + token}
    assert client.get("/v1/entries", headers=headers).status_code == 200
    response = client.post("/oauth/revoke", data={"token": token}, auth=(creds.client_id, creds.client_secret))
    assert response.status_code == 200
    assert_problem(client.get("/v1/entries", headers=headers), 401)
    # Only that token: the client's other token still works.
    assert client.get("/v1/entries", headers={"Authorization": "Bearer " + other}).status_code == 200


def test_a_client_cannot_revoke_another_clients_token(client, auth):
    victim = auth.org("carrier")
    attacker = auth.org("carrier")
    token = auth.token(victim)
    client.post("/oauth/revoke", data={"token": token}, auth=(attacker.client_id, attacker.client_secret))
    assert client.get("/v1/entries", headers={"Authorization": "Bearer " + token}).status_code == 200


def test_revoke_requires_client_authentication(client, auth):
    creds = auth.org("carrier")
    token = auth.token(creds)
    response = client.post("/oauth/revoke", data={"token": token})
    assert_problem(response, 401)
    assert client.get("/v1/entries", headers={"Authorization": "Bearer " + token}).status_code == 200


def test_introspection(client, auth):
    creds = auth.org("carrier")
    token = auth.token(creds, scope="entries:read")
    basic = (creds.client_id, creds.client_secret)
    active = client.post("/oauth/introspect", data={"token": token}, auth=basic).json
    assert active["active"] is True
    assert active["client_id"] == creds.client_id
    assert active["scope"] == "entries:read"
    assert active["org_id"] == creds.org_id
    assert active["exp"] > active["iat"]
    # Another carrier may not learn anything about it; a regulator may.
    stranger = auth.org("carrier")
    assert client.post(
        "/oauth/introspect", data={"token": token}, auth=(stranger.client_id, stranger.client_secret)
    ).json == {"active": False}
    regulator = auth.org("regulator")
    assert (
        client.post(
            "/oauth/introspect", data={"token": token}, auth=(regulator.client_id, regulator.client_secret)
        ).json["active"]
        is True
    )
    client.post("/oauth/revoke", data={"token": token}, auth=basic)
    assert client.post("/oauth/introspect", data={"token": token}, auth=basic).json == {"active": False}
    assert client.post("/oauth/introspect", data={"token": "blx_unknown"}, auth=basic).json == {"active": False}


def test_revoked_client_loses_tokens_and_cannot_get_new_ones(client, auth):
    admin = auth.headers("regulator")
    creds = auth.org("carrier")
    token = auth.token(creds)
    headers = {"Authorization": "Bearer " + token}
    assert client.get("/v1/entries", headers=headers).status_code == 200
    assert client.delete(f"/v1/orgs/{creds.org_id}/clients/{creds.client_id}", headers=admin).status_code == 204
    assert_problem(client.get("/v1/entries", headers=headers), 401)
    assert_problem(_token_request(client, creds), 401)


def test_suspension_revokes_the_orgs_tokens_for_good(app, client, auth):
    admin = auth.headers("regulator")
    creds = auth.org("internet")
    second = auth.client_for(creds.org_id)
    bystander = {"Authorization": "Bearer " + auth.token(auth.org("internet"))}
    old = [{"Authorization": "Bearer " + auth.token(c)} for c in (creds, creds, second)]
    assert all(client.get("/v1/entries", headers=h).status_code == 200 for h in old)

    assert client.post(f"/v1/orgs/{creds.org_id}/suspend", headers=admin, json={"reason": "abuse"}).status_code == 200
    for headers in old:
        body = assert_problem(client.get("/v1/entries", headers=headers), 401)
        assert "suspended" in body["detail"]
    assert_problem(_token_request(client, creds), 401)
    with app.app_context():
        record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "org.suspend"))
        assert record.after["tokens_revoked"] == 3

    assert client.post(f"/v1/orgs/{creds.org_id}/reinstate", headers=admin).status_code == 200
    # The old tokens stay dead; the same clients get new ones that work.
    for headers in old:
        assert_problem(client.get("/v1/entries", headers=headers), 401)
    for c in (creds, second):
        assert client.get("/v1/entries", headers={"Authorization": "Bearer " + auth.token(c)}).status_code == 200
    assert client.get("/v1/entries", headers=bystander).status_code == 200


def test_rotated_secret_replaces_the_old_one(client, auth):
    admin = auth.headers("regulator")
    creds = auth.org("carrier")
    old_token = auth.token(creds)
    rotated = client.post(f"/v1/orgs/{creds.org_id}/clients/{creds.client_id}/rotate", headers=admin)
    assert rotated.status_code == 200
    new_secret = rotated.json["client_secret"]
    assert new_secret != creds.client_secret
    assert_problem(_token_request(client, creds), 401)
    assert_problem(client.get("/v1/entries", headers={"Authorization": "Bearer " + old_token}), 401)
    assert _token_request(client, creds, secret=new_secret).status_code == 200


def _wait_until_a_request_waits_on_a_lock(app, thread) -> None:
    """Return once another session of this database waits on a row lock (or `thread` ended)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(3000):  # a safety bound only; normally a few rounds
        with app.app_context(), db.engine.connect() as conn:
            if conn.scalar(query) or not thread.is_alive():
                return
        thread.join(0.01)
    raise AssertionError("the token request neither finished nor waited on a lock")


@pytest.mark.committed  # another thread and another connection race this test's writes
def test_a_token_issued_while_the_org_is_being_suspended_does_not_outlive_it(app, client, auth):
    """The token request authenticates (org active), then the suspension commits before the
    token is written: the request must see it, or a token would survive the suspension."""
    requires_postgres(app)
    admin = auth.headers("regulator")
    creds = auth.org("carrier")
    result = {}
    thread = threading.Thread(target=lambda: result.update(response=_token_request(app.test_client(), creds)))
    with app.app_context():
        holder = db.engine.connect()
    try:
        holding = holder.begin()
        # Hold the client's row: the token request pauses on it after authenticating, when it
        # writes the token (its foreign key) or locks the client and org to re-check them.
        holder.execute(select(Client.id).where(Client.client_id == creds.client_id).with_for_update())
        thread.start()
        _wait_until_a_request_waits_on_a_lock(app, thread)
        assert client.post(f"/v1/orgs/{creds.org_id}/suspend", headers=admin).status_code == 200
        holding.rollback()
        thread.join()
    finally:
        holder.close()
    assert result["response"].status_code == 401, result["response"].get_data(as_text=True)
    assert client.post(f"/v1/orgs/{creds.org_id}/reinstate", headers=admin).status_code == 200
    with app.app_context():
        live = db.session.scalar(
            select(func.count())
            .select_from(Token)
            .join(Client)
            .where(Client.org_id == creds.org_id, Token.revoked_at.is_(None))
        )
        db.session.rollback()
    assert live == 0
