"""audit transparency log: the RFC 9162 Merkle tree over the records and signed tree heads

Revision ID: 0008
Revises: 0007

Existing records are brought into the tree here (blocklist/audit/treecheck.py `backfill`, one
pass over the trail in seq order, about 2 nodes per record).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "audit_tree_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("position", BIG, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "position", name=op.f("pk_audit_tree_nodes")),
    )
    op.create_table(
        "audit_tree_heads",
        sa.Column("tree_size", BIG, autoincrement=False, nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_tree_heads")),
    )
    from blocklist.audit.treecheck import backfill

    backfill(op.get_bind())


def downgrade():
    op.drop_table("audit_tree_heads")
    op.drop_table("audit_tree_nodes")
