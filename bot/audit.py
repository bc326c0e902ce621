"""Append-only audit store: a keyed hash chain, checkpointed to witnesses.

Each event's hash is HMAC-SHA256, with a chain key the database never sees, of the
previous event's hash and the event's canonical fields; the head row carries the
newest (seq, hash) and a MAC over them. A database writer without the key can
neither recompute the chain nor rewrite the head. What a key holder (or a restore
from backup) could still do, a checkpoint published outside the database catches:
`checkpoint()` signs the head, `bot.witness` publishes it, and `verify()` checks the
chain against the checkpoints it is given and names the first event that differs.

Events written before migration 0005 were hashed with plain SHA-256; they are kept
as they are (re-hashing would launder earlier tampering) and checked as SHA-256 up
to `audit_head.keyed_from`, where the first keyed event links to the last plain hash.

People appear only as Slack user ids (actors) and subject keys: an HMAC of the
normalised identifier with a secret the database never sees, so the audit proves
what happened to whom without keeping personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from bot.audit_schema import audit_checkpoints, audit_events, audit_head
from bot.errors import AuditUnavailable

__all__ = [
    "MIN_CHAIN_KEY",
    "AuditEvent",
    "AuditLog",
    "ChainBroken",
    "ChainReport",
    "Checkpoint",
    "Entry",
    "Problem",
    "SubjectKeyer",
]

log = logging.getLogger(__name__)
GENESIS = "0" * 64
MIN_CHAIN_KEY = 32

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


class SubjectKeyer:
    """Keyed hash of a normalised identifier (HMAC-SHA256, hex)."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the subject key secret must be at least 16 characters")
        self._secret = secret.encode()

    def key(self, identifier: str) -> str:
        normal = unicodedata.normalize("NFKC", identifier).strip().casefold()
        return hmac.new(self._secret, normal.encode(), hashlib.sha256).hexdigest()


