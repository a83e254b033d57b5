"""entries: the stored, indexed object_uuid (STIX indicator id, MISP attribute uuid)

Revision ID: 0011
Revises: 0010

Existing data: every entry gets `object_uuid` = UUIDv5(NS, "<kind>:<value>") (as
`blocklist.values.ids.entry_uuid` computes it for new entries), written in batches of 10,000 in
id order (bounded memory at any size; on PostgreSQL one UPDATE per batch), then indexed. The
derivation is repeated here, not imported, so this revision keeps doing what it did whatever
the code becomes.

The column stays nullable: nodes of the previous release, still serving during a rolling
upgrade (deploy/README.md), insert entries without it; the new release's sweeper fills those in
(`blocklist/entries/object_ids.py`). A later revision can make it NOT NULL.
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NAMESPACE = uuid.UUID("4d1f4a4e-6f0b-5c61-9a57-2f1d0c9e8b31")
BATCH = 10_000
_entries = sa.table(
    "entries",
    sa.column("id", sa.BigInteger()),
    sa.column("kind", sa.String()),
    sa.column("value", sa.String()),
    sa.column("object_uuid", sa.Uuid()),
)


def upgrade():
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("object_uuid", sa.Uuid(), nullable=True))
    backfill(op.get_bind())
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entries_object_uuid"), ["object_uuid"], unique=False)


def backfill(conn, batch: int = BATCH) -> int:
    """Give every entry without one its object_uuid, `batch` rows at a time; returns how many."""
    done, last = 0, 0
    postgres = conn.dialect.name == "postgresql"
    while True:
        rows = conn.execute(
            sa.select(_entries.c.id, _entries.c.kind, _entries.c.value)
            .where(_entries.c.id > last, _entries.c.object_uuid.is_(None))
            .order_by(_entries.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return done
        uuids = [uuid.uuid5(NAMESPACE, f"{row.kind}:{row.value}") for row in rows]
        if postgres:
            conn.execute(
                sa.text(
                    "UPDATE entries SET object_uuid = v.u FROM unnest(CAST(:ids AS bigint[]), CAST(:uuids AS uuid[]))"
                    " AS v(id, u) WHERE entries.id = v.id"
                ),
                {"ids": [row.id for row in rows], "uuids": uuids},
            )
        else:
            conn.execute(
                sa.update(_entries)
                .where(_entries.c.id == sa.bindparam("b_id"))
                .values(object_uuid=sa.bindparam("b_uuid", type_=sa.Uuid())),
                [{"b_id": row.id, "b_uuid": u} for row, u in zip(rows, uuids, strict=True)],
            )
        done += len(rows)
        last = rows[-1].id


def downgrade():
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entries_object_uuid"))
        batch_op.drop_column("object_uuid")
