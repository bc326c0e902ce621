"""Keyed, witnessed audit chain: where the keyed part of the chain begins, the head's
MAC, and the checkpoints published to witnesses outside the database.

Events written before this revision were hashed with plain SHA-256. They are not
re-hashed (that would launder any earlier tampering): they stay verifiable as they
are, `audit_head.keyed_from` records the first sequence number hashed with the chain
key, and the first keyed event links to the last unkeyed hash. A fresh database is
keyed from event 1.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from bot.migrations.steps import has_column, has_index, has_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Each step checks whether a run that broke off did it (SQLite commits DDL at once).
    if not has_column("audit_head", "keyed_from"):
        op.add_column(
            "audit_head",
            sa.Column("keyed_from", _SEQ, nullable=False, server_default=sa.text("1")),
        )
    if not has_column("audit_head", "mac"):
        # NULL until the first keyed event: the migration has no key to sign the head with.
        op.add_column("audit_head", sa.Column("mac", sa.String(64), nullable=True))
    head = sa.table(
        "audit_head",
        sa.column("seq", _SEQ),
        sa.column("keyed_from", _SEQ),
        sa.column("mac", sa.String),
    )
    # The existing events stay unkeyed; no keyed event can exist before this has run.
    op.get_bind().execute(
        head.update()
        .where(head.c.mac.is_(None), head.c.keyed_from == 1)
        .values(keyed_from=head.c.seq + 1)
    )
    if not has_table("audit_checkpoints"):
        op.create_table(
            "audit_checkpoints",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("seq", _SEQ, nullable=False),
            sa.Column("hash", sa.String(64), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("mac", sa.String(64), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("day", sa.Date, nullable=True),
            sa.Column("published_to", sa.String(200), nullable=True),
        )
    if not has_index("audit_checkpoints", "ix_audit_checkpoints_day"):
        # One daily checkpoint per day across replicas: the insert is the compare-and-set.
        op.create_index("ix_audit_checkpoints_day", "audit_checkpoints", ["day"], unique=True)


def downgrade() -> None:
    raise NotImplementedError(
        "0005 is not reversible: keyed events cannot be verified by the earlier code"
    )
