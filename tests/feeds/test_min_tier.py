"""`min_tier`: a copy made from a `min_tier=block` snapshot plus the `min_tier=block` change feed
stays exactly the server's block set while entries cross tiers both ways — by corroboration, by
ageing (the tier job), by a dispute's cap and its resolution, by an overturn — and checksums
with `min_tier` prove it. Look-ups and checks filter the same way."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select
from support.problems import assert_problem

from blocklist.db import db
from blocklist.entries.models import Entry

DAY = 86400
# Snapshots and checksums read on their own connection.
pytestmark = pytest.mark.committed


class Copy:
    """A consumer's copy of the feed at `min_tier`, made through the HTTP API."""

    def __init__(self, client, callers, min_tier=None):
        self.client, self.callers = client, callers
        headers = self.headers
        self.params = {"min_tier": min_tier} if min_tier else {}
        response = client.get("/v1/feed/snapshot", query_string=self.params, headers=headers)
        assert response.status_code == 200
        self.rows = {(r["kind"], r["value"]): r for r in map(json.loads, response.get_data(as_text=True).splitlines())}
        self.cursor = response.headers["X-Blocklist-Cursor"]

    @property
    def headers(self):
        return self.callers["consumer"]

    def follow(self) -> list[tuple[str, str]]:
        ops = []
        while True:
            body = self.client.get(
                "/v1/feed/changes", query_string={"since": self.cursor, **self.params}, headers=self.headers
            ).json
            for change in body["changes"]:
                key = (change["entry"]["kind"], change["entry"]["value"])
                ops.append((change["op"], key[1]))
                if change["op"] == "upsert":
                    self.rows[key] = change["entry"]
                else:
                    self.rows.pop(key, None)
            self.cursor = body["next_cursor"]
            if not body["has_more"]:
                return ops

    def values(self) -> set[str]:
        return {value for _, value in self.rows}

    def checksum(self) -> tuple[int, str]:
        lines = sorted(f"{kind}\t{value}\n".encode() for kind, value in self.rows)
        return len(lines), hashlib.sha256(b"".join(lines)).hexdigest()


def _server_set(app, tiers) -> set[str]:
    with app.app_context():
        stmt = select(Entry.value).where(Entry.status == "active", Entry.tier.in_(tiers))
        return set(db.session.scalars(stmt))


