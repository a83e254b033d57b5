"""The read path (blocklist/reads.py): write cursors, `min_cursor`, and — on PostgreSQL, over a
live gunicorn with two workers — the per-worker caches of tokens and the allowlist, emptied by
LISTEN/NOTIFY so that a revocation, a client's revocation and an org's suspension take effect on
the very next request whichever worker answers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import requires_postgres, threaded_server
from sqlalchemy import event

from blocklist import create_app
from blocklist.db import db
from blocklist.feeds import cursors
from blocklist.feeds.changes import head_position

CURSOR = "X-Blocklist-Cursor"


def _head(app) -> int:
    with app.app_context():
        return head_position()


# --- write cursors ---------------------------------------------------------------------------


def test_a_write_answers_with_the_cursor_after_its_changes(app, client, publish):
    first = publish("keyword", "cursor-one")
    second = publish("keyword", "cursor-two")
    assert first.status_code == second.status_code == 201
    one, two = cursors.decode(first.headers[CURSOR]), cursors.decode(second.headers[CURSOR])
    assert two == one + 1 == _head(app)


def test_a_write_that_changes_nothing_in_the_feed_answers_with_the_head(app, client, publish, callers):
    assert publish("keyword", "cursor-head").status_code == 201
    response = client.post("/v1/orgs", json={"name": "another", "kind": "carrier"}, headers=callers["regulator"])
    assert response.status_code == 201
    assert cursors.decode(response.headers[CURSOR]) == _head(app) == 1


def test_reads_and_failed_writes_carry_no_write_cursor(client, callers, publish):
    headers = callers["carrier"]
    assert publish("keyword", "ab").status_code == 422  # too short: refused, nothing written
    assert CURSOR not in publish("keyword", "ab").headers
    reads = [
        client.get("/v1/lookup?value=10687415", headers=headers),
        client.post("/v1/lookup", json={"values": [{"value": "10687415"}]}, headers=headers),
        client.post("/v1/check", json={"text": "hello"}, headers=headers),
        client.get("/v1/entries", headers=headers),
    ]
    for response in reads:
        assert response.status_code == 200, response.json
        assert CURSOR not in response.headers


# --- min_cursor ------------------------------------------------------------------------------


READS_WITH_MIN_CURSOR = [
    ("get", "/v1/lookup?value=10687415&min_cursor={}", None),
    ("post", "/v1/lookup?min_cursor={}", {"values": [{"value": "10687415"}]}),
    ("post", "/v1/check?min_cursor={}", {"sender": "10687415", "text": "hello"}),
    ("get", "/v1/entries?min_cursor={}", None),
    ("get", "/v1/entries/{entry}?min_cursor={}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), READS_WITH_MIN_CURSOR)
def test_min_cursor_reads_the_write(client, callers, publish, method, path, body):
    published = publish("code", "10687415")
    assert published.status_code == 201
    url = path.replace("{entry}", str(published.json["id"])).format(published.headers[CURSOR])
    response = getattr(client, method)(url, json=body, headers=callers["consumer"])
    assert response.status_code == 200, response.json
    text = response.get_data(as_text=True)
    assert "10687415" in text
    if "/check" in path:
        assert response.json["verdict"] == "block"


@pytest.mark.parametrize(("method", "path", "body"), READS_WITH_MIN_CURSOR)
@pytest.mark.parametrize("cursor", ["nonsense", cursors.encode(10**9)])
def test_a_malformed_or_future_min_cursor_is_a_400_at_once(client, callers, method, path, body, cursor):
    url = path.replace("{entry}", "1").format(cursor)
    started = time.monotonic()
    response = getattr(client, method)(url, json=body, headers=callers["consumer"])
    assert response.status_code == 400, response.json
    assert response.mimetype == "application/problem+json"
    assert "min_cursor" in response.json["errors"]
    assert time.monotonic() - started < 1.0  # refused, not waited for


def test_min_cursor_needs_a_token_first(client):
    response = client.get("/v1/lookup?value=10687415&min_cursor=" + cursors.encode(10**9))
    assert response.status_code == 401


# --- round trips (PostgreSQL, a real pooled session: no test transaction around it) ----------


def test_a_cached_look_up_is_one_statement_without_begin(database_url, auth):
    fresh = create_app({"database_url": database_url, "secret_hash_method": "pbkdf2:sha256:1000", "testing": True})
    with fresh.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the caches and autocommit reads are PostgreSQL's (SQLite: no cache, by design)")
        from blocklist import listener

        assert listener.listener(db.engine).wait_connected(10)
    client = fresh.test_client()
    creds = auth.org("carrier")
    secret = (creds.client_id, creds.client_secret)
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=secret)
    headers = {"Authorization": "Bearer " + token.json["access_token"]}
    statements: list[str] = []
    in_transaction: list[bool] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
        in_transaction.append(not conn.connection.driver_connection.autocommit)

    with fresh.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get("/v1/lookup?value=10687415", headers=headers).status_code == 200  # warms the caches
        statements.clear()
        in_transaction.clear()
        response = client.get("/v1/lookup?value=10687415", headers=headers)
        assert response.status_code == 200 and response.json["listed"] is False
        # The token from the worker's cache, no allowlist read (nothing matched), no BEGIN.
        assert len(statements) == 1, statements
        assert "entries" in statements[0]
        assert in_transaction == [False]
    finally:
        with fresh.app_context():
            event.remove(db.engine, "before_cursor_execute", record)
            db.engine.dispose()


# --- the caches across two workers (PostgreSQL, live gunicorn) -------------------------------


@pytest.fixture
def two_workers(app, database_url):
    requires_postgres(app)
    server = threaded_server(database_url, workers=2, threads=4)
    yield server
    server.stop()


def _fresh_connection_get(url: str, headers: dict[str, str]) -> requests.Response:
    # A new connection each time (Connection: close), so both workers answer in turn.
    return requests.get(url, headers={**headers, "Connection": "close"}, timeout=10)


def _statuses(server, headers: dict[str, str], n: int) -> list[int]:
    """`n` look-ups, 8 at a time on new connections: both workers are kept busy, so both answer
    (and, the first time, cache the token)."""
    url = server.url + "/v1/lookup?value=10687415"
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: _fresh_connection_get(url, headers).status_code, range(n)))


def _warm(server, headers: dict[str, str], n: int = 32) -> None:
    assert _statuses(server, headers, n) == [200] * n


def _every_next_request_is(server, headers: dict[str, str], status: int, n: int = 32) -> None:
    assert _statuses(server, headers, n) == [status] * n


def test_a_revoked_token_fails_on_the_next_request_on_every_worker(two_workers, auth):
    creds = auth.org("carrier")
    headers = two_workers.bearer(creds)
    _warm(two_workers, headers)
    token = headers["Authorization"].removeprefix("Bearer ")
    secret = (creds.client_id, creds.client_secret)
    revoked = requests.post(two_workers.url + "/oauth/revoke", data={"token": token}, auth=secret, timeout=10)
    assert revoked.status_code == 200
    _every_next_request_is(two_workers, headers, 401)


def test_a_revoked_client_and_a_suspended_org_fail_on_the_next_request(two_workers, auth):
    regulator = two_workers.bearer(auth.org("regulator"))
    carrier, other = auth.org("carrier"), auth.org("internet")
    carrier_headers, other_headers = two_workers.bearer(carrier), two_workers.bearer(other)
    _warm(two_workers, carrier_headers)
    _warm(two_workers, other_headers)

    revoked = requests.delete(
        f"{two_workers.url}/v1/orgs/{carrier.org_id}/clients/{carrier.client_id}", headers=regulator, timeout=10
    )
    assert revoked.status_code in (200, 204), revoked.text
    _every_next_request_is(two_workers, carrier_headers, 401)

    suspended = requests.post(
        f"{two_workers.url}/v1/orgs/{other.org_id}/suspend", json={"reason": "test"}, headers=regulator, timeout=10
    )
    assert suspended.status_code == 200, suspended.text
    _every_next_request_is(two_workers, other_headers, 401)


def test_a_cached_token_is_held_to_its_scope_on_every_worker(two_workers, auth):
    """A worker answers a cached token without Authlib's request parsing (`oauth2.authenticate`);
    the token's scope still decides, with the same 403 and challenge as on a cache miss."""
    regulator = auth.org("regulator")
    token = requests.post(
        two_workers.url + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "entries:read"},
        auth=(regulator.client_id, regulator.client_secret),
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    _warm(two_workers, headers)  # cached on both workers
    for _ in range(8):
        refused = requests.get(two_workers.url + "/v1/orgs", headers={**headers, "Connection": "close"}, timeout=10)
        assert refused.status_code == 403
        assert refused.json()["error"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    lowercase = {"Authorization": f"bearer {token}"}  # the scheme is case-insensitive (RFC 9110 11.1)
    _every_next_request_is(two_workers, lowercase, 200, n=8)


def test_allowlisting_reaches_every_worker(two_workers, auth):
    regulator = two_workers.bearer(auth.org("regulator"))
    carrier = two_workers.bearer(auth.org("carrier"))
    url = "http://pay.example-bank.cn/login"
    assert requests.post(two_workers.url + "/v1/entries", json={"kind": "url", "value": url}, headers=carrier).ok
    lookup = f"{two_workers.url}/v1/lookup?value={url}&kind=url"
    for _ in range(12):  # both workers now hold the (empty) allowlist and see the URL listed
        assert _fresh_connection_get(lookup, carrier).json()["listed"] is True

    added = requests.post(
        two_workers.url + "/v1/allowlist",
        json={"kind": "domain", "value": "example-bank.cn", "reason": "the bank's own"},
        headers=regulator,
        timeout=10,
    )
    assert added.status_code == 201, added.text
    cursor = added.headers[CURSOR]
    # With the write's cursor: guaranteed on every worker.
    for _ in range(12):
        assert _fresh_connection_get(f"{lookup}&min_cursor={cursor}", carrier).json()["listed"] is False
    # Without: the NOTIFY has long arrived.
    for _ in range(12):
        assert _fresh_connection_get(lookup, carrier).json()["listed"] is False


def test_a_keyword_is_matched_on_every_worker_with_the_cursor(two_workers, auth):
    carrier = two_workers.bearer(auth.org("carrier"))
    check = {"text": "请把资金转入安全账户", "sender": "10690000"}
    for _ in range(6):  # both workers build their engines
        assert requests.post(two_workers.url + "/v1/check", json=check, headers=carrier, timeout=10).ok
    for i in range(10):
        published = requests.post(
            two_workers.url + "/v1/entries", json={"kind": "keyword", "value": f"安全账户{i}号"}, headers=carrier
        )
        assert published.status_code == 201
        text = {**check, "text": f"请把资金转入安全账户{i}号"}
        answer = requests.post(
            f"{two_workers.url}/v1/check?min_cursor={published.headers[CURSOR]}",
            json=text,
            headers={**carrier, "Connection": "close"},
            timeout=10,
        )
        assert answer.status_code == 200
        assert answer.json()["verdict"] == "block", (i, answer.json())
