"""The append-only chain: events appended under the head's lock and read back, the head
signed into checkpoints and recorded. Verifying it is `bot.audit.verify`."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from bot.audit.hashing import event_fields, head_mac, keyed_hash, mac, utc
from bot.audit.records import (
    GENESIS,
    MIN_CHAIN_KEY,
    AuditEvent,
    AuditOutcome,
    ChainBroken,
    ChainReport,
    Checkpoint,
    Entry,
)
from bot.audit.schema import audit_checkpoints, audit_events, audit_head
from bot.audit.verify import verify_chain
from bot.errors import AuditUnavailable

__all__ = ["AuditLog"]

log = logging.getLogger(__name__)

# Built once: compiling statements per call cost more than the SQLite commit itself.
# Taking the next number is the transaction's first write to the head row: it holds the
# row lock (PostgreSQL) or the write lock (SQLite) until commit, so concurrent writers
# queue behind it and each links to the hash the one before it committed.
_TAKE_SEQ = (
    sa.update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=audit_head.c.seq + 1)
    .returning(audit_head.c.seq, audit_head.c.hash, audit_head.c.keyed_from)
)
_SET_HEAD = (
    sa.update(audit_head)
    .where(audit_head.c.id == 1)
    .values(hash=sa.bindparam("digest"), mac=sa.bindparam("head_mac"))
)
_INSERT_EVENT = sa.insert(audit_events)


class AuditLog:
    """Writes and verifies audit events on the bot's database (SQLite or PostgreSQL).

    `chain_key` (config `audit.chain_key`, at least 32 characters) keys the chain and
    signs the head and the checkpoints; it must never be stored in the database.
    """

    def __init__(self, engine: sa.Engine, *, chain_key: str, clock: Any = None) -> None:
        if len(chain_key) < MIN_CHAIN_KEY:
            raise ValueError(f"the chain key must be at least {MIN_CHAIN_KEY} characters")
        self._engine = engine
        self._key = chain_key.encode()
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- writing ---------------------------------------------------------------------

    def record(
        self,
        *,
        actor: str,
        roles: tuple[str, ...] | list[str],
        action: str,
        outcome: AuditOutcome,
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
        seq, prev_hash, keyed_from = conn.execute(_TAKE_SEQ).one()
        at = self._clock()
        fields = event_fields(
            seq, at, entry.actor, roles, entry.action, entry.request_id, entry.subject_key,
            entry.outcome, detail,
        )  # fmt: skip
        # Always keyed, whatever keyed_from says: a moved boundary cannot downgrade new events.
        digest = keyed_hash(self._key, prev_hash, fields)
        signed = head_mac(self._key, seq, digest, keyed_from)
        conn.execute(_SET_HEAD, {"digest": digest, "head_mac": signed})
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

    # -- reading ---------------------------------------------------------------------

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

    # -- checkpoints -----------------------------------------------------------------

    def sign(self, seq: int, digest: str, at: datetime, *, source: str = "") -> Checkpoint:
        at = utc(at).replace(microsecond=0)
        cp = Checkpoint(seq, digest, at, None, source)
        return Checkpoint(seq, digest, at, self._checkpoint_mac(cp), source)

    def _checkpoint_mac(self, cp: Checkpoint) -> str:
        return mac(self._key, "mimbot-audit-checkpoint", cp.seq, cp.hash, cp.stamp)

    def authentic(self, cp: Checkpoint) -> bool:
        """A checkpoint without a MAC (typed in from a witness) is taken as given."""
        return cp.mac is None or hmac.compare_digest(cp.mac, self._checkpoint_mac(cp))

    def checkpoint(self) -> Checkpoint:
        """The head, signed, now. Raises ChainBroken rather than sign a head that does not
        match its MAC or its event (that is what `verify` would report)."""
        with self._engine.connect() as conn:
            head = conn.execute(sa.select(audit_head).where(audit_head.c.id == 1)).one()
            # The head's event committed with it; later appends never change it.
            newest = conn.execute(
                sa.select(audit_events.c.hash).where(audit_events.c.seq == head.seq)
            ).scalar()
        newest = GENESIS if head.seq == 0 else newest
        if newest != head.hash or not self._head_ok(head):
            raise ChainBroken(
                "the audit chain's head does not verify (see: python -m bot audit verify)"
            )
        return self.sign(head.seq, head.hash, self._clock())

    def _head_ok(self, head: Any) -> bool:
        if head.mac is None:  # nothing keyed appended since migration 0005
            return head.seq < head.keyed_from
        expected = head_mac(self._key, head.seq, head.hash, head.keyed_from)
        return hmac.compare_digest(head.mac, expected)

    def save_checkpoint(
        self, cp: Checkpoint, *, kind: str, day: date | None = None, published_to: str | None = None
    ) -> int | None:
        """Record a checkpoint in the database; the row id, or None when `day`'s checkpoint
        is already recorded (another replica took it: the insert is the compare-and-set)."""
        row = {"seq": cp.seq, "hash": cp.hash, "at": cp.at, "mac": cp.mac, "kind": kind}
        try:
            with self._engine.begin() as conn:
                return conn.execute(
                    sa.insert(audit_checkpoints)
                    .values(**row, day=day, published_to=published_to)
                    .returning(audit_checkpoints.c.id)
                ).scalar_one()
        except sa.exc.IntegrityError:
            return None

    def checkpoint_saved(self, day: date) -> bool:
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(audit_checkpoints.c.id).where(audit_checkpoints.c.day == day)
            ).first()
        return found is not None

    def mark_published(self, row_id: int, published_to: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(audit_checkpoints)
                .where(audit_checkpoints.c.id == row_id)
                .values(published_to=published_to[:200])
            )

    def forget_checkpoint(self, row_id: int) -> None:
        """Drop a claimed checkpoint no witness took, so the next tick tries again."""
        with self._engine.begin() as conn:
            conn.execute(sa.delete(audit_checkpoints).where(audit_checkpoints.c.id == row_id))

    def saved_checkpoints(self) -> list[Checkpoint]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(audit_checkpoints).order_by(audit_checkpoints.c.id))
            return [
                Checkpoint(r.seq, r.hash, utc(r.at), r.mac, f"database, {r.kind}") for r in rows
            ]

    # -- verifying -------------------------------------------------------------------

    def verify(self, checkpoints: Iterable[Checkpoint] = ()) -> ChainReport:
        """The whole chain recomputed against the head and every checkpoint, those given
        and those recorded in the database (`bot.audit.verify.verify_chain`)."""
        return verify_chain(
            self._engine,
            self._key,
            [*checkpoints, *self.saved_checkpoints()],
            authentic=self.authentic,
            head_ok=self._head_ok,
        )
