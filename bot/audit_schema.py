"""Tables of the bot's own database (audit store). Created by Alembic migrations only."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["audit_events", "audit_head", "metadata"]

metadata = sa.MetaData()

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(32), nullable=False),
    sa.Column("roles", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("request_id", sa.String(32), nullable=True, index=True),
    sa.Column("subject_key", sa.String(64), nullable=True, index=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),  # canonical JSON: no names or values
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# One row: the chain's head. Appending is a compare-and-set on it, so two
# writers (threads or replicas) never fork the chain, and deleting the newest
# events is detected as a mismatch with the head.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
