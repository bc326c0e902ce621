"""Data map snapshots: the map the worker's weekly watch last took (its JSON form: names,
counts and periods, no person's data), to post what changed since.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from bot.migrations.steps import has_table

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not has_table("datamap_snapshots"):
        op.create_table(
            "datamap_snapshots",
            sa.Column("taken_on", sa.String(10), primary_key=True),  # YYYY-MM-DD (UTC)
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("map_json", sa.Text, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("datamap_snapshots")
