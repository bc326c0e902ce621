"""Holds: people who must not be erased (GDPR Art. 17(3): legal claims, a legal
obligation), one row per key that names the person (the keyed hashes a request's
person_keys hold, never the values), grouped by the hold they belong to.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from bot.migrations.steps import has_index, has_table

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not has_table("holds"):
        op.create_table(
            "holds",
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("hold_id", sa.String(32), nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("placed_by", sa.String(32), nullable=False),
            sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        )
    if not has_index("holds", "ix_holds_hold_id"):
        op.create_index("ix_holds_hold_id", "holds", ["hold_id"])


def downgrade() -> None:
    op.drop_index("ix_holds_hold_id", table_name="holds")
    op.drop_table("holds")
