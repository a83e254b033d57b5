"""Rate limiting per API client: 429 problems with Retry-After, org-kind budgets, the token
endpoint, never the health routes, and one count shared by gunicorn workers through Redis."""

from __future__ import annotations

import base64
import os
import uuid

import pytest
import requests
from conftest import TEST_CONFIG, AuthHelper, LiveServer
from support.problems import assert_problem

from blocklist import create_app
from blocklist.config import settings_of

LIMITS = {"carrier": "3/minute", "internet": "5/minute", "consumer": "2/minute", "regulator": "4/minute"}
TOKEN_LIMIT = "4/minute"
FAILURE_LIMIT = "6/minute"
REDIS_URL = os.environ.get("BLOCKLIST_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


def limited_app(database_url, **overrides):
    return create_app(
        {
            **TEST_CONFIG,
            "database_url": database_url,
            "rate_limit_enabled": True,
            "rate_limits": dict(LIMITS),
            "rate_limit_token": TOKEN_LIMIT,
            "rate_limit_token_failures": FAILURE_LIMIT,
            **overrides,
        }
    )


@pytest.fixture
def limited(app, database_url):
    """(test client, auth helper) of an app with small limits and in-memory storage of its own."""
    rate_app = limited_app(database_url)
    client = rate_app.test_client()
    return client, AuthHelper(rate_app, client)


def _list(client, headers):
    return client.get("/v1/entries?limit=1", headers=headers)


def test_client_over_its_limit_gets_429_problem_while_others_are_unaffected(limited):
    client, auth = limited
    carrier = auth.org("carrier")
    headers = auth.headers(carrier)
    for remaining in (2, 1, 0):
        response = _list(client, headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.headers["RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["RateLimit-Remaining"] == str(remaining)
        assert "Retry-After" not in response.headers

    over = _list(client, headers)
    body = assert_problem(over, 429)
    assert "3 per 1 minute" in body["detail"]
    assert body["instance"] == "/v1/entries"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert over.headers["RateLimit-Remaining"] == "0"

    # Another org's client, and another client of the same org, have budgets of their own.
    other_org = auth.headers(auth.org("carrier"))
    assert _list(client, other_org).status_code == 200
    same_org_other_client = auth.headers(auth.client_for(carrier.org_id))
    assert _list(client, same_org_other_client).status_code == 200
    # A new token for the limited client does not reset its budget: the key is the client.
    assert_problem(_list(client, auth.headers(carrier)), 429)


def test_budget_is_shared_across_the_whole_api(limited):
    client, auth = limited
    headers = auth.headers("carrier")
    assert client.get("/v1/entries", headers=headers).status_code == 200
    assert client.get("/v1/lookup?value=10687415", headers=headers).status_code == 200
    assert client.get("/v1/tags", headers=headers).status_code == 200
    assert_problem(client.get("/v1/lookup?value=10687415", headers=headers), 429)


@pytest.mark.parametrize("kind", sorted(LIMITS))
def test_org_kind_limits_apply(limited, kind):
    client, auth = limited
    headers = auth.headers(kind)
    allowed = int(LIMITS[kind].split("/")[0])
    statuses = [_list(client, headers).status_code for _ in range(allowed + 2)]
    assert statuses == [200] * allowed + [429, 429]


def test_org_kind_limits_come_from_the_environment(app, database_url, monkeypatch):
    monkeypatch.setenv("BLOCKLIST_RATE_LIMIT_CARRIER", "2/hour")
    monkeypatch.setenv("BLOCKLIST_RATE_LIMIT_CONSUMER", "1/hour")
    rate_app = create_app({**TEST_CONFIG, "database_url": database_url, "rate_limit_enabled": True})
    assert settings_of(rate_app).rate_limits["internet"] == "6000/minute"  # the default stays
    client = rate_app.test_client()
    auth = AuthHelper(rate_app, client)
    carrier, consumer = auth.headers("carrier"), auth.headers("consumer")
    assert [_list(client, carrier).status_code for _ in range(3)] == [200, 200, 429]
    assert [_list(client, consumer).status_code for _ in range(2)] == [200, 429]
    assert _list(client, consumer).headers["RateLimit-Limit"] == "1"


def test_a_malformed_limit_is_refused_at_start(database_url):
    with pytest.raises(RuntimeError, match="BLOCKLIST_RATE_LIMIT_CARRIER"):
        limited_app(database_url, rate_limits={**LIMITS, "carrier": "lots"})


def test_unauthenticated_requests_are_refused_not_counted(limited):
    client, auth = limited
    creds = auth.org("consumer")
    for _ in range(5):
        assert_problem(client.get("/v1/entries"), 401)
    assert _list(client, auth.headers(creds)).status_code == 200


def test_token_endpoint_is_limited_per_client_and_address(limited):
    client, auth = limited
    carrier, other = auth.org("carrier"), auth.org("carrier")
    form = {"grant_type": "client_credentials"}
    for _ in range(4):
        assert (
            client.post("/oauth/token", data=form, auth=(carrier.client_id, carrier.client_secret)).status_code == 200
        )
    over = client.post("/oauth/token", data=form, auth=(carrier.client_id, carrier.client_secret))
    body = assert_problem(over, 429)
    assert "4 per 1 minute" in body["detail"]
    assert int(over.headers["Retry-After"]) >= 1
    # The same client from another address (behind one trusted proxy hop) and another client
    # from this address still get tokens.
    assert client.post("/oauth/token", data=form, auth=(other.client_id, other.client_secret)).status_code == 200
    assert (
        client.post(
            "/oauth/token", data={**form, "client_id": other.client_id, "client_secret": other.client_secret}
        ).status_code
        == 200
    )


@pytest.fixture(params=["memory", "redis"])
def token_limited(request, app, database_url):
    """(test client, auth helper) of an app with small limits behind one trusted proxy hop,
    counting in memory or in Redis (under a key prefix of its own)."""
    overrides = {"rate_limit_proxy_hops": 1}
    connection = None
    if request.param == "redis":
        connection = _redis_or_skip()
        overrides.update(redis_url=REDIS_URL, rate_limit_key_prefix=f"blocklist-test-{uuid.uuid4().hex}")
    rate_app = limited_app(database_url, **overrides)
    client = rate_app.test_client()
    yield client, AuthHelper(rate_app, client)
    if connection is not None:
        keys = connection.keys(f"*{overrides['rate_limit_key_prefix']}*")
        assert keys, "the counts live in Redis"
        connection.delete(*keys)


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _percent_encoded(client_id: str, i: int) -> str:
    """The i-th spelling of `client_id` with some characters as %XX (upper or lower case hex)."""
    chars = [f"%{ord(c):02X}" if (j + i) % (i + 2) == 0 else c for j, c in enumerate(client_id)]
    spelled = "".join(chars)
    return spelled.lower() if i % 2 else spelled


def test_percent_encoded_spellings_of_a_client_id_share_its_budget(token_limited):
    client, auth = token_limited
    carrier = auth.org("carrier")
    form = {"grant_type": "client_credentials"}
    spellings = [_percent_encoded(carrier.client_id, i) for i in range(5)]
    assert len(set(spellings)) == 5 and carrier.client_id not in spellings
    for spelling in spellings[:4]:
        response = client.post("/oauth/token", data=form, headers=_basic(spelling, carrier.client_secret))
        assert response.status_code == 200, response.get_data(as_text=True)
    assert_problem(client.post("/oauth/token", data=form, headers=_basic(spellings[4], carrier.client_secret)), 429)
    assert_problem(client.post("/oauth/token", data=form, auth=(carrier.client_id, carrier.client_secret)), 429)


def test_junk_basic_header_with_form_credentials_shares_the_clients_budget(token_limited):
    client, auth = token_limited
    carrier = auth.org("carrier")
    form = {"grant_type": "client_credentials", "client_id": carrier.client_id, "client_secret": carrier.client_secret}
    statuses = []
    for i in range(6):
        # A different colon-less Basic value each time: Authlib ignores it and reads the form.
        junk = {"Authorization": "Basic " + base64.b64encode(f"junk-{i}".encode()).decode()}
        statuses.append(client.post("/oauth/token", data=form, headers=junk).status_code)
    assert statuses == [200] * 4 + [429] * 2
    # It was the client's own budget: plain form and Basic requests are over it too.
    assert_problem(client.post("/oauth/token", data=form), 429)
    assert_problem(
        client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(carrier.client_id, carrier.client_secret)
        ),
        429,
    )


def test_failed_authentications_are_limited_per_address(token_limited, hash_checks):
    client, auth = token_limited
    carrier = auth.org("carrier")
    form = {"grant_type": "client_credentials"}
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    allowed = int(FAILURE_LIMIT.split("/")[0])
    hash_checks.clear()
    for _ in range(allowed):
        guess = _basic("blc_" + uuid.uuid4().hex[:24], "guess")
        assert_problem(client.post("/oauth/token", data=form, headers={**guess, **attacker}), 401)
    assert len(hash_checks) == allowed
    # Spent: every further attempt from that address, whatever id and method, is refused before
    # any hashing, even with a real client's credentials.
    over = client.post(
        "/oauth/token", data=form, headers={**_basic("blc_" + uuid.uuid4().hex[:24], "guess"), **attacker}
    )
    body = assert_problem(over, 429)
    assert "failed client authentications" in body["detail"]
    assert int(over.headers["Retry-After"]) >= 1
    assert_problem(
        client.post("/oauth/token", data={**form, "client_id": "blc_x", "client_secret": "y"}, headers=attacker), 429
    )
    assert_problem(
        client.post(
            "/oauth/token", data=form, headers={**_basic(carrier.client_id, carrier.client_secret), **attacker}
        ),
        429,
    )
    assert_problem(
        client.post(
            "/oauth/introspect",
            data={"token": "blx_x"},
            headers={**_basic(carrier.client_id, carrier.client_secret), **attacker},
        ),
        429,
    )
    assert len(hash_checks) == allowed
    # Other addresses are unaffected, and successes do not spend the failure budget.
    elsewhere = {"X-Forwarded-For": "198.51.100.7"}
    for creds in (carrier, auth.org("carrier")):
        for _ in range(4):
            assert (
                client.post(
                    "/oauth/token", data=form, headers={**_basic(creds.client_id, creds.client_secret), **elsewhere}
                ).status_code
                == 200
            )
    assert_problem(
        client.post("/oauth/token", data=form, headers={**_basic(auth.org("carrier").client_id, "wrong"), **elsewhere}),
        401,
    )


def test_a_huge_client_id_does_not_make_a_huge_redis_key(app, database_url):
    connection = _redis_or_skip()
    prefix = f"blocklist-test-{uuid.uuid4().hex}"
    rate_app = limited_app(database_url, redis_url=REDIS_URL, rate_limit_key_prefix=prefix)
    client = rate_app.test_client()
    try:
        form = {"grant_type": "client_credentials"}
        assert_problem(client.post("/oauth/token", data=form, headers=_basic("b" * 100_000, "guess")), 401)
        assert_problem(
            client.post("/oauth/token", data={**form, "client_id": "f" * 100_000, "client_secret": "guess"}), 401
        )
        keys = connection.keys(f"*{prefix}*")
        assert keys and max(len(key) for key in keys) < 300, sorted(len(key) for key in keys)
    finally:
        keys = connection.keys(f"*{prefix}*")
        if keys:
            connection.delete(*keys)


def test_oversized_token_request_is_still_a_413_problem(limited):
    client, _ = limited
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "x" * (2 * 1024 * 1024)}
    )
    assert_problem(response, 413)


