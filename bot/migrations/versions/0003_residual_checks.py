"""Residual checks: after a completed erasure's residual copies expire, look again.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "residual_checks",
        sa.Column("request_id", sa.String(20), sa.ForeignKey("requests.id"), primary_key=True),
        sa.Column("system", sa.String(64), primary_key=True),
        sa.Column("ref", sa.String(256), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
    )
    op.create_index("ix_residual_checks_due_at", "residual_checks", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_residual_checks_due_at", table_name="residual_checks")
    op.drop_table("residual_checks")
