"""Once only: Slack requests already handled (a replay runs once), and one open request
per person (`requests.open_key`, unique; NULL once the request ends).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from bot.migrations.steps import has_column, has_index, has_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN = ("planned", "awaiting_approval", "approved", "running", "verifying", "failed")


def upgrade() -> None:
    # Each step checks whether a run that broke off did it (SQLite commits DDL at once).
    if not has_table("handled_triggers"):
        op.create_table(
            "handled_triggers",
            sa.Column("trigger_id", sa.String(128), primary_key=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        )
    if not has_index("handled_triggers", "ix_handled_triggers_at"):
        op.create_index("ix_handled_triggers_at", "handled_triggers", ["at"])
    if not has_column("requests", "open_key"):
        op.add_column("requests", sa.Column("open_key", sa.String(64), nullable=True))
    # Requests open today keep their person: the first subject key, where only one open
    # request holds it (older duplicates, allowed before, stay open without the key).
    requests = sa.table(
        "requests",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("subject_keys", sa.JSON),
        sa.column("received_at", sa.DateTime(timezone=True)),
        sa.column("open_key", sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(requests.c.id, requests.c.subject_keys, requests.c.open_key)
        .where(requests.c.status.in_(OPEN))
        .order_by(requests.c.received_at)
    ).all()
    taken = {key for _, _, key in rows if key}
    for request_id, keys, key in rows:
        first = (keys or [None])[0]
        if key is None and first and first not in taken:
            taken.add(first)
            bind.execute(
                requests.update().where(requests.c.id == request_id).values(open_key=first)
            )
    if not has_index("requests", "ix_requests_open_key"):
        op.create_index("ix_requests_open_key", "requests", ["open_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_requests_open_key", table_name="requests")
    op.drop_column("requests", "open_key")
    op.drop_index("ix_handled_triggers_at", table_name="handled_triggers")
    op.drop_table("handled_triggers")
