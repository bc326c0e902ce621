"""Once only: Slack requests already handled (a replay runs once), and one open request
per person (`requests.open_key`, unique; NULL once the request ends).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN = ("planned", "awaiting_approval", "approved", "running", "verifying", "failed")


def upgrade() -> None:
    op.create_table(
        "handled_triggers",
        sa.Column("trigger_id", sa.String(128), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handled_triggers_at", "handled_triggers", ["at"])
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
        sa.select(requests.c.id, requests.c.subject_keys)
        .where(requests.c.status.in_(OPEN))
        .order_by(requests.c.received_at)
    ).all()
    taken: set[str] = set()
    for request_id, keys in rows:
        first = (keys or [None])[0]
        if first and first not in taken:
            taken.add(first)
            bind.execute(
                requests.update().where(requests.c.id == request_id).values(open_key=first)
            )
    op.create_index("ix_requests_open_key", "requests", ["open_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_requests_open_key", table_name="requests")
    op.drop_column("requests", "open_key")
    op.drop_index("ix_handled_triggers_at", table_name="handled_triggers")
    op.drop_table("handled_triggers")
