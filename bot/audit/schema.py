"""Tables of the bot's own database (audit store). Created by Alembic migrations only."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["audit_checkpoints", "audit_events", "audit_head", "metadata"]

metadata = sa.MetaData()
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
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
# events is detected as a mismatch with the head. `keyed_from` is the first event
# hashed with the chain key (migration 0005: older events stay plain SHA-256);
# `mac` signs (seq, hash, keyed_from) with the chain key, NULL until the first keyed event.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", _SEQ, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("keyed_from", _SEQ, nullable=False, server_default=sa.text("1")),
    sa.Column("mac", sa.String(64), nullable=True),
)

# Checkpoints published to witnesses outside the database (bot.audit.witness). A daily one
# has its `day`, unique: the replica whose insert wins publishes it, the others skip.
audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("seq", _SEQ, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # daily | request | manual
    sa.Column("day", sa.Date, nullable=True),
    sa.Column("published_to", sa.String(200), nullable=True),  # witness names; NULL: not yet
    sa.Index("ix_audit_checkpoints_day", "day", unique=True),
)