def test_forwarded_address_counts_only_behind_a_trusted_proxy(app, database_url):
    rate_app = limited_app(database_url, rate_limit_proxy_hops=1, rate_limit_token="1/minute")
    client = rate_app.test_client()
    creds = AuthHelper(rate_app, client).org("carrier")
    form = {"grant_type": "client_credentials"}
    basic = (creds.client_id, creds.client_secret)
    assert client.post("/oauth/token", data=form, auth=basic).status_code == 200
    assert_problem(client.post("/oauth/token", data=form, auth=basic), 429)
    from_elsewhere = {"X-Forwarded-For": "198.51.100.7"}
    assert client.post("/oauth/token", data=form, auth=basic, headers=from_elsewhere).status_code == 200
    assert_problem(client.post("/oauth/token", data=form, auth=basic, headers=from_elsewhere), 429)


def test_health_routes_are_never_limited(limited):
    client, auth = limited
    headers = auth.headers("consumer")
    for _ in range(3):
        _list(client, headers)
    for path in ("/healthz", "/readyz", "/metrics"):
        for _ in range(10):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, path
            assert "RateLimit-Limit" not in response.headers


def test_limiting_is_off_when_disabled(client, auth):
    headers = auth.headers("consumer")
    responses = [_list(client, headers) for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert "RateLimit-Limit" not in responses[-1].headers


def test_unreachable_redis_falls_back_to_counting_in_memory(app, database_url):
    rate_app = limited_app(database_url, redis_url="redis://127.0.0.1:1/0")
    client = rate_app.test_client()
    headers = AuthHelper(rate_app, client).headers("consumer")
    responses = [_list(client, headers) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[0].headers["RateLimit-Remaining"] == "1"
    assert_problem(responses[2], 429)


def _redis_or_skip():
    import redis

    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL} (set BLOCKLIST_TEST_REDIS_URL)")
    return connection


def test_redis_counts_are_shared_by_gunicorn_workers(app, auth, database_url):
    connection = _redis_or_skip()
    prefix = f"blocklist-test-{uuid.uuid4().hex}"
    server = LiveServer(
        database_url,
        workers=2,
        extra_env={
            "BLOCKLIST_REDIS_URL": REDIS_URL,
            "BLOCKLIST_RATE_LIMIT_ENABLED": "true",
            "BLOCKLIST_RATE_LIMIT_CARRIER": "10/minute",
            "BLOCKLIST_RATE_LIMIT_KEY_PREFIX": prefix,
        },
    ).start()
    try:
        headers = auth.headers("carrier")
        other = auth.headers("carrier")
        responses = []
        for _ in range(15):
            # A new connection each time, so the requests are spread over both workers.
            with requests.Session() as session:
                responses.append(session.get(server.url + "/v1/entries?limit=1", headers=headers, timeout=30))
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == 10, statuses
        assert statuses[:10] == [200] * 10
        for response in responses[10:]:
            assert response.status_code == 429
            assert response.headers["Content-Type"].startswith("application/problem+json")
            assert response.json()["status"] == 429
            assert int(response.headers["Retry-After"]) >= 1
        assert requests.get(server.url + "/v1/entries?limit=1", headers=other, timeout=30).status_code == 200
        assert all(requests.get(server.url + "/healthz", timeout=30).status_code == 200 for _ in range(12))
        assert connection.keys(f"*{prefix}*"), "the counts live in Redis"
    finally:
        server.stop()
        keys = connection.keys(f"*{prefix}*")
        if keys:
            connection.delete(*keys)


def test_every_limited_operation_documents_its_429(client):
    """Everything behind a token is limited (see `require`), so the spec says so for each."""
    spec = client.get("/openapi.json").json
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
    ]
    secured = [(path, method, op) for path, method, op in operations if op.get("security")]
    assert len(secured) > 20
    missing = [(path, method) for path, method, op in secured if "429" not in op["responses"]]
    assert missing == []
    answer = secured[0][2]["responses"]["429"]
    assert "Retry-After" in answer["headers"]
    assert answer["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
