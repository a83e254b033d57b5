"""holdings and representatives; reports via a listed subject

Revision ID: 0007
Revises: 0006

Reports may now come *via* a listed subject that holds the resource (`via_subject_entry_id`,
`via_holding_id`), so the one-report-per-(entry, org) constraint becomes two partial unique
indexes: direct reports stay one per (entry, org); open via reports are one per (entry, org,
holding) (closed ones are kept as history, one row per listing episode); that index, led by the
holding, is also the probe for a holding's open via reports. The via columns are plain ids (entries
and holdings are never deleted; no foreign-key checks on bulk restriction). Existing data: every
report is direct (both new columns NULL).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _dated(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", BigId, nullable=False),
        *columns,
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.Column("valid_to", sa.DateTime(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("ended_by_org_id", sa.Integer(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f(f"fk_{name}_org_id_orgs")),
        sa.ForeignKeyConstraint(["ended_by_org_id"], ["orgs.id"], name=op.f(f"fk_{name}_ended_by_org_id_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )


def upgrade():
    _dated(
        "holdings",
        sa.Column("resource_kind", sa.String(length=16), nullable=False),
        sa.Column("resource_value", sa.String(length=64), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_value", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("lessor_kind", sa.String(length=16), nullable=True),
        sa.Column("lessor_value", sa.String(length=64), nullable=True),
    )
    with op.batch_alter_table("holdings", schema=None) as batch_op:
        batch_op.create_index("ix_holdings_resource", ["resource_kind", "resource_value"], unique=False)
        batch_op.create_index("ix_holdings_subject", ["subject_kind", "subject_value"], unique=False)
        batch_op.create_index("ix_holdings_lessor", ["lessor_kind", "lessor_value"], unique=False)
        batch_op.create_index(batch_op.f("ix_holdings_org_id"), ["org_id"], unique=False)

    _dated(
        "representatives",
        sa.Column("enterprise", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
    )
    with op.batch_alter_table("representatives", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_representatives_enterprise"), ["enterprise"], unique=False)
        batch_op.create_index(batch_op.f("ix_representatives_person"), ["person"], unique=False)
        batch_op.create_index(batch_op.f("ix_representatives_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("via_subject_entry_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("via_holding_id", BigId, nullable=True))
        batch_op.drop_constraint("uq_reports_entry_id_org_id", type_="unique")
        batch_op.create_index(
            "uq_reports_direct",
            ["entry_id", "org_id"],
            unique=True,
            postgresql_where=sa.text("via_holding_id IS NULL"),
            sqlite_where=sa.text("via_holding_id IS NULL"),
        )
        batch_op.create_index(
            "uq_reports_via",
            ["via_holding_id", "entry_id", "org_id"],
            unique=True,
            postgresql_where=sa.text("via_holding_id IS NOT NULL AND withdrawn_at IS NULL"),
            sqlite_where=sa.text("via_holding_id IS NOT NULL AND withdrawn_at IS NULL"),
        )


def downgrade():
    # Via reports cannot survive the one-per-(entry, org) constraint: they are dropped.
    op.execute("DELETE FROM reports WHERE via_holding_id IS NOT NULL")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("uq_reports_via")
        batch_op.drop_index("uq_reports_direct")
        batch_op.create_unique_constraint("uq_reports_entry_id_org_id", ["entry_id", "org_id"])
        batch_op.drop_column("via_holding_id")
        batch_op.drop_column("via_subject_entry_id")
    for name in ("representatives", "holdings"):
        op.drop_table(name)
