"""tag counts kept by the writes, the snapshot's tags on the entry row and its lines, active entries' expiry index

Revision ID: 0010
Revises: 0009

Existing data: `entries.feed_tags` is filled for every active entry (the JSON array of its
tags, sorted), `tag_counts` from one aggregation and (PostgreSQL) `feed_lines` with every
active entry's snapshot line (the expression of blocklist/feeds/lines.py, copied here), under
the entry-writer lock (the feed head's row), so writers of this version wait for it. At 10M
entries this rewrites every active row: minutes. A node still running the previous version that
writes after this migration does not keep the counters: run `flask --app wsgi tags recount
--repair` once every node runs this version (see deploy/README.md, Upgrades)."""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


# blocklist/feeds/lines.py LINE as of this revision.
LINE = """concat('{"id":', e.id, ',"kind":"', e.kind, '","value":', to_json(e.value),
    ',"status":"active","category":', coalesce('"' || e.category || '"', 'null'),
    ',"tags":', coalesce(e.feed_tags, '[]'), ',"reporters":', e.reporters,
    ',"expires_at":', coalesce(left(to_json(e.expires_at)::text, -1) || '+00:00"', 'null'),
    ',"updated_at":', left(to_json(e.updated_at)::text, -1), '+00:00","tier":',
    coalesce('"' || e.tier || '"', 'null'), ',"score":', coalesce(e.score::text, 'null'), '}')"""


def upgrade():
    op.create_table(
        "feed_lines",
        sa.Column(
            "entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=True),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_feed_lines")),
    )
    op.create_table(
        "tag_counts",
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tag", name=op.f("pk_tag_counts")),
    )
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_tags", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_entries_active_expires_at",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("SELECT position FROM feed_head WHERE id = 1 FOR UPDATE")
        tags = """'["' || string_agg(t.tag, '","' ORDER BY t.tag) || '"]'"""
        ordered = "entry_tags t WHERE t.entry_id = entries.id"
    else:
        # SQLite (3.40) has no ORDER BY inside an aggregate: concatenate an ordered subquery.
        tags = """'["' || group_concat(t.tag, '","') || '"]'"""
        ordered = "(SELECT tag FROM entry_tags WHERE entry_id = entries.id ORDER BY tag) t"
    op.execute(f"UPDATE entries SET feed_tags = coalesce((SELECT {tags} FROM {ordered}), '[]') WHERE status = 'active'")
    op.execute(
        "INSERT INTO tag_counts (tag, count) SELECT t.tag, count(*) FROM entry_tags t "
        "JOIN entries e ON e.id = t.entry_id WHERE e.status = 'active' GROUP BY t.tag"
    )
    if postgres:
        op.execute(
            f"INSERT INTO feed_lines (entry_id, kind, tier, line) SELECT e.id, e.kind, e.tier, {LINE} "
            "FROM entries e WHERE e.status = 'active'"
        )


def downgrade():
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_active_expires_at", postgresql_where=sa.text("status = 'active'"))
        batch_op.drop_column("feed_tags")
    op.drop_table("tag_counts")
    op.drop_table("feed_lines")
