"""Data migrations keep what is already stored: upgraded from the revision before them with
rows in place (on a scratch SQLite file, so the session database is untouched)."""

from __future__ import annotations

import flask_migrate
from conftest import TEST_CONFIG
from sqlalchemy import text

from blocklist import create_app
from blocklist.db import db

NOW, LATER = "2026-11-01 00:00:00", "2027-05-01 00:00:00"


def test_0005_gives_open_reports_their_entrys_expiry_and_every_reporter_a_claim_on_its_tags(tmp_path):
    app = create_app({**TEST_CONFIG, "database_url": f"sqlite:///{tmp_path / 'm.sqlite'}"})
    with app.app_context():
        flask_migrate.upgrade(revision="0004")
        with db.engine.begin() as conn:
            for org_id in (1, 2, 3):
                conn.execute(
                    text(
                        "INSERT INTO orgs (id, name, kind, status, created_at, updated_at) "
                        f"VALUES ({org_id}, 'org{org_id}', 'carrier', 'active', '{NOW}', '{NOW}')"
                    )
                )
            conn.execute(
                text(
                    "INSERT INTO entries (id, kind, value, raw_value, status, reporters, version, "
                    "expires_at, created_at, updated_at) VALUES (1, 'code', '10690001', '10690001', "
                    f"'active', 2, 1, '{LATER}', '{NOW}', '{NOW}')"
                )
            )
            for report_id, org_id, withdrawn in ((1, 1, None), (2, 2, None), (3, 3, NOW)):
                conn.execute(
                    text(
                        "INSERT INTO reports (id, entry_id, org_id, raw_value, created_at, updated_at, "
                        f"withdrawn_at) VALUES ({report_id}, 1, {org_id}, '10690001', '{NOW}', '{NOW}', "
                        + (f"'{withdrawn}')" if withdrawn else "NULL)")
                    )
                )
            conn.execute(text("INSERT INTO entry_tags (entry_id, tag) VALUES (1, 'fraud:loan')"))
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            expiries = conn.execute(text("SELECT org_id, expires_at FROM reports ORDER BY org_id")).all()
            claims = conn.execute(text("SELECT org_id, tag FROM tag_claims ORDER BY org_id")).all()
        assert [(org, str(at)[:19] if at else None) for org, at in expiries] == [(1, LATER), (2, LATER), (3, None)]
        assert [tuple(c) for c in claims] == [(1, "fraud:loan"), (2, "fraud:loan"), (3, "fraud:loan")]
        flask_migrate.downgrade(revision="0004")
        with db.engine.connect() as conn:
            assert "expires_at" not in {row[1] for row in conn.execute(text("PRAGMA table_info(reports)"))}


def test_0008_brings_the_existing_audit_records_into_the_merkle_tree(tmp_path):
    from blocklist.audit import tree
    from blocklist.auth import services as auth_services
    from blocklist.context import OPERATOR

    app = create_app({**TEST_CONFIG, "database_url": f"sqlite:///{tmp_path / 'm.sqlite'}"})
    with app.app_context():
        flask_migrate.upgrade()
        for number in range(5):  # 10 records (an org and a client each)
            org = auth_services.create_org(f"org{number}", "carrier", actor=OPERATOR)
            auth_services.create_client(org, actor=OPERATOR)
        db.session.commit()
        grown = (tree.root(10), db.session.execute(text("SELECT level, position, hash FROM audit_tree_nodes")).all())
        db.session.rollback()
        flask_migrate.downgrade(revision="0006")  # a trail written before the tree existed
        flask_migrate.upgrade()
        backfilled = (
            tree.root(10),
            db.session.execute(text("SELECT level, position, hash FROM audit_tree_nodes")).all(),
        )
        db.session.rollback()
    assert sorted(backfilled[1]) == sorted(grown[1]) and len(grown[1]) == 10 + 5 + 2 + 1
    assert backfilled[0] == grown[0]


