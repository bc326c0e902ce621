"""Manual steps are typed: `request_steps.task` holds the kind of work
(connectors.base.ManualTask). Steps stored before keep NULL and show their summary.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from bot.migrations.steps import has_column

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not has_column("request_steps", "task"):  # a run that broke off may have added it
        op.add_column("request_steps", sa.Column("task", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("request_steps", "task")
