"""The durable inbox: a Slack command is written by its ack and deleted once answered.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from bot.migrations.steps import has_index, has_table

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Each step checks whether a run that broke off did it (SQLite commits DDL at once).
    if not has_table("inbox"):
        op.create_table(
            "inbox",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("user_id", sa.String(32), nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("target", sa.String(40), nullable=True),
            sa.Column("response_url", sa.Text, nullable=True),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("lease_owner", sa.String(80), nullable=True),
            sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("attempts", sa.Integer, nullable=False),
        )
    if not has_index("inbox", "ix_inbox_received_at"):
        op.create_index("ix_inbox_received_at", "inbox", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_received_at", table_name="inbox")
    op.drop_table("inbox")
