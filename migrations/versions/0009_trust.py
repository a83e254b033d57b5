"""trust: stored score and tier per entry, the tier of each feed upsert, dispute deadlines, number events, sightings

Revision ID: 0009
Revises: 0008

Existing data: entries get no score or tier (read as `block`, what every entry was before) and
`tier_due_at` now for the active ones, so the tier job assesses each once (writing a feed upsert
where the tier is not `block`). Open disputes get their deadlines from their filing time and the
default configuration (48 hours to acknowledge, 14 days to resolve).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "number_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_number_events_org_id_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_events")),
        sa.UniqueConstraint("number", "type", "date", "org_id", name=op.f("uq_number_events_number_type_date_org_id")),
    )
    op.create_index("ix_number_events_number_date", "number_events", ["number", "date"], unique=False)
    op.create_index(op.f("ix_number_events_org_id"), "number_events", ["org_id"], unique=False)
    op.create_table(
        "sightings",
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"], name=op.f("fk_sightings_entry_id_entries")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_sightings_org_id_orgs")),
        sa.PrimaryKeyConstraint("entry_id", "org_id", "day", "type", name=op.f("pk_sightings")),
    )
    op.create_index(op.f("ix_sightings_org_id"), "sightings", ["org_id"], unique=False)
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tier", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("tier_due_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_entries_tier_due_at", ["tier_due_at"], unique=False)
    with op.batch_alter_table("feed_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier", sa.String(length=8), nullable=True))
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acknowledged_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_by_org_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("ack_due_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("resolve_due_at", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(
            "fk_disputes_acknowledged_by_org_id_orgs", "orgs", ["acknowledged_by_org_id"], ["id"]
        )
    op.execute("UPDATE entries SET tier_due_at = updated_at WHERE status = 'active'")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE disputes SET ack_due_at = created_at + interval '48 hours',"
            " resolve_due_at = created_at + interval '14 days'"
        )
    else:
        op.execute(
            "UPDATE disputes SET ack_due_at = datetime(created_at, '+48 hours'),"
            " resolve_due_at = datetime(created_at, '+14 days')"
        )


def downgrade():
    op.drop_index(op.f("ix_sightings_org_id"), table_name="sightings")
    op.drop_table("sightings")
    op.drop_index(op.f("ix_number_events_org_id"), table_name="number_events")
    op.drop_index("ix_number_events_number_date", table_name="number_events")
    op.drop_table("number_events")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_constraint("fk_disputes_acknowledged_by_org_id_orgs", type_="foreignkey")
        batch_op.drop_column("resolve_due_at")
        batch_op.drop_column("ack_due_at")
        batch_op.drop_column("acknowledged_by_org_id")
        batch_op.drop_column("acknowledged_at")
    with op.batch_alter_table("feed_changes", schema=None) as batch_op:
        batch_op.drop_column("tier")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_tier_due_at")
        batch_op.drop_column("tier_due_at")
        batch_op.drop_column("tier")
        batch_op.drop_column("score")
