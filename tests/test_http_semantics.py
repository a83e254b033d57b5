"""JSON answers are UTF-8 as is, and the caller's address behind trusted proxies is Werkzeug's
ProxyFix's (`BLOCKLIST_RATE_LIMIT_PROXY_HOPS`), never a claim further left."""

from __future__ import annotations

import json

from conftest import TEST_CONFIG, AuthHelper
from support.audit import max_seq, records_after
from werkzeug.middleware.proxy_fix import ProxyFix

from blocklist import create_app

KEYWORD = "安 全 账 户"


def test_json_answers_carry_chinese_as_utf8_not_escapes(client, callers, publish):
    published = publish("keyword", KEYWORD, reason="转账诈骗话术", tags=["channel:sms"])
    assert published.status_code == 201
    raw = published.get_data()  # bytes as sent
    assert "安 全 账 户".encode() in raw and "转账诈骗话术".encode() in raw
    assert b"\\u" not in raw
    assert published.mimetype == "application/json"
    assert json.loads(raw.decode("utf-8"))["raw_value"] == KEYWORD

    # A list, a look-up and a problem document answer the same way.
    listed = client.get("/v1/entries", query_string={"kind": "keyword"}, headers=callers["carrier"]).get_data()
    assert "安全账户".encode() in listed and b"\\u" not in listed
    verdict = client.get("/v1/lookup", query_string={"value": "安全 账户"}, headers=callers["carrier"]).get_data()
    assert b'"listed": true' in verdict or b'"listed":true' in verdict
    assert b"\\u" not in verdict
    allowlisted = client.post(
        "/v1/allowlist", json={"kind": "code", "value": "95588", "reason": "工商银行客服"}, headers=callers["regulator"]
    )
    assert allowlisted.status_code == 201
    problem = publish("code", "95588")
    assert problem.status_code == 409 and problem.mimetype == "application/problem+json"
    assert "工商银行客服".encode() in problem.get_data() and b"\\u" not in problem.get_data()


def test_proxy_hops_map_onto_werkzeug_proxyfix(database_url, app):
    direct = create_app({**TEST_CONFIG, "database_url": database_url})
    assert not isinstance(direct.wsgi_app, ProxyFix)
    proxied = create_app({**TEST_CONFIG, "database_url": database_url, "rate_limit_proxy_hops": 2})
    assert isinstance(proxied.wsgi_app, ProxyFix) and proxied.wsgi_app.x_for == 2

    # Two trusted hops: the caller is the entry the outer proxy added, second from the right;
    # what the caller itself claimed (further left) is ignored.
    client = proxied.test_client()
    auth = AuthHelper(proxied, client)
    headers = {
        **auth.headers(auth.org("regulator", name="Regulator behind two proxies")),
        "X-Forwarded-For": "203.0.113.9, 198.51.100.7, 10.0.0.2",
    }
    before = max_seq(app)
    assert client.post("/v1/orgs", headers=headers, json={"name": "Two hops", "kind": "carrier"}).status_code == 201
    (record,) = [r for r in records_after(app, before) if r["action"] == "org.create"]
    assert record["remote_addr"] == "198.51.100.7"
    # Fewer entries than trusted hops: nothing is trusted, the socket's peer is the caller.
    short = {**headers, "X-Forwarded-For": "203.0.113.9"}
    before = max_seq(app)
    assert client.post("/v1/orgs", headers=short, json={"name": "One hop", "kind": "carrier"}).status_code == 201
    (record,) = [r for r in records_after(app, before) if r["action"] == "org.create"]
    assert record["remote_addr"] == "127.0.0.1"
