"""Append-only, hash-chained audit store.

Each event stores the hash of the one before it; `verify()` recomputes the
chain and names the first event that does not fit (edited, removed or
re-ordered). People appear only as Slack user ids (actors) and subject keys:
an HMAC of the normalised identifier with a secret the database never sees,
so the audit proves what happened to whom without keeping personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.audit_schema import audit_events, audit_head
from bot.errors import AuditUnavailable

__all__ = ["AuditEvent", "AuditLog", "ChainReport", "Entry", "SubjectKeyer"]

log = logging.getLogger(__name__)
GENESIS = "0" * 64

# Built once: compiling statements per call cost more than the SQLite commit itself.
# Taking the next number is the transaction's first write to the head row: it holds the
# row lock (PostgreSQL) or the write lock (SQLite) until commit, so concurrent writers
# queue behind it and each links to the hash the one before it committed.
_TAKE_SEQ = (
    sa.update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=audit_head.c.seq + 1)
    .returning(audit_head.c.seq, audit_head.c.hash)
)
_SET_HASH = sa.update(audit_head).where(audit_head.c.id == 1).values(hash=sa.bindparam("digest"))
_INSERT_EVENT = sa.insert(audit_events)


class SubjectKeyer:
    """Keyed hash of a normalised identifier (HMAC-SHA256, hex)."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the subject key secret must be at least 16 characters")
        self._secret = secret.encode()

    def key(self, identifier: str) -> str:
        normal = unicodedata.normalize("NFKC", identifier).strip().casefold()
        return hmac.new(self._secret, normal.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Entry:
    """An event to append (an `AuditEvent` is one read back, with its place in the chain)."""

    actor: str
    roles: tuple[str, ...] | list[str]
    action: str
    outcome: str = "ok"
    subject_key: str | None = None
    request_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: str
    roles: tuple[str, ...]
    action: str
    request_id: str | None
    subject_key: str | None
    outcome: str
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""


def _event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _fields(
    seq: int,
    at: datetime,
    actor: str,
    roles: str,
    action: str,
    request_id: str | None,
    subject_key: str | None,
    outcome: str,
    detail: str,
) -> dict[str, Any]:
    # SQLite drops tzinfo on the way back: hash a naive-UTC ISO form on both sides.
    at_text = at.astimezone(UTC).replace(tzinfo=None).isoformat() if at.tzinfo else at.isoformat()
    return {
        "seq": seq,
        "at": at_text,
        "actor": actor,
        "roles": roles,
        "action": action,
        "request_id": request_id,
        "subject_key": subject_key,
        "outcome": outcome,
        "detail": detail,
    }


class AuditLog:
    """Writes and verifies audit events on the bot's database (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine, *, clock: Any = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    def record(
        self,
        *,
        actor: str,
        roles: tuple[str, ...] | list[str],
        action: str,
        outcome: str,
        subject_key: str | None = None,
        request_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """Append one event in a transaction of its own and return its sequence number.

        Raises AuditUnavailable when the store cannot be written: callers
        refuse the action rather than act unrecorded.
        """
        entry = Entry(actor, roles, action, outcome, subject_key, request_id, detail or {})
        try:
            with self._engine.begin() as conn:
                return self.append(conn, entry)
        except sa.exc.SQLAlchemyError as exc:
            log.error("audit store write failed: %s", exc.__class__.__name__)
            raise AuditUnavailable("The audit store is unavailable, so nothing was done.") from exc

    def append(self, conn: sa.Connection, entry: Entry) -> int:
        """Append `entry` inside the caller's transaction, so the event and the change it
        records commit together or not at all. Call it last in the transaction: it locks
        the chain's head until commit."""
        detail = json.dumps(dict(entry.detail), sort_keys=True, separators=(",", ":"))
        roles = ",".join(sorted(entry.roles))
        seq, prev_hash = conn.execute(_TAKE_SEQ).one()
        at = self._clock()
        fields = _fields(
            seq, at, entry.actor, roles, entry.action, entry.request_id, entry.subject_key,
            entry.outcome, detail,
        )  # fmt: skip
        digest = _event_hash(prev_hash, fields)
        conn.execute(_SET_HASH, {"digest": digest})
        conn.execute(
            _INSERT_EVENT,
            {
                "seq": seq, "at": at, "actor": entry.actor, "roles": roles,
                "action": entry.action, "request_id": entry.request_id,
                "subject_key": entry.subject_key, "outcome": entry.outcome, "detail": detail,
                "prev_hash": prev_hash, "hash": digest,
            },
        )  # fmt: skip
        return seq

    def events(
        self, *, subject_key: str | None = None, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]:
        """Events in chain order, optionally for one subject (searched for, or shown in a
        result) or one request."""
        query = sa.select(audit_events).order_by(audit_events.c.seq)
        if subject_key is not None:
            query = query.where(
                sa.or_(
                    audit_events.c.subject_key == subject_key,
                    # Keys are 64 hex digits: a substring match cannot hit another key.
                    audit_events.c.detail.contains(f'"{subject_key}"', autoescape=True),
                )
            )
        if request_id is not None:
            query = query.where(audit_events.c.request_id == request_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [
            AuditEvent(
                seq=r.seq,
                at=r.at,
                actor=r.actor,
                roles=tuple(filter(None, r.roles.split(","))),
                action=r.action,
                request_id=r.request_id,
                subject_key=r.subject_key,
                outcome=r.outcome,
                detail=json.loads(r.detail),
                prev_hash=r.prev_hash,
                hash=r.hash,
            )
            for r in rows
        ]

    def verify(self) -> ChainReport:
        """Recompute the whole chain; report the first event that does not fit."""
        prev, expected_seq, count = GENESIS, 1, 0
        with self._engine.connect() as conn:
            head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash)).one()
            rows = conn.execute(sa.select(audit_events).order_by(audit_events.c.seq))
            for r in rows:
                count += 1
                if r.seq != expected_seq:
                    return ChainReport(False, count, expected_seq, "event missing")
                fields = _fields(
                    r.seq,
                    r.at,
                    r.actor,
                    r.roles,
                    r.action,
                    r.request_id,
                    r.subject_key,
                    r.outcome,
                    r.detail,
                )
                if r.prev_hash != prev:
                    return ChainReport(False, count, r.seq, "link to the previous event broken")
                if _event_hash(prev, fields) != r.hash:
                    return ChainReport(False, count, r.seq, "content does not match its hash")
                prev, expected_seq = r.hash, expected_seq + 1
        if head.seq != expected_seq - 1 or head.hash != prev:
            return ChainReport(False, count, expected_seq, "newest events missing (head mismatch)")
        return ChainReport(True, count)
