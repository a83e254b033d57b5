"""The change feed over HTTP: paging, kind filter, change shapes, every way an entry leaves the
active set, cursor errors, retention (410) and long-polling."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import update
from support.problems import assert_problem
from support.sql import sql_log

from blocklist.db import db, utcnow
from blocklist.feeds import cursors
from blocklist.feeds.changes import prune
from blocklist.feeds.models import FeedChange
from blocklist.feeds.sweeper import expire_all_due as expire_due


def _changes(client, headers, **params):
    response = client.get("/v1/feed/changes", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _bulk(client, callers, items, as_="carrier"):
    response = client.post("/v1/entries/bulk", json={"items": items}, headers=callers[as_])
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.json["items"]]


def test_pages_follow_each_other_in_position_order(client, callers):
    _bulk(client, callers, [{"kind": "code", "value": f"1068000{i}"} for i in range(5)])
    seen, since, pages = [], None, 0
    while True:
        params = {"limit": 2} if since is None else {"limit": 2, "since": since}
        body = _changes(client, callers["consumer"], **params)
        seen += [(c["op"], c["position"], c["entry"]["value"]) for c in body["changes"]]
        since, pages = body["next_cursor"], pages + 1
        if not body["has_more"]:
            break
    assert [p for _, p, _ in seen] == [1, 2, 3, 4, 5]
    assert [v for _, _, v in seen] == [f"1068000{i}" for i in range(5)]
    assert pages == 3
    empty = _changes(client, callers["consumer"], since=since)
    assert empty == {"changes": [], "next_cursor": since, "has_more": False}


def _statements_for_a_page(app, client, headers) -> tuple[int, int]:
    """(statements run, changes returned) for one GET of the whole feed."""
    with sql_log(app) as log:
        body = _changes(client, headers, limit=1000)
    return len(log), len(body["changes"])


def test_a_page_costs_the_same_number_of_queries_whatever_its_size(app, client, callers):
    headers = callers["consumer"]
    _bulk(client, callers, [{"kind": "code", "value": f"1068100{i}", "tags": ["fraud:x"]} for i in range(3)])
    small = _statements_for_a_page(app, client, headers)
    _bulk(client, callers, [{"kind": "code", "value": f"106820{i:02d}", "tags": ["fraud:y"]} for i in range(60)])
    _bulk(client, callers, [{"kind": "code", "value": f"106820{i:02d}"} for i in range(30)], as_="internet")
    large = _statements_for_a_page(app, client, headers)
    assert (small[1], large[1]) == (3, 93)
    assert small[0] == large[0], (small, large)


def test_kind_filter_skips_other_kinds_and_still_advances(client, callers):
    _bulk(
        client,
        callers,
        [
            {"kind": "number", "value": "13812345678"},
            {"kind": "code", "value": "10687415"},
            {"kind": "number", "value": "13812345679"},
        ],
    )
    body = _changes(client, callers["consumer"], kind="code")
    assert [(c["op"], c["entry"]["value"]) for c in body["changes"]] == [("upsert", "10687415")]
    assert body["has_more"] is False
    # the cursor moved past the numbers too: nothing more to read
    assert cursors.decode(body["next_cursor"]) == 3
    _bulk(client, callers, [{"kind": "number", "value": "13812345670"}])
    later = _changes(client, callers["consumer"], kind="code", since=body["next_cursor"])
    assert later["changes"] == [] and cursors.decode(later["next_cursor"]) == 4


def test_upsert_carries_the_entry_as_it_now_is_and_remove_its_identity(client, callers, publish):
    entry_id = publish("domain", "Evil.Example.com", tags=["fraud:phishing"], category="fraud").json["id"]
    patched = client.patch(f"/v1/entries/{entry_id}", json={"add_tags": ["channel:sms"]}, headers=callers["carrier"])
    assert patched.status_code == 200, patched.get_data(as_text=True)
    # As any org but the reporter sees it: feeds never carry evidence.
    now = client.get(f"/v1/entries/{entry_id}", headers=callers["consumer"]).json
    body = _changes(client, callers["consumer"])
    assert [c["op"] for c in body["changes"]] == ["upsert", "upsert"]
    assert body["changes"][0]["entry"] == now  # both carry the entry as it is now, full shape
    assert body["changes"][1]["entry"]["tags"] == ["channel:sms", "fraud:phishing"]
    assert set(now) >= {
        "id",
        "kind",
        "value",
        "raw_value",
        "status",
        "category",
        "tags",
        "reporters",
        "reports",
        "expires_at",
        "created_at",
        "updated_at",
    }
    client.post(f"/v1/entries/{entry_id}/withdraw", headers=callers["carrier"])
    removed = _changes(client, callers["consumer"], since=body["next_cursor"])["changes"]
    assert removed == [
        {"op": "remove", "position": 3, "entry": {"id": entry_id, "kind": "domain", "value": "evil.example.com"}}
    ]


def test_withdraw_expire_and_revoke_each_show_as_remove(client, callers):
    ids = _bulk(client, callers, [{"kind": "code", "value": v} for v in ("10680001", "10680002", "10680003")])
    start = _changes(client, callers["consumer"])["next_cursor"]
    assert client.post(f"/v1/entries/{ids[0]}/withdraw", headers=callers["carrier"]).status_code == 200
    assert (
        client.post(f"/v1/entries/{ids[1]}/expire", json={"reason": "recycled"}, headers=callers["carrier"]).status_code
        == 200
    )
    assert (
        client.post(
            f"/v1/entries/{ids[2]}/revoke", json={"reason": "official line"}, headers=callers["regulator"]
        ).status_code
        == 200
    )
    body = _changes(client, callers["consumer"], since=start)
    assert [(c["op"], c["entry"]["id"]) for c in body["changes"]] == [("remove", i) for i in ids]


def test_time_based_expiry_reaches_the_feed_as_remove(client, callers, publish, app):
    soon = (utcnow() + dt.timedelta(seconds=30)).isoformat()
    entry_id = publish("url", "http://bad.example/login", expires_at=soon).json["id"]
    start = _changes(client, callers["consumer"])["next_cursor"]
    with app.app_context():
        assert expire_due(now=utcnow() + dt.timedelta(minutes=1)) == 1
    body = _changes(client, callers["consumer"], since=start)
    assert [(c["op"], c["entry"]["id"], c["entry"]["kind"]) for c in body["changes"]] == [("remove", entry_id, "url")]


def test_cursor_errors_are_problems(client, callers, publish):
    publish("code", "10687415")
    for bad in ("nonsense!", cursors.encode(1)[:-1] + "@", "djE6LTE", "djI6MQ", ""):  # v1:-1, v2:1
        if bad:
            assert_problem(
                client.get("/v1/feed/changes", query_string={"since": bad}, headers=callers["consumer"]), 400
            )
    ahead = assert_problem(
        client.get("/v1/feed/changes", query_string={"since": cursors.encode(2)}, headers=callers["consumer"]), 400
    )
    assert "ahead" in ahead["detail"]
    for params in ({"limit": 10_001}, {"limit": 0}, {"wait": 31}, {"wait": -1}, {"kind": "planet"}):
        assert_problem(client.get("/v1/feed/changes", query_string=params, headers=callers["consumer"]), 422)


def test_pruned_cursor_is_gone_and_the_retained_log_is_followable(client, callers, app):
    _bulk(client, callers, [{"kind": "code", "value": f"1069000{i}"} for i in range(3)])
    _bulk(client, callers, [{"kind": "code", "value": "10691111"}])
    with app.app_context():
        db.session.execute(
            update(FeedChange).where(FeedChange.position <= 3).values(created_at=utcnow() - dt.timedelta(days=8))
        )
        db.session.commit()
        assert prune() == 3
        db.session.commit()  # the caller (the sweeper job, here the test) owns the commit
        assert prune() == 0
    for since in (cursors.encode(0), cursors.encode(2)):
        body = assert_problem(
            client.get("/v1/feed/changes", query_string={"since": since}, headers=callers["consumer"]), 410
        )
        assert "snapshot" in body["detail"]
    kept = _changes(client, callers["consumer"], since=cursors.encode(3))
    assert [c["position"] for c in kept["changes"]] == [4]
    assert [c["position"] for c in _changes(client, callers["consumer"])["changes"]] == [4]


@pytest.mark.committed  # another thread publishes; the long-poll's watcher reads on its own connection
def test_long_poll_returns_as_soon_as_a_change_commits(app, client, callers):
    headers = callers["consumer"]
    since = _changes(client, headers)["next_cursor"]
    publisher = app.test_client()
    carrier = callers["carrier"]

    def publish_later():
        time.sleep(0.5)
        publisher.post("/v1/entries", json={"kind": "code", "value": "10687415"}, headers=carrier)

    thread = threading.Thread(target=publish_later)
    started = time.monotonic()
    thread.start()
    body = _changes(client, headers, since=since, wait=5)
    elapsed = time.monotonic() - started
    thread.join()
    assert [c["entry"]["value"] for c in body["changes"]] == ["10687415"]
    assert elapsed < 4, elapsed


def test_long_poll_with_nothing_new_returns_after_the_wait(client, callers):
    headers = callers["consumer"]
    since = _changes(client, headers)["next_cursor"]
    started = time.monotonic()
    body = _changes(client, headers, since=since, wait=1)
    elapsed = time.monotonic() - started
    assert body == {"changes": [], "next_cursor": since, "has_more": False}
    assert 0.9 <= elapsed < 4, elapsed


def test_feed_requires_a_token_with_feeds_read(client, auth):
    creds = auth.org("carrier")
    narrow = {"Authorization": "Bearer " + auth.token(creds, scope="entries:read")}
    for path in ("/v1/feed/changes", "/v1/feed/snapshot", "/v1/feed/checksum"):
        missing = assert_problem(client.get(path), 401)
        assert missing["detail"]
        assert client.get(path).headers.get("WWW-Authenticate", "").lower().startswith("bearer")
        assert_problem(client.get(path, headers=narrow), 403)