class ChainBroken(Exception):
    """The head does not match its MAC or the newest event: no checkpoint is signed."""


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
class Checkpoint:
    """The chain's head at a moment: event `seq` had hash `hash`. `mac` (HMAC-SHA256 with
    the chain key over seq, hash and time) makes a forged checkpoint detectable. One typed
    in as SEQ:HASH from a witness (a Slack message) has no time and no MAC: it is trusted
    for where it was copied from. `source` says where it came from (not signed)."""

    seq: int
    hash: str
    at: datetime | None
    mac: str | None
    source: str = field(default="", compare=False)

    @property
    def stamp(self) -> str:
        """The time as signed: 20260301T000005Z."""
        return self.at.strftime("%Y%m%dT%H%M%SZ") if self.at else ""

    def token(self) -> str:
        """SEQ:HASH:TIME:MAC, the form `audit verify --checkpoint` reads back."""
        if self.at is None or self.mac is None:
            return f"{self.seq}:{self.hash}"
        return f"{self.seq}:{self.hash}:{self.stamp}:{self.mac}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong: events `seq`..`last_seq` (one event when equal), or, with `seq`
    None, the head or a checkpoint (`where`)."""

    seq: int | None
    text: str
    last_seq: int | None = None
    where: str = "event"  # event | head | checkpoint

    def line(self) -> str:
        if self.where == "head":
            return f"BROKEN at the head: {self.text}"
        if self.where == "checkpoint":
            return f"BROKEN checkpoint: {self.text}"
        if self.last_seq is not None and self.last_seq != self.seq:
            return f"BROKEN at events {self.seq}..{self.last_seq}: {self.text}"
        return f"BROKEN at event {self.seq}: {self.text}"


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""  # the first problem's text
    problems: tuple[Problem, ...] = ()
    keyed_from: int = 1  # events before it were hashed without the key (before 0005)
    checkpoint: Checkpoint | None = None  # the newest checkpoint the chain was checked against
    checkpoints: int = 0  # how many were checked


# Problem texts (also the keys that merge a run of events with the same problem).
EDITED = "content does not match its hash (edited, or written without the chain key)"
MISSING = "missing (deleted)"
UNLINKED = "does not link to the event before it (an event before it was replaced)"
UNLINKED_PLAIN = (
    "does not link to the last event hashed before the chain was keyed "
    "(the events before it were rewritten)"
)
AFTER_HEAD = "after the head: inserted, or the head was rewritten"


def _canonical(fields: Mapping[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _plain_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """Events before migration 0005: SHA-256 of the previous hash and the fields."""
    return hashlib.sha256(prev_hash.encode() + _canonical(fields)).hexdigest()


def _keyed_hash(key: bytes, prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hmac.new(key, prev_hash.encode() + _canonical(fields), hashlib.sha256).hexdigest()


def _mac(key: bytes, *parts: object) -> str:
    return hmac.new(key, ":".join(map(str, parts)).encode(), hashlib.sha256).hexdigest()


def _head_mac(key: bytes, seq: int, digest: str, keyed_from: int) -> str:
    return _mac(key, "mimbot-audit-head", seq, digest, keyed_from)


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


def _row_fields(r: Any) -> dict[str, Any]:
    return _fields(
        r.seq, r.at, r.actor, r.roles, r.action, r.request_id, r.subject_key, r.outcome, r.detail
    )


def _utc(at: datetime) -> datetime:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite: stored in UTC, read back naive
    return at.astimezone(UTC)


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
        seq, prev_hash, keyed_from = conn.execute(_TAKE_SEQ).one()
        at = self._clock()
        fields = _fields(
            seq, at, entry.actor, roles, entry.action, entry.request_id, entry.subject_key,
            entry.outcome, detail,
        )  # fmt: skip
        # Always keyed, whatever keyed_from says: a moved boundary cannot downgrade new events.
        digest = _keyed_hash(self._key, prev_hash, fields)
        head_mac = _head_mac(self._key, seq, digest, keyed_from)
        conn.execute(_SET_HEAD, {"digest": digest, "head_mac": head_mac})
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
        at = _utc(at).replace(microsecond=0)
        cp = Checkpoint(seq, digest, at, None, source)
        return Checkpoint(seq, digest, at, self._checkpoint_mac(cp), source)

    def _checkpoint_mac(self, cp: Checkpoint) -> str:
        return _mac(self._key, "mimbot-audit-checkpoint", cp.seq, cp.hash, cp.stamp)

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
        expected = _head_mac(self._key, head.seq, head.hash, head.keyed_from)
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
                Checkpoint(r.seq, r.hash, _utc(r.at), r.mac, f"database, {r.kind}") for r in rows
            ]

    # -- verifying -------------------------------------------------------------------

    def verify(self, checkpoints: Iterable[Checkpoint] = ()) -> ChainReport:
        """Recompute the whole chain, check the head and every checkpoint (those given and
        those recorded in the database), and report each problem, the first event first.

        Each event is checked on its own (its hash over its predecessor's hash and its
        fields, keyed from `keyed_from`) and then linked to the one before it; a link
        that breaks only because the event before it is bad or missing is not reported
        again, so the first event named is the one edited, forged or deleted."""
        given = [*checkpoints, *self.saved_checkpoints()]
        problems = _Problems()
        trusted: dict[int, list[Checkpoint]] = {}
        for cp in given:
            if self.authentic(cp):
                trusted.setdefault(cp.seq, []).append(cp)
            else:
                problems.add(
                    None,
                    f"the checkpoint for event {cp.seq} from {cp.source or 'input'} does not "
                    "match its MAC (forged, or signed with another chain key)",
                    where="checkpoint",
                )
        count, last_seq, last_hash, last_bad = 0, 0, GENESIS, False
        with _snapshot(self._engine) as conn:
            head = conn.execute(sa.select(audit_head).where(audit_head.c.id == 1)).one_or_none()
            if head is None:  # deleted: judge the events alone, all as keyed
                problems.add(None, "missing: the chain's head row was deleted", where="head")
            keyed_from = max(1, head.keyed_from) if head is not None else 1
            rows = conn.execute(
                sa.select(audit_events)
                .order_by(audit_events.c.seq)
                .execution_options(yield_per=2000)
            )
            for r in rows:
                count += 1
                gap = r.seq != last_seq + 1
                if gap:
                    problems.add(last_seq + 1, MISSING, last_seq=r.seq - 1)
                fields = _row_fields(r)
                if r.seq >= keyed_from:
                    computed = _keyed_hash(self._key, r.prev_hash, fields)
                else:
                    computed = _plain_hash(r.prev_hash, fields)
                sealed = hmac.compare_digest(computed, r.hash)
                if not sealed:
                    problems.add(r.seq, EDITED)
                elif not (gap or last_bad) and r.prev_hash != last_hash:
                    # Sealed, so its prev_hash is what its predecessor's hash was.
                    plain_before = r.seq == keyed_from and keyed_from > 1
                    problems.add(r.seq, UNLINKED_PLAIN if plain_before else UNLINKED)
                for cp in trusted.get(r.seq, ()):
                    if cp.hash != r.hash:
                        problems.add(r.seq, f"differs from the checkpoint {_said(cp)}")
                if head is not None and r.seq > head.seq:
                    problems.add(r.seq, f"{AFTER_HEAD} (the head is at event {head.seq})")
                last_seq, last_hash, last_bad = r.seq, r.hash, not sealed
        for cp in trusted.get(0, ()):
            if cp.hash != GENESIS:
                problems.add(None, f"the checkpoint {_said(cp)} is not of an empty chain")
        # The newest events: the head and the checkpoints say how far the chain went.
        claims = [(head.seq, f"the head is at event {head.seq}")] if head is not None else []
        claims += [
            (seq, f"the checkpoint {_said(cps[0])} says event {seq} existed")
            for seq, cps in sorted(trusted.items())
        ]
        furthest, why = max(claims, key=lambda c: c[0], default=(0, ""))
        if furthest > last_seq:
            problems.add(last_seq + 1, f"missing: {why}", last_seq=furthest)
        if head is None:
            pass
        elif head.seq == last_seq and head.hash != last_hash:
            problems.add(None, f"its hash does not match event {last_seq}", where="head")
        if head is None:
            pass
        elif head.mac is None and head.seq >= keyed_from:
            problems.add(
                None, f"not signed, though events from {keyed_from} on are keyed", where="head"
            )
        elif not self._head_ok(head):
            problems.add(
                None,
                f"(event {head.seq}) does not match its MAC: rewritten without the chain key",
                where="head",
            )
        found = problems.sorted()
        first = next((p.seq for p in found if p.seq is not None), None)
        newest = max(
            (cp for cps in trusted.values() for cp in cps), key=lambda c: c.seq, default=None
        )
        return ChainReport(
            ok=not found,
            events=count,
            first_bad_seq=first,
            problem=found[0].text if found else "",
            problems=tuple(found),
            keyed_from=keyed_from,
            checkpoint=newest,
            checkpoints=sum(map(len, trusted.values())),
        )


@contextmanager
def _snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection that reads the head and the events as of one moment, so events
    appended while a long verify runs are neither "after the head" nor "missing"."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        elif conn.dialect.name == "sqlite":
            # pysqlite opens no transaction for a SELECT: each would see its own moment.
            conn.exec_driver_sql("BEGIN")
        yield conn


def _said(cp: Checkpoint) -> str:
    when = f" of {cp.at:%Y-%m-%d %H:%M} UTC" if cp.at else ""
    return f"at event {cp.seq}{when} ({cp.source or 'given'})"


class _Problems:
    """Problems in the order found; a run of events with the same problem is one line."""

    def __init__(self) -> None:
        self._items: list[Problem] = []
        self._run: dict[str, int] = {}  # text -> index of the last item with it

    def add(
        self, seq: int | None, text: str, *, last_seq: int | None = None, where: str = ""
    ) -> None:
        where = where or ("event" if seq is not None else "checkpoint")
        i = self._run.get(text)
        if seq is not None and i is not None:
            run = self._items[i]
            if run.where == "event" and (run.last_seq or run.seq or 0) + 1 == seq:
                self._items[i] = Problem(run.seq, text, last_seq or seq, where)
                return
        self._run[text] = len(self._items)
        self._items.append(Problem(seq, text, last_seq, where))

    def sorted(self) -> list[Problem]:
        order = {"event": 0, "head": 1, "checkpoint": 2}
        return sorted(self._items, key=lambda p: (order[p.where], p.seq or 0))
