"""Data-subject requests: records, approvals, durable steps, id counters.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.String(20), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("requester", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("subject_keys", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=True),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("approvals_needed", sa.Integer, nullable=False),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision_note", sa.Text, nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_requests_status", "requests", ["status"])
    op.create_index("ix_requests_requester", "requests", ["requester"])
    op.create_table(
        "request_approvals",
        sa.Column("request_id", sa.String(20), sa.ForeignKey("requests.id"), primary_key=True),
        sa.Column("approver", sa.String(32), primary_key=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "request_steps",
        sa.Column("request_id", sa.String(20), sa.ForeignKey("requests.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("plan", sa.Text, nullable=True),
        sa.Column("assigned_role", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("done_by", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_table(
        "request_counters",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("request_counters")
    op.drop_table("request_steps")
    op.drop_table("request_approvals")
    op.drop_table("requests")
