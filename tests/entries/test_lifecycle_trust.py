"""Number lifecycle events and sightings over HTTP: a reassigned number's old reports close and
the feed removes it (or keeps it for a newer report); the reassigned question; carriers' hits
keep an entry fresh; standard orgs' false positives lower and then drop it to watch unless a
regulator reported it; idempotent counts; who may post; bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from support.problems import assert_problem

from blocklist.feeds.sweeper import retier_all_due

DAY = 86400


def _events(client, headers, *events):
    return client.post(
        "/v1/numbers/events",
        json={"events": [{"number": n, "type": t, "date": d} for n, t, d in events]},
        headers=headers,
    )


def _feed(client, callers, since=None):
    body = client.get("/v1/feed/changes", query_string={"since": since} if since else {}, headers=callers["consumer"])
    return body.json


def _today(clock):
    return clock.now().date()


def test_reassigned_closes_older_reports_and_the_feed_removes_the_entry(client, auth, callers, publish, clock):
    old = publish("number", "13800000021").json
    kept = publish("number", "13800000022").json
    cursor = _feed(client, callers)["next_cursor"]
    clock.advance(2 * DAY)
    callers._headers = {n: auth.headers(c) for n, c in callers.creds.items()}
    newer = publish("number", "13800000022", as_="internet").json  # made after the event's date
    assert newer["reporters"] == 2
    day = (clock.now() - dt.timedelta(days=1)).date().isoformat()
    response = _events(
        client, callers["carrier2"], ("13800000021", "reassigned", day), ("+8613800000022", "reassigned", day)
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [e["result"] for e in response.json["events"]] == ["created", "created"]
    changes = _feed(client, callers, cursor)["changes"]
    ops = [(c["op"], c["entry"]["value"]) for c in changes]
    assert ("remove", "+8613800000021") in ops and ops[-1] == ("upsert", "+8613800000022")
    assert client.get(f"/v1/entries/{old['id']}", headers=callers["carrier"]).json["status"] == "expired"
    after = client.get(f"/v1/entries/{kept['id']}", headers=callers["carrier"]).json
    assert after["status"] == "active" and after["reporters"] == 1
    assert [r["org"]["kind"] for r in after["reports"] if r["withdrawn_at"] is None] == ["internet"]
    assert after["tier"] == "label"  # only the standard org's newer report is left
    # a repeat is a no-op
    again = _events(client, callers["carrier2"], ("13800000021", "reassigned", day))
    assert again.json["events"][0]["result"] == "exists"


def test_the_reassigned_question(client, callers, clock):
    today = _today(clock)
    assert client.get(
        "/v1/numbers/13800000023/reassigned", query_string={"since": "2020-01-01"}, headers=callers["consumer"]
    ).json == {"number": "+8613800000023", "since": "2020-01-01", "reassigned": "no_data"}
    _events(client, callers["regulator"], ("13800000023", "disconnected", (today - dt.timedelta(days=30)).isoformat()))

    def ask(since):
        return client.get(
            "/v1/numbers/+8613800000023/reassigned", query_string={"since": since}, headers=callers["consumer"]
        ).json["reassigned"]

    assert ask((today - dt.timedelta(days=60)).isoformat()) == "yes"
    assert ask((today - dt.timedelta(days=10)).isoformat()) == "no"


def test_who_may_post_events_and_bad_input(client, callers, clock):
    tomorrow = (_today(clock) + dt.timedelta(days=1)).isoformat()
    for kind in ("internet", "consumer"):
        assert _events(client, callers[kind], ("13800000024", "reassigned", "2026-01-01")).status_code == 403
    body = assert_problem(
        _events(
            client,
            callers["carrier"],
            ("not a number", "reassigned", "2026-01-01"),
            ("13800000024", "reassigned", tomorrow),
        ),
        422,
    )
    assert set(body["errors"]["items"]) == {"0", "1"}
    assert_problem(_events(client, callers["carrier"], ("13800000024", "ported", "2026-01-01")), 422)
    assert_problem(
        client.get("/v1/numbers/abc/reassigned", query_string={"since": "2026-01-01"}, headers=callers["consumer"]), 422
    )
    assert_problem(
        client.get("/v1/numbers/13800000024/reassigned", query_string={"since": "soon"}, headers=callers["consumer"]),
        422,
    )
    assert_problem(client.post("/v1/numbers/events", json={"events": []}, headers=callers["carrier"]), 422)


def _sight(client, headers, *items):
    return client.post("/v1/sightings", json={"items": list(items)}, headers=headers)


def test_carrier_hits_keep_an_entry_fresh(client, auth, callers, publish, clock):
    entry = publish("number", "13800000025").json
    unseen = publish("number", "13800000035").json
    assert entry["tier"] == unseen["tier"] == "block"
    clock.advance(2 * DAY)
    callers._headers = {n: auth.headers(c) for n, c in callers.creds.items()}
    hit = {"entry_id": entry["id"], "type": "hit", "count": 40, "date": _today(clock).isoformat()}
    response = _sight(client, callers["carrier2"], hit)
    assert response.status_code == 200 and response.json["counts"] == 1
    clock.advance(DAY)  # three days after the reports (label by now), one to two after the hit's day
    callers._headers = {n: auth.headers(c) for n, c in callers.creds.items()}
    result = client.post("/v1/check", json={"sender": "13800000025", "text": "hi"}, headers=callers["consumer"])
    assert result.json["verdict"] == "block"
    unseen_now = client.post("/v1/check", json={"sender": "13800000035", "text": "hi"}, headers=callers["consumer"])
    assert unseen_now.json["verdict"] == "block"  # stored tier: the tier job has not run yet
    with client.application.app_context():
        retier_all_due()
    assert (
        client.post("/v1/check", json={"sender": "13800000035", "text": "hi"}, headers=callers["consumer"]).json[
            "verdict"
        ]
        == "label"
    )
    assert (
        client.post("/v1/check", json={"sender": "13800000025", "text": "hi"}, headers=callers["consumer"]).json[
            "verdict"
        ]
        == "block"
    )


def test_false_positives_lower_the_score_and_many_drop_it_to_watch(client, callers, publish, clock):
    entry = publish("number", "13800000026").json
    regulated = publish("number", "13800000027", as_="regulator").json
    today = _today(clock).isoformat()
    fp = {"type": "false_positive", "date": today}
    first = _sight(client, callers["internet"], {**fp, "entry_id": entry["id"]}, {**fp, "entry_id": regulated["id"]})
    assert first.status_code == 200
    assert client.get(f"/v1/entries/{entry['id']}", headers=callers["consumer"]).json["score"] == 70
    # the same batch again: counts, not events; nothing more
    _sight(client, callers["internet"], {**fp, "entry_id": entry["id"]})
    assert client.get(f"/v1/entries/{entry['id']}", headers=callers["consumer"]).json["score"] == 70
    # a carrier's false positive is not a standard org's: no effect
    _sight(client, callers["carrier2"], {**fp, "entry_id": entry["id"]})
    assert client.get(f"/v1/entries/{entry['id']}", headers=callers["consumer"]).json["score"] == 70
    for org in ("internet2", "internet3"):
        _sight(
            client, callers[org], {**fp, "kind": "number", "value": "13800000026"}, {**fp, "entry_id": regulated["id"]}
        )
    dropped = client.get(f"/v1/entries/{entry['id']}", headers=callers["consumer"]).json
    assert dropped["tier"] == "watch"
    assert client.get(f"/v1/entries/{regulated['id']}", headers=callers["consumer"]).json["tier"] == "block"


@pytest.mark.parametrize(
    "item, field",
    [
        ({"type": "hit", "date": "2026-01-01"}, "entry_id"),
        ({"entry_id": 1, "kind": "number", "value": "1", "type": "hit", "date": "2026-01-01"}, "entry_id"),
        ({"entry_id": 1, "type": "seen", "date": "2026-01-01"}, "type"),
        ({"entry_id": 1, "type": "hit", "count": 0, "date": "2026-01-01"}, "count"),
        ({"entry_id": 1, "type": "hit"}, "date"),
    ],
)
def test_bad_sightings_are_422(client, callers, item, field):
    body = assert_problem(_sight(client, callers["carrier"], item), 422)
    assert field in str(body["errors"])


def test_sightings_of_unknown_entries_are_refused_all_or_nothing(client, callers, publish, clock):
    entry = publish("number", "13800000028").json
    today = _today(clock).isoformat()
    body = assert_problem(
        _sight(
            client,
            callers["carrier"],
            {"entry_id": entry["id"], "type": "hit", "date": today},
            {"entry_id": 99999, "type": "hit", "date": today},
            {"kind": "number", "value": "13800000029", "type": "hit", "date": today},
        ),
        422,
    )
    assert set(body["errors"]["items"]) == {"1", "2"}
    assert_problem(_sight(client, callers["consumer"], {"entry_id": entry["id"], "type": "hit", "date": today}), 403)
