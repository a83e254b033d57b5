"""Tag counts kept by the writes (`blocklist/entries/tagcounts.py`): after any sequence of
operations over HTTP — publish (one and bulk), corroborate, PATCH tags, withdraw, expire,
revoke, relist, disputes overturned, the allowlist, restriction via a listed subject, number
reassignment, time passing with and without the sweeper — `GET /v1/tags` equals a fresh
aggregation of the entries that restrict now, the kept `feed_tags` equal every entry's tags, and
the snapshot carries each entry's tags; `flask tags recount` finds drift and repairs it."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from sqlalchemy import func, select, text
from support.subjects import make_uscc

from blocklist.db import db, utcnow
from blocklist.entries import tagcounts
from blocklist.entries.models import Entry, EntryTag, TagCount
from blocklist.feeds import lines
from blocklist.feeds.sweeper import expire_all_due

ORGS = ("carrier", "carrier2", "internet", "regulator")
TAGS = ("fraud:loan", "fraud:ticket-scam", "channel:sms", "channel:voice", "source:12321")
VALUES = [("code", f"1069{n:04d}") for n in range(10)] + [("number", f"1380013{n:04d}") for n in range(4)]
FIRM = make_uscc(31)
HELD = ("code", "10680031")  # held by FIRM: restricted via the firm's listing


def _aggregated(app) -> dict[str, int]:
    """What the read-time aggregation (the old `GET /v1/tags`) says now."""
    with app.app_context():
        rows = db.session.execute(
            select(EntryTag.tag, func.count())
            .join(Entry, Entry.id == EntryTag.entry_id)
            .where(Entry.active_at(utcnow()))
            .group_by(EntryTag.tag)
        ).all()
    return dict(rows)


def _listed(client, headers, **query) -> dict[str, int]:
    """Every page of GET /v1/tags (pages of 2, so paging over the counters is exercised too)."""
    found, cursor = {}, None
    while True:
        response = client.get(
            "/v1/tags", query_string={"limit": 2, **query, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        found.update({item["tag"]: item["count"] for item in response.json["items"]})
        cursor = response.json["next_cursor"]
        if cursor is None:
            return found


def _snapshot_tags(client, headers) -> dict[int, list[str]]:
    body = client.get("/v1/feed/snapshot", query_string={"format": "jsonl"}, headers=headers).get_data(as_text=True)
    return {row["id"]: row["tags"] for row in map(json.loads, body.splitlines())}


def _entry_tags(app) -> dict[int, list[str]]:
    with app.app_context():
        rows = db.session.execute(select(Entry.id, Entry.status)).all()
        tags = db.session.execute(select(EntryTag.entry_id, EntryTag.tag).order_by(EntryTag.tag)).all()
    found: dict[int, list[str]] = {entry_id: [] for entry_id, status in rows if status == "active"}
    for entry_id, tag in tags:
        if entry_id in found:
            found[entry_id].append(tag)
    return found


def _check(app, client, callers) -> None:
    reader = callers["consumer"]
    assert _listed(client, reader) == _aggregated(app)
    fraud = {tag: n for tag, n in _aggregated(app).items() if tag.startswith("fraud:")}
    assert _listed(client, reader, namespace="fraud") == fraud
    with app.app_context():
        assert tagcounts.drift() == {"ok": True, "tags": {}, "entries": 0, "entry_ids": []}
        assert lines.drift() == 0
    assert _snapshot_tags(client, reader) == _entry_tags(app)


class Walk:
    """Random operations over HTTP; every answer is a success or a 4xx problem, never a 500."""

    def __init__(self, app, client, auth, callers, clock, rng: random.Random):
        self.app, self.client, self.auth, self.callers, self.clock, self.rng = app, client, auth, callers, clock, rng
        self.ids: dict[tuple[str, str], int] = {}

    def call(self, method: str, path: str, org: str, body: dict | None = None):
        response = self.client.open(
            path, method=method, json=body if body is not None else {}, headers=self.callers[org]
        )
        assert response.status_code < 500, (method, path, response.get_data(as_text=True))
        return response

    def tags(self) -> list[str]:
        return self.rng.sample(TAGS, self.rng.choice((0, 1, 1, 2, 3)))

    def item(self) -> dict:
        kind, value = self.rng.choice(VALUES)
        item = {"kind": kind, "value": value, "tags": self.tags()}
        if self.rng.random() < 0.3:  # a short life: time (and the sweeper, or not) ends it
            item["expires_at"] = (utcnow() + dt.timedelta(minutes=self.rng.choice((1, 5, 30)))).isoformat()
        return item

    def entry_id(self) -> int | None:
        return self.ids[self.rng.choice(sorted(self.ids))] if self.ids else None

    def remember(self, response) -> None:
        """The ids of the entries a publish (one or bulk) answered with."""
        if response.status_code in (200, 201):
            body = response.json
            for entry in body["items"] if "items" in body else [body]:
                self.ids[(entry["kind"], entry["value"])] = entry["id"]

    def publish(self):
        self.remember(self.call("POST", "/v1/entries", self.rng.choice(ORGS), self.item()))

    def bulk(self):
        items = [self.item() for _ in range(self.rng.randint(2, 6))]  # repeats merge their tags
        self.remember(self.call("POST", "/v1/entries/bulk", self.rng.choice(ORGS), {"items": items}))

    def patch(self):
        entry_id = self.entry_id()
        if entry_id is None:
            return
        body = self.rng.choice(
            ({"add_tags": self.tags()}, {"remove_tags": self.tags()}, {"tags": self.tags()}, {"category": "fraud"})
        )
        self.call("PATCH", f"/v1/entries/{entry_id}", self.rng.choice(ORGS), body)

    def withdraw(self):
        if (entry_id := self.entry_id()) is not None:
            self.call("POST", f"/v1/entries/{entry_id}/withdraw", self.rng.choice(ORGS))

    def expire(self):
        if (entry_id := self.entry_id()) is not None:
            self.call("POST", f"/v1/entries/{entry_id}/expire", self.rng.choice(ORGS), {"reason": "recycled"})

    def revoke(self):
        if (entry_id := self.entry_id()) is not None:
            self.call("POST", f"/v1/entries/{entry_id}/revoke", "regulator", {"reason": "a hospital line"})

    def overturn(self):
        if (entry_id := self.entry_id()) is None:
            return
        filed = self.call("POST", f"/v1/entries/{entry_id}/disputes", "consumer", {"reason": "my number now"})
        if filed.status_code == 201:
            self.call("POST", f"/v1/disputes/{filed.json['id']}/resolve", "regulator", {"resolution": "overturned"})

    def allowlist(self):
        kind, value = self.rng.choice(VALUES[:3])  # a few values only: the rest stay listable
        self.call("POST", "/v1/allowlist", "regulator", {"kind": kind, "value": value, "reason": "a bank"})

    def subject(self):
        """List or drop the firm that holds HELD: the code is restricted via it, or no more."""
        firm = self.ids.get(("enterprise", FIRM))
        if firm is None or self.rng.random() < 0.5:
            listing = {"kind": "enterprise", "value": FIRM}
            self.remember(self.call("POST", "/v1/entries", self.rng.choice(("carrier", "regulator")), listing))
        else:
            self.call("POST", f"/v1/entries/{firm}/expire", "regulator", {"reason": "closed"})

    def reassign(self):
        number = self.rng.choice([v for k, v in VALUES if k == "number"])
        day = (self.clock.now() - dt.timedelta(days=1)).date().isoformat()
        body = {"events": [{"number": number, "type": "reassigned", "date": day}]}
        self.call("POST", "/v1/numbers/events", "carrier2", body)

    def time_passes(self):
        self.clock.advance(self.rng.choice((30, 120, 600, 2400)))
        self.callers._headers = {n: self.auth.headers(c) for n, c in self.callers.creds.items()}
        if self.rng.random() < 0.5:  # else entries past their time wait for the sweeper
            with self.app.app_context():
                expire_all_due()

    def step(self):
        op = self.rng.choices(
            (
                self.publish,
                self.bulk,
                self.patch,
                self.withdraw,
                self.expire,
                self.revoke,
                self.overturn,
                self.allowlist,
                self.subject,
                self.reassign,
                self.time_passes,
            ),
            weights=(6, 3, 5, 2, 2, 1, 1, 1, 1, 1, 2),
        )[0]
        op()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_counts_equal_a_fresh_aggregation_after_random_operations(
    app, database_url, client, auth, callers, clock, seed
):
    # database_url: committed, so the snapshot's own connection sees the writes
    walk = Walk(app, client, auth, callers, clock, random.Random(seed))
    for org in (*ORGS, "consumer"):
        callers[org]
    hold = {
        "resource": {"kind": HELD[0], "value": HELD[1]},
        "subject": {"kind": "enterprise", "value": FIRM},
        "role": "holder",
    }
    assert walk.call("POST", "/v1/holdings", "carrier", hold).status_code == 201
    for number in range(60):
        walk.step()
        if number % 10 == 9:
            _check(app, client, callers)
    _check(app, client, callers)
    assert _aggregated(app), "the walk left no tagged entry: it tested nothing"


def test_an_entry_past_its_time_leaves_the_counts_before_the_sweeper_marks_it(app, client, callers, publish, clock):
    soon = (utcnow() + dt.timedelta(minutes=1)).isoformat()
    publish("code", "10690101", tags=["fraud:loan"], expires_at=soon)
    publish("code", "10690102", tags=["fraud:loan", "channel:sms"])
    assert _listed(client, callers["consumer"]) == {"fraud:loan": 2, "channel:sms": 1}
    clock.advance(120)
    assert _listed(client, callers["consumer"]) == {"fraud:loan": 1, "channel:sms": 1}
    with app.app_context():
        assert db.session.get(TagCount, "fraud:loan").count == 2  # kept: not yet swept
        assert expire_all_due() == 1
        db.session.expire_all()
        assert db.session.get(TagCount, "fraud:loan").count == 1
    assert _listed(client, callers["consumer"]) == {"fraud:loan": 1, "channel:sms": 1}


def test_a_tag_no_active_entry_carries_has_no_counter(app, client, callers, publish):
    entry = publish("code", "10690111", tags=["fraud:loan"]).json
    patched = client.patch(
        f"/v1/entries/{entry['id']}", json={"remove_tags": ["fraud:loan"]}, headers=callers["carrier"]
    )
    assert patched.status_code == 200, patched.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(TagCount.tag)).all() == []
    assert client.get("/v1/tags", headers=callers["consumer"]).json == {"items": [], "next_cursor": None}


def test_tags_needs_a_token_and_the_read_scope(client, auth, callers):
    from support.problems import assert_problem

    assert_problem(client.get("/v1/tags"), 401)
    creds = auth.org("carrier", name="narrow", scope="feeds:read")
    assert_problem(client.get("/v1/tags", headers=auth.headers(creds)), 403)
    assert_problem(client.get("/v1/tags", query_string={"namespace": "Fraud!"}, headers=callers["consumer"]), 422)


def test_recount_reports_drift_and_repairs_it(app, database_url, client, callers, publish, runner):
    publish("code", "10690121", tags=["fraud:loan", "channel:sms"])
    publish("code", "10690122", tags=["fraud:loan"])
    clean = runner.invoke(args=["tags", "recount"])
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.output) == {"ok": True, "tags": {}, "entries": 0, "entry_ids": [], "lines": 0}
    with app.app_context():  # what a writer that bypassed the counters would leave behind
        db.session.execute(text("UPDATE tag_counts SET count = 7 WHERE tag = 'fraud:loan'"))
        db.session.execute(text("DELETE FROM tag_counts WHERE tag = 'channel:sms'"))
        entry_id = db.session.scalar(select(Entry.id).where(Entry.value == "10690122"))
        db.session.execute(text("UPDATE entries SET feed_tags = '[]' WHERE id = :id"), {"id": entry_id})
        db.session.commit()
        postgres = lines.kept()
    drifted = runner.invoke(args=["tags", "recount"])
    assert drifted.exit_code == 1
    assert json.loads(drifted.output) == {
        "ok": False,
        "tags": {"channel:sms": [0, 1], "fraud:loan": [7, 2]},
        "entries": 1,
        "entry_ids": [entry_id],
        "lines": 1 if postgres else 0,  # its line no longer matches its row (PostgreSQL keeps lines)
    }
    repaired = runner.invoke(args=["tags", "recount", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert json.loads(repaired.output)["repaired"] == {"entries": 1, "tags": 2}
    again = runner.invoke(args=["tags", "recount"])
    assert again.exit_code == 0 and json.loads(again.output)["ok"] is True
    assert _listed(client, callers["consumer"]) == {"fraud:loan": 2, "channel:sms": 1}
    assert _snapshot_tags(client, callers["consumer"])[entry_id] == ["fraud:loan"]