def test_0010_fills_the_snapshot_tags_and_the_tag_counts_of_the_active_entries(tmp_path):
    app = create_app({**TEST_CONFIG, "database_url": f"sqlite:///{tmp_path / 'm.sqlite'}"})
    with app.app_context():
        flask_migrate.upgrade(revision="0009")
        with db.engine.begin() as conn:
            for entry_id, status in ((1, "active"), (2, "active"), (3, "expired"), (4, "active")):
                conn.execute(
                    text(
                        "INSERT INTO entries (id, kind, value, raw_value, status, reporters, version, created_at, "
                        f"updated_at) VALUES ({entry_id}, 'code', '1069000{entry_id}', '1069000{entry_id}', "
                        f"'{status}', 1, 1, '{NOW}', '{NOW}')"
                    )
                )
            for entry_id, tag in ((1, "fraud:loan"), (1, "channel:sms"), (2, "fraud:loan"), (3, "fraud:loan")):
                conn.execute(text(f"INSERT INTO entry_tags (entry_id, tag) VALUES ({entry_id}, '{tag}')"))
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            feed_tags = conn.execute(text("SELECT id, feed_tags FROM entries ORDER BY id")).all()
            counts = conn.execute(text("SELECT tag, count FROM tag_counts ORDER BY tag")).all()
        assert [tuple(row) for row in feed_tags] == [
            (1, '["channel:sms","fraud:loan"]'),
            (2, '["fraud:loan"]'),
            (3, None),
            (4, "[]"),
        ]
        assert [tuple(row) for row in counts] == [("channel:sms", 1), ("fraud:loan", 2)]
        flask_migrate.downgrade(revision="0009")
        with db.engine.connect() as conn:
            assert "feed_tags" not in {row[1] for row in conn.execute(text("PRAGMA table_info(entries)"))}
            assert conn.execute(text("SELECT name FROM sqlite_master WHERE name = 'tag_counts'")).all() == []


def test_0011_gives_every_entry_its_object_uuid_in_batches_and_downgrades(tmp_path):
    import importlib
    import uuid

    from blocklist.values.ids import entry_uuid

    migration = importlib.import_module("migrations.versions.0011_entry_object_uuid")
    app = create_app({**TEST_CONFIG, "database_url": f"sqlite:///{tmp_path / 'm.sqlite'}"})
    with app.app_context():
        flask_migrate.upgrade(revision="0011-1")
        values = [("code", f"1069{i:04d}") for i in range(25)] + [("domain", "a.example.com"), ("keyword", "安全账户")]
        with db.engine.begin() as conn:
            for entry_id, (kind, value) in enumerate(values, start=1):
                conn.execute(
                    text(
                        "INSERT INTO entries (id, kind, value, raw_value, status, reporters, version, created_at,"
                        " updated_at) VALUES (:id, :kind, :value, :value, 'active', 1, 1, :now, :now)"
                    ),
                    {"id": entry_id, "kind": kind, "value": value, "now": NOW},
                )
        with db.engine.begin() as conn:  # the batches walk the ids: a small batch covers every row
            conn.execute(text("ALTER TABLE entries ADD COLUMN object_uuid CHAR(32)"))
            assert migration.backfill(conn, batch=4) == len(values)
            assert migration.backfill(conn, batch=4) == 0  # nothing left without one
            conn.execute(text("ALTER TABLE entries DROP COLUMN object_uuid"))
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            stored = conn.execute(text("SELECT kind, value, object_uuid FROM entries ORDER BY id")).all()
            indexes = {row[1] for row in conn.execute(text("PRAGMA index_list(entries)"))}
            notnull = {row[1]: row[3] for row in conn.execute(text("PRAGMA table_info(entries)"))}
        assert [(k, v, uuid.UUID(u)) for k, v, u in stored] == [(k, v, entry_uuid(k, v)) for k, v in values]
        assert "ix_entries_object_uuid" in indexes and notnull["object_uuid"] == 0  # see 0011's docstring
        flask_migrate.downgrade(revision="0011-1")
        with db.engine.connect() as conn:
            assert "object_uuid" not in {row[1] for row in conn.execute(text("PRAGMA table_info(entries)"))}
            assert conn.scalar(text("SELECT count(*) FROM entries")) == len(values)


def test_0012_keeps_only_rows_with_a_range_prefix_or_url_expression_in_their_indexes(tmp_path):
    app = create_app({**TEST_CONFIG, "database_url": f"sqlite:///{tmp_path / 'm.sqlite'}"})

    def definitions(conn) -> dict[str, str]:
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries'"))
        return {name: sql or "" for name, sql in rows}

    def plan(conn, column: str) -> str:
        query = f"EXPLAIN QUERY PLAN SELECT id FROM entries WHERE {column} IN ('8613', 'x.example/')"
        return " ".join(str(row[-1]) for row in conn.execute(text(query)))

    with app.app_context():
        flask_migrate.upgrade(revision="0011")
        with db.engine.connect() as conn:
            assert "WHERE" not in definitions(conn)["ix_entries_match_key"]
        flask_migrate.upgrade(revision="0012")
        with db.engine.connect() as conn:
            found = definitions(conn)
            for column in ("range_prefix", "match_key"):
                assert f"WHERE {column} IS NOT NULL" in found[f"ix_entries_{column}"]
                assert f"ix_entries_{column}" in plan(conn, column)  # the probes still use them
        flask_migrate.downgrade(revision="0011")
        with db.engine.connect() as conn:
            assert "WHERE" not in definitions(conn)["ix_entries_range_prefix"]
