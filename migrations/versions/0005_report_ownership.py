"""reports are each org's own: per-report expiry and close reason, tag claims per org

Revision ID: 0005
Revises: 0004

Existing data: every open report takes its entry's `expires_at` (what it expired with until
now); every tag is claimed by every org that reports (or reported) its entry, since any
reporter could add or remove any tag before, so no single one of them can now remove it alone.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("close_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.create_index(
            "ix_reports_open_expires_at",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("withdrawn_at IS NULL"),
            sqlite_where=sa.text("withdrawn_at IS NULL"),
        )
    op.execute(
        "UPDATE reports SET expires_at = (SELECT entries.expires_at FROM entries "
        "WHERE entries.id = reports.entry_id) WHERE withdrawn_at IS NULL"
    )

    op.create_table(
        "tag_claims",
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"], name=op.f("fk_tag_claims_entry_id_entries")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_tag_claims_org_id_orgs")),
        sa.PrimaryKeyConstraint("entry_id", "tag", "org_id", name=op.f("pk_tag_claims")),
    )
    with op.batch_alter_table("tag_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tag_claims_org_id"), ["org_id"], unique=False)
    op.execute(
        "INSERT INTO tag_claims (entry_id, tag, org_id) "
        "SELECT DISTINCT entry_tags.entry_id, entry_tags.tag, reports.org_id "
        "FROM entry_tags JOIN reports ON reports.entry_id = entry_tags.entry_id"
    )


def downgrade():
    with op.batch_alter_table("tag_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tag_claims_org_id"))
    op.drop_table("tag_claims")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_open_expires_at")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("close_reason")
