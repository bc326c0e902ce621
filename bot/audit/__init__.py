"""Append-only audit store: a keyed hash chain, checkpointed to witnesses.

Each event's hash is HMAC-SHA256, with a chain key the database never sees, of the
previous event's hash and the event's canonical fields; the head row carries the
newest (seq, hash) and a MAC over them. A database writer without the key can
neither recompute the chain nor rewrite the head. What a key holder (or a restore
from backup) could still do, a checkpoint published outside the database catches:
`checkpoint()` signs the head, `bot.audit.witness` publishes it, and `verify()` checks the
chain against the checkpoints it is given and names the first event that differs.

Events written before migration 0005 were hashed with plain SHA-256; they are kept
as they are (re-hashing would launder earlier tampering) and checked as SHA-256 up
to `audit_head.keyed_from`, where the first keyed event links to the last plain hash.

People appear only as Slack user ids (actors) and subject keys: an HMAC of the
normalised identifier with a secret the database never sees, so the audit proves
what happened to whom without keeping personal data.
"""

from bot.audit.chain import AuditLog
from bot.audit.keys import SubjectKeyer
from bot.audit.records import (
    EDITED,
    MIN_CHAIN_KEY,
    MISSING,
    AuditEvent,
    ChainBroken,
    ChainReport,
    Checkpoint,
    Entry,
    Problem,
)

__all__ = [
    "EDITED",
    "MIN_CHAIN_KEY",
    "MISSING",
    "AuditEvent",
    "AuditLog",
    "ChainBroken",
    "ChainReport",
    "Checkpoint",
    "Entry",
    "Problem",
    "SubjectKeyer",
]
