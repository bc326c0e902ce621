"""Retention batches: a sweep's batch request (`batches`), its candidates
(`batch_members`, their names and identifiers scrubbed when it ends), each person's
erasure linked to it (`requests.batch_id`), and the scheduled sweeps' slots (`sweep_runs`).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from bot.migrations.steps import has_column, has_index, has_table

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True)


def upgrade() -> None:
    # Each step checks whether a run that broke off did it (SQLite commits DDL at once).
    if not has_column("requests", "batch_id"):
        op.add_column("requests", sa.Column("batch_id", sa.String(20), nullable=True))
    if not has_index("requests", "ix_requests_batch_id"):
        op.create_index("ix_requests_batch_id", "requests", ["batch_id"])
    if not has_table("batches"):
        op.create_table(
            "batches",
            sa.Column("id", sa.String(20), primary_key=True),
            sa.Column("status", sa.String(32), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("requester", sa.String(32), nullable=False),
            sa.Column("rules", JSON, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("decided_by", sa.String(32), nullable=True),
            sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("channel", sa.String(32), nullable=True),
            sa.Column("message_ts", sa.String(32), nullable=True),
            sa.Column("lease_owner", sa.String(64), nullable=True),
            sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("summary_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("file_id", sa.String(32), nullable=True),
        )
    if not has_index("batches", "ix_batches_status"):
        op.create_index("ix_batches_status", "batches", ["status"])
    if not has_table("batch_members"):
        op.create_table(
            "batch_members",
            sa.Column("batch_id", sa.String(20), sa.ForeignKey("batches.id"), primary_key=True),
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("rule", sa.String(40), nullable=False),
            sa.Column("place", sa.String(16), nullable=False),
            sa.Column("label", sa.Text, nullable=True),
            sa.Column("query", JSON, nullable=True),
            sa.Column("note", sa.Text, nullable=True),
            sa.Column("subject_key", sa.String(64), nullable=True),
            sa.Column("since", sa.DateTime(timezone=True), nullable=True),
            sa.Column("request_id", sa.String(20), nullable=True),
            sa.Column("lease_owner", sa.String(64), nullable=True),
            sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("open_key", sa.String(64), nullable=True),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        )
    if not has_index("batch_members", "ix_batch_members_place"):
        op.create_index("ix_batch_members_place", "batch_members", ["batch_id", "place"])
    if not has_index("batch_members", "ix_batch_members_open_key"):
        op.create_index("ix_batch_members_open_key", "batch_members", ["open_key"], unique=True)
    if not has_table("sweep_runs"):
        op.create_table(
            "sweep_runs",
            sa.Column("slot", sa.String(25), primary_key=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("batch_id", sa.String(20), nullable=True),
        )


def downgrade() -> None:
    op.drop_table("sweep_runs")
    op.drop_index("ix_batch_members_open_key", table_name="batch_members")
    op.drop_index("ix_batch_members_place", table_name="batch_members")
    op.drop_table("batch_members")
    op.drop_index("ix_batches_status", table_name="batches")
    op.drop_table("batches")
    op.drop_index("ix_requests_batch_id", table_name="requests")
    op.drop_column("requests", "batch_id")
