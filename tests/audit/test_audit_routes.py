"""GET /v1/audit…: listing, filters, keyset pages, one record, checkpoints, and who may read."""

from __future__ import annotations

import datetime as dt

import pytest
from support.audit import RECORD_FIELDS, max_seq, sql
from support.problems import assert_problem

AUDIT_ROUTES = ["/v1/audit", "/v1/audit/1", "/v1/audit/verify", "/v1/audit/checkpoints"]


@pytest.fixture
def reader(auth):
    """A regulator (the only kind with audit:read) and its headers."""
    creds = auth.org("regulator", name="Reader")
    return creds, auth.headers(creds)


def _all_pages(client, headers, query: str) -> list[dict]:
    items, cursor = [], None
    while True:
        url = f"/v1/audit?{query}" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers)
        assert page.status_code == 200, page.get_data(as_text=True)
        items += page.json["items"]
        cursor = page.json["next_cursor"]
        if cursor is None:
            return items


def test_list_is_newest_first_with_every_field_and_pages(client, auth, reader):
    _, headers = reader
    for _ in range(3):
        auth.org("carrier")
    first = client.get("/v1/audit", headers={**headers, "X-Request-Id": "audit-read-1"})
    assert first.status_code == 200
    assert first.headers["X-Request-Id"] == "audit-read-1"
    items = first.json["items"]
    assert [i["seq"] for i in items] == list(range(8, 0, -1))
    assert first.json["next_cursor"] is None
    assert set(items[0]) == set(RECORD_FIELDS)
    assert items[0]["prev_hash"] == items[1]["hash"]

    paged = _all_pages(client, headers, "limit=3")
    assert paged == items
    ascending = _all_pages(client, headers, "limit=3&order=asc")
    assert ascending == list(reversed(items))


def test_one_record_and_404(client, reader):
    creds, headers = reader
    one = client.get("/v1/audit/1", headers=headers)
    assert one.status_code == 200 and one.headers["X-Request-Id"]
    assert one.json["seq"] == 1 and one.json["action"] == "org.create"
    assert one.json["target_id"] == str(creds.org_id)
    body = assert_problem(client.get("/v1/audit/999", headers=headers), 404)
    assert "999" in body["detail"]
    assert_problem(client.get("/v1/audit/" + "9" * 30, headers=headers), 404)


def test_filters(app, client, auth, reader):
    creds, headers = reader
    carrier = auth.org("carrier")
    client.post(f"/v1/orgs/{carrier.org_id}/suspend", headers=headers, json={"reason": "x"})

    def seqs(query):
        return [i["seq"] for i in _all_pages(client, headers, query)]

    def actions(query):
        return [i["action"] for i in _all_pages(client, headers, query + "&order=asc")]

    assert actions("target_type=client") == ["client.create", "client.create"]
    assert actions(f"target_type=org&target_id={carrier.org_id}") == ["org.create", "org.suspend"]
    assert actions("action=org.") == ["org.create", "org.create", "org.suspend"]
    assert actions("action=org.suspend") == ["org.suspend"]
    assert actions("action=%25") == [] and actions("action=org_") == []  # wildcards are literal
    assert actions(f"actor_org={creds.org_id}") == ["org.suspend"]  # made over HTTP by the reader
    assert seqs("actor_org=424242") == []

    # since/until: move record 1 back a day and select around it.
    sql(
        app,
        "UPDATE audit_records SET created_at = :t WHERE seq = 1",
        t=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=1),
    )
    cut = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    assert seqs(f"until={cut.replace('+', '%2B')}") == [1]
    assert seqs(f"since={cut.replace('+', '%2B')}") == list(range(max_seq(app), 1, -1))
    naive = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert seqs(f"until={naive}") == [1]  # no offset means UTC


@pytest.mark.parametrize(
    "query, field",
    [
        ("actor_org=abc", "actor_org"),
        ("actor_org=" + "9" * 30, "actor_org"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00", "until"),
        ("order=sideways", "order"),
        ("limit=0", "limit"),
        ("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "until"),
        ("target_type=", "target_type"),
        ("actor_org_id=3", "actor_org_id"),  # a typo is refused, not ignored
    ],
)
def test_bad_filters_are_422_per_field(client, reader, query, field):
    _, headers = reader
    body = assert_problem(client.get(f"/v1/audit?{query}", headers=headers), 422)
    assert field in body["errors"], body


def test_malformed_cursor_is_400(client, reader):
    assert_problem(client.get("/v1/audit?cursor=%%%", headers=reader[1]), 400)


def test_verify_route(client, reader):
    body = client.get("/v1/audit/verify", headers=reader[1]).json
    assert body == {"ok": True, "records": 2, "head": body["head"], "first_bad": None, "reason": None, "from_seq": 0}
    assert len(body["head"]) == 64


def test_checkpoints_route_and_public_key(client, runner, reader, signing_key):
    _, headers = reader
    assert client.get("/v1/audit/checkpoints", headers=headers).json == {"items": [], "next_cursor": None}
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    listed = client.get("/v1/audit/checkpoints", headers=headers).json["items"]
    assert len(listed) == 1 and listed[0]["seq"] == 2
    assert set(listed[0]) == {"id", "seq", "head_hash", "created_at", "signature", "key_id"}
    key = client.get("/v1/audit/public-key")  # public: anyone may check a signature
    assert key.status_code == 200 and key.headers["X-Request-Id"]
    assert key.json["algorithm"] == "Ed25519" and key.json["key_id"] == listed[0]["key_id"]
    assert key.json["public_key"].startswith("-----BEGIN PUBLIC KEY-----")


@pytest.mark.parametrize("path", AUDIT_ROUTES)
def test_carrier_token_is_forbidden(client, auth, path):
    assert_problem(client.get(path, headers=auth.headers("carrier")), 403)


@pytest.mark.parametrize("path", AUDIT_ROUTES)
def test_regulator_token_without_audit_read_is_forbidden(client, auth, path):
    regulator = auth.org("regulator")
    assert_problem(client.get(path, headers=auth.headers(regulator, scope="admin")), 403)


@pytest.mark.parametrize("path", AUDIT_ROUTES)
def test_no_token_is_401(client, path):
    body = assert_problem(client.get(path), 401)
    assert body["error"] == "missing_authorization"