@pytest.fixture
def sweep(runner):
    def _sweep():
        result = runner.invoke(args=["expire"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    return _sweep


def _advance(clock, auth, callers, seconds):
    """Move the clock; tokens made before have expired, so make new ones."""
    clock.advance(seconds)
    callers._headers = {name: auth.headers(creds) for name, creds in callers.creds.items()}


def _in_step(app, client, callers, copies):
    """Every copy equals the server's set at its tier, and the server's checksum agrees."""
    for tiers, copy in copies:
        copy.follow()
        assert copy.values() == _server_set(app, tiers)
        remote = client.get("/v1/feed/checksum", query_string=copy.params, headers=copy.headers).json
        assert remote["cursor"] == copy.cursor
        assert (remote["count"], remote["sha256"]) == copy.checksum()


def test_a_block_copy_stays_exact_as_entries_cross_tiers_both_ways(app, client, auth, callers, publish, clock, sweep):
    a = publish("number", "13800000001").json  # one carrier: block
    b = publish("number", "13800000002", as_="internet").json  # one standard org: label
    publish("code", "10690001", as_="internet")
    assert (a["tier"], a["score"], b["tier"], b["score"]) == ("block", 80, "label", 50)
    block = Copy(client, callers, "block")
    label = Copy(client, callers, "label")
    everything = Copy(client, callers)
    copies = [(("block",), block), (("label", "block"), label), (("watch", "label", "block"), everything)]
    assert block.values() == {"+8613800000001"}
    _in_step(app, client, callers, copies)

    # corroboration by a second standard org: label -> block (an upsert)
    assert publish("number", "13800000002", as_="internet2").json["tier"] == "block"
    assert block.follow() == [("upsert", "+8613800000002")]
    _in_step(app, client, callers, copies)

    # a day on: the two standard reports (65) fall below block; the carrier's (80) does not
    _advance(clock, auth, callers, DAY)
    assert sweep()["retiered"] >= 1
    assert block.follow() == [("remove", "+8613800000002")]
    assert label.follow() == [("upsert", "+8613800000002")]
    _in_step(app, client, callers, copies)

    # two more days: the carrier's report is three days old, label now
    _advance(clock, auth, callers, 2 * DAY)
    sweep()
    _in_step(app, client, callers, copies)
    assert block.values() == set()

    # a second carrier corroborates: fresh, two orgs, 95: back to block
    assert publish("number", "13800000001", as_="carrier2").json["score"] == 95
    _in_step(app, client, callers, copies)
    assert block.values() == {"+8613800000001"}

    # eleven more days: number 2 falls to watch (only the full copy keeps it); number 1 (95 eleven
    # days ago: 32) and the code (half-life 30 days: 36) are labels
    _advance(clock, auth, callers, 11 * DAY)
    sweep()
    _in_step(app, client, callers, copies)
    assert block.values() == set() and label.values() == {"+8613800000001", "10690001"}
    assert "+8613800000002" in everything.values()
    entry = client.get(f"/v1/entries/{b['id']}", headers=callers["consumer"]).json
    assert entry["tier"] == "watch" and entry["score"] < 30


def test_a_dispute_caps_the_tier_and_its_resolution_reaches_the_copy(app, client, callers, publish, sweep):
    entry = publish("number", "13800000003").json
    block = Copy(client, callers, "block")
    assert block.values() == {"+8613800000003"}
    filed = client.post(f"/v1/entries/{entry['id']}/disputes", json={"reason": "mine"}, headers=callers["internet"])
    assert filed.status_code == 201
    assert block.follow() == [("remove", "+8613800000003")]
    assert client.get(f"/v1/entries/{entry['id']}", headers=callers["consumer"]).json["tier"] == "label"
    ack = client.post(f"/v1/disputes/{filed.json['id']}/acknowledge", headers=callers["regulator"])
    assert ack.status_code == 200 and ack.json["status"] == "acknowledged"
    assert block.follow() == []  # acknowledged: still capped
    upheld = client.post(
        f"/v1/disputes/{filed.json['id']}/resolve", json={"resolution": "upheld"}, headers=callers["regulator"]
    )
    assert upheld.status_code == 200
    assert block.follow() == [("upsert", "+8613800000003")]
    again = client.post(f"/v1/entries/{entry['id']}/disputes", json={"reason": "still"}, headers=callers["internet"])
    client.post(
        f"/v1/disputes/{again.json['id']}/resolve", json={"resolution": "overturned"}, headers=callers["regulator"]
    )
    everything = Copy(client, callers)
    assert "+8613800000003" not in everything.values()
    block.follow()
    assert block.values() == set() == _server_set(app, ("block",))


def test_lookup_and_check_filter_by_min_tier_and_the_verdict_follows_the_best_tier(client, callers, publish):
    publish("number", "13800000004", as_="internet")  # label
    publish("keyword", "安全账户")  # block
    consumer = callers["consumer"]
    looked = client.get("/v1/lookup", query_string={"value": "13800000004"}, headers=consumer).json
    assert looked["listed"] and looked["matches"][0]["tier"] == "label"
    assert looked["matches"][0]["dispute_path"] == f"/v1/entries/{looked['matches'][0]['id']}/disputes"
    blocked_only = client.get(
        "/v1/lookup", query_string={"value": "13800000004", "min_tier": "block"}, headers=consumer
    ).json
    assert not blocked_only["listed"] and blocked_only["matches"] == []
    batch = client.post(
        "/v1/lookup", json={"values": [{"value": "13800000004"}], "min_tier": "block"}, headers=consumer
    ).json
    assert batch["results"][0]["listed"] is False

    labelled = client.post("/v1/check", json={"sender": "13800000004", "text": "hello"}, headers=consumer).json
    assert labelled["verdict"] == "label"
    assert {k: labelled["matches"][0][k] for k in ("tier", "score", "category")} == {
        "tier": "label",
        "score": 50,
        "category": None,
    }
    both = client.post("/v1/check", json={"sender": "13800000004", "text": "转入安全账户"}, headers=consumer).json
    assert both["verdict"] == "block" and [m["tier"] for m in both["matches"]] == ["label", "block"]
    filtered = client.post(
        "/v1/check", json={"sender": "13800000004", "text": "hello", "min_tier": "block"}, headers=consumer
    ).json
    assert (filtered["verdict"], filtered["matches"]) == ("allow", [])


@pytest.mark.parametrize(
    "path, params",
    [
        ("/v1/feed/changes", {"min_tier": "red"}),
        ("/v1/feed/snapshot", {"min_tier": "BLOCK"}),
        ("/v1/feed/checksum", {"min_tier": ""}),
        ("/v1/lookup", {"value": "13800000004", "min_tier": "high"}),
    ],
)
def test_a_bad_min_tier_is_422(client, callers, path, params):
    body = assert_problem(client.get(path, query_string=params, headers=callers["consumer"]), 422)
    assert "min_tier" in json.dumps(body["errors"])
