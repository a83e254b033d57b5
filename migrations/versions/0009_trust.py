"""trust: stored score and tier per entry, the tier of each feed upsert, dispute deadlines

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
