"""/metrics on a live multi-worker gunicorn with the production settings (deploy/gunicorn.conf.py),
read with Prometheus's own text parser: counters never go backwards between scrapes whichever
worker answers, and the operator series (entries, feed and audit heads, long-poll waiters, check
verdicts, engine rebuilds, 429s by org kind) hold the right values after some activity."""

from __future__ import annotations

import threading

import pytest
import requests
from conftest import threaded_server
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from blocklist.audit.models import AuditHead
from blocklist.db import db
from blocklist.feeds.models import FeedHead

Samples = dict[tuple[str, frozenset], float]


def _samples(body: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def _scrape(server) -> Samples:
    # A new connection per scrape, so the scrapes land on different workers.
    response = requests.get(server.url + "/metrics", timeout=10, headers={"Connection": "close"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"
    return _samples(response.text)


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def server(app, database_url, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)  # the settings file makes its own
    server = threaded_server(
        database_url,
        workers=3,
        threads=4,
        production_settings=True,
        BLOCKLIST_RATE_LIMIT_CONSUMER="2/minute",
        BLOCKLIST_SWEEP_INTERVAL="0",
    )
    yield server
    server.stop()


def test_counters_never_go_backwards_across_workers(server, auth):
    carrier = server.bearer(auth.org("carrier"))
    previous: Samples = {}
    for round_ in range(30):
        requests.get(server.url + "/v1/entries", headers={**carrier, "Connection": "close"}, timeout=10)
        requests.get(server.url + "/healthz", headers={"Connection": "close"}, timeout=10)
        current = {k: v for k, v in _scrape(server).items() if k[0] == "blocklist_http_requests_total"}
        for key, value in previous.items():
            assert current.get(key, 0) >= value, (round_, key, value, current.get(key))
        previous = current
    listed = _value(previous, "blocklist_http_requests_total", method="GET", endpoint="/v1/entries", status="200")
    assert listed == 30  # every worker's requests, added up


def test_operator_series_after_some_activity(app, server, auth):
    carrier_creds = auth.org("carrier")
    carrier = server.bearer(carrier_creds)
    consumer = server.bearer(auth.org("consumer"))
    before = _scrape(server)
    assert _value(before, "blocklist_database_up") == 1
    assert _value(before, "blocklist_entries", kind="keyword", status="active") == 0
    assert _value(before, "blocklist_longpoll_waiting") == 0

    def publish(kind: str, value: str) -> int:
        response = requests.post(
            server.url + "/v1/entries", json={"kind": kind, "value": value}, headers=carrier, timeout=10
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    publish("keyword", "安全账户")
    publish("code", "10687415")
    gone = publish("number", "13812345678")
    assert requests.post(f"{server.url}/v1/entries/{gone}/withdraw", headers=carrier, timeout=10).ok
    verdicts = []
    for message in ("请转入安 全 账 户", "午饭吃什么", "转到安全账户"):
        response = requests.post(server.url + "/v1/check", json={"text": message}, headers=carrier, timeout=10)
        verdicts.append(response.json()["verdict"])
    assert verdicts == ["block", "allow", "block"]
    # The consumer's limit is 2/minute per worker (no Redis): some of these are refused.
    refused = sum(
        requests.get(server.url + "/v1/tags", headers={**consumer, "Connection": "close"}, timeout=10).status_code
        == 429
        for _ in range(12)
    )
    assert refused >= 12 - 2 * 3

    # A long-poll waiting for changes shows while it waits, and not after.
    poll = {}

    def follow():
        head = requests.get(server.url + "/v1/feed/changes", headers=carrier, timeout=10).json()["next_cursor"]
        poll["response"] = requests.get(
            server.url + "/v1/feed/changes", params={"since": head, "wait": 25}, headers=carrier, timeout=40
        )

    follower = threading.Thread(target=follow)
    follower.start()
    for _ in range(200):
        if _value(_scrape(server), "blocklist_longpoll_waiting") == 1:
            break
    else:
        pytest.fail("the waiting long-poll never showed in blocklist_longpoll_waiting")
    publish("domain", "scam-example.com")
    follower.join(timeout=40)
    assert poll["response"].status_code == 200 and poll["response"].json()["changes"]

    after = _scrape(server)
    assert _value(after, "blocklist_longpoll_waiting") == 0
    assert _value(after, "blocklist_entries", kind="keyword", status="active") == 1
    assert _value(after, "blocklist_entries", kind="code", status="active") == 1
    assert _value(after, "blocklist_entries", kind="number", status="expired") == 1
    assert _value(after, "blocklist_entries", kind="number", status="active") == 0
    assert _value(after, "blocklist_entries", kind="url", status="revoked") == 0
    assert _value(after, "blocklist_check_verdicts_total", verdict="block") == 2
    assert _value(after, "blocklist_check_verdicts_total", verdict="allow") == 1
    assert _value(after, "blocklist_engine_rebuilds_total") >= 1
    assert _value(after, "blocklist_rate_limited_total", org_kind="consumer") == refused
    with app.app_context():
        feed_head = db.session.scalar(select(FeedHead.position))
        audit_head = db.session.scalar(select(AuditHead.seq))
        db.session.rollback()
    assert _value(after, "blocklist_feed_head_position") == feed_head == 5  # 4 publishes, 1 withdrawal
    assert _value(after, "blocklist_audit_head_seq") == audit_head > 0
    assert _value(after, "blocklist_audit_checkpoint_seq") == 0
