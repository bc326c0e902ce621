"""The deadline clock: reminders sent per request (once each) and the daily digest.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from bot.migrations.steps import has_table

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Each step checks whether a run that broke off did it (SQLite commits DDL at once).
    if not has_table("request_reminders"):
        op.create_table(
            "request_reminders",
            sa.Column("request_id", sa.String(20), sa.ForeignKey("requests.id"), primary_key=True),
            sa.Column("kind", sa.String(16), primary_key=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        )
    if not has_table("daily_digests"):
        op.create_table(
            "daily_digests",
            sa.Column("day", sa.String(10), primary_key=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("daily_digests")
    op.drop_table("request_reminders")
