"""feed retention: the pruning horizon on the feed head

Revision ID: 0004
Revises: 0002 (0003 after the merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("feed_head", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "pruned_through",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                server_default="0",
                nullable=False,
            )
        )


def downgrade():
    with op.batch_alter_table("feed_head", schema=None) as batch_op:
        batch_op.drop_column("pruned_through")
