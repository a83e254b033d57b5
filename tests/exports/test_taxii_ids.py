"""TAXII finds an indicator by id with one probe of the stored `entries.object_uuid` index, never
by walking the entries: the stored id is the UUIDv5 of kind and value on every path that makes
entries (a publish, a bulk, a restriction via a listed subject), and equals the id the object
carries."""

from __future__ import annotations

import base64
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, text
from support.subjects import make_uscc

from blocklist.db import db, utcnow
from blocklist.entries.models import Entry
from blocklist.exports import taxii
from blocklist.feeds.sweeper import sweep
from blocklist.values.ids import entry_uuid

pytestmark = pytest.mark.committed

TAXII = "application/taxii+json;version=2.1"
ROOT = f"/taxii2/{taxii.API_ROOT}"
ALL = taxii.collection_id("all")
FIRM = make_uscc(31)


@pytest.fixture
def reader(auth):
    creds = auth.org("consumer")
    pair = f"{creds.client_id}:{creds.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode(), "Accept": TAXII}


@contextmanager
def statements(app):
    """The SQL statements (with their parameters) the app's engine runs inside the block."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _make_entries_on_every_path(client, callers):
    single = client.post("/v1/entries", json={"kind": "domain", "value": "one.example.com"}, headers=callers["carrier"])
    assert single.status_code == 201
    bulk = client.post(
        "/v1/entries/bulk",
        json={"items": [{"kind": "code", "value": f"1069300{i}"} for i in range(5)]},
        headers=callers["carrier"],
    )
    assert bulk.status_code == 200
    # A code nobody listed, held by a firm the regulator lists: restriction creates its entry.
    held = client.post(
        "/v1/holdings",
        json={
            "resource": {"kind": "code", "value": "10693999"},
            "subject": {"kind": "enterprise", "value": FIRM},
            "role": "holder",
        },
        headers=callers["carrier"],
    )
    assert held.status_code == 201, held.json
    listed = client.post("/v1/entries", json={"kind": "enterprise", "value": FIRM}, headers=callers["regulator"])
    assert listed.status_code == 201


def test_the_stored_id_is_the_uuidv5_on_every_path_and_the_one_objects_carry(app, client, callers, reader):
    _make_entries_on_every_path(client, callers)
    with app.app_context():
        rows = db.session.execute(select(Entry.kind, Entry.value, Entry.object_uuid)).all()
        db.session.rollback()
    assert {(r.kind, r.value) for r in rows} >= {("code", "10693999"), ("code", "10693004"), ("enterprise", FIRM)}
    assert all(r.object_uuid == entry_uuid(r.kind, r.value) for r in rows)
    objects = client.get(
        f"{ROOT}/collections/{ALL}/objects/", headers=reader, query_string={"match[type]": "indicator"}
    )
    carried = {o["id"] for o in objects.json["objects"]}
    assert carried == {f"indicator--{r.object_uuid}" for r in rows}
    for r in rows:  # each found by its id, alone
        one = client.get(f"{ROOT}/collections/{ALL}/objects/indicator--{r.object_uuid}/", headers=reader)
        assert one.status_code == 200 and one.json["objects"][0]["id"] == f"indicator--{r.object_uuid}"
    in_codes = client.get(
        f"{ROOT}/collections/{taxii.collection_id('code')}/objects/",
        headers=reader,
        query_string={"match[id]": ",".join(f"indicator--{r.object_uuid}" for r in rows)},
    )
    assert sorted(o["id"] for o in in_codes.json["objects"]) == sorted(
        f"indicator--{r.object_uuid}" for r in rows if r.kind == "code"
    )


def _entry_reads(seen):
    return [(sql, params) for sql, params in seen if "FROM entries" in sql]


@pytest.mark.parametrize("path", ["objects/indicator--{}/", "objects/indicator--{}/versions/", "objects/"])
def test_an_unknown_id_is_a_404_or_nothing_from_one_index_probe(app, client, callers, reader, path):
    _make_entries_on_every_path(client, callers)
    unknown = uuid.uuid4()
    url = f"{ROOT}/collections/{ALL}/" + path.format(unknown)
    query = {"match[id]": f"indicator--{unknown}"} if path == "objects/" else {}
    with statements(app) as seen:
        response = client.get(url, headers=reader, query_string=query)
    if path == "objects/":
        assert response.status_code == 200 and response.json["objects"] == []
    else:
        assert response.status_code == 404 and response.json["http_status"] == "404"
    reads = _entry_reads(seen)
    # One statement reads the entries, and it probes object_uuid; nothing else is read.
    assert len(reads) == 1, reads
    sql, params = reads[0]
    assert "entries.object_uuid IN" in sql
    assert not [sql for sql, _ in seen if "feed_changes" in sql]  # nor is the change log walked
    _assert_index_probe(app, sql, params)


def _assert_index_probe(app, sql, params):
    """The database answers the statement from the object_uuid index (SQLite: its query plan
    searches the index; PostgreSQL: with sequential scans priced out, as on a large table, the
    plan uses that index)."""
    with app.app_context():
        engine = db.engine
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "ix_entries_object_uuid" in plan and "SCAN entries" not in plan, plan
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "ix_entries_object_uuid" in plan and "Seq Scan on entries" not in plan, plan
        cursor.close()
        conn.rollback()


def test_too_many_ids_in_match_id_is_a_400(client, reader):
    ids = ",".join(f"indicator--{uuid.uuid4()}" for _ in range(taxii.MAX_MATCH_IDS + 1))
    response = client.get(f"{ROOT}/collections/{ALL}/objects/", headers=reader, query_string={"match[id]": ids})
    assert response.status_code == 400 and response.json["http_status"] == "400"
    assert "match[id]" in response.json["details"]


def test_an_entry_written_without_its_id_is_found_once_the_sweeper_filled_it_in(app, client, reader):
    """As a node of a release before 0011 writes entries during a rolling upgrade."""
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO entries (kind, value, raw_value, status, reporters, version, created_at, updated_at)"
                " VALUES ('code', '10693777', '10693777', 'active', 0, 1, :now, :now)"
            ),
            {"now": utcnow()},
        )
        db.session.commit()
    url = f"{ROOT}/collections/{ALL}/objects/indicator--{entry_uuid('code', '10693777')}/"
    assert client.get(url, headers=reader).status_code == 404  # not findable by its id yet
    with app.app_context():
        assert sweep(prune=False)["ids_filled"] == 1
        assert sweep(prune=False)["ids_filled"] == 0
        stored = db.session.scalar(select(Entry.object_uuid).where(Entry.value == "10693777"))
        db.session.rollback()
    assert stored == entry_uuid("code", "10693777")
    assert client.get(url, headers=reader).status_code == 200
