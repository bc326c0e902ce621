"""The durable inbox: a Slack command is written here by its ack, in one short
transaction, and answered from here. Slack never sends a command again once it got its
200, so a crash, an OOM kill or a host failure between the ack and the answer must not
lose it.

An answering thread claims an entry with a lease; another thread or process (a
replica, the `worker`, a restarted process) takes over an entry whose lease ran out, or
that nobody claimed in time. An answered entry is deleted: what Slack sent (the text, a
live `response_url`) is kept no longer than it is needed, and is never logged. The
trigger is recorded in the same transaction (`handled_triggers`), so a replayed or
doubly delivered request is dropped at the ack.

A table of our own rather than a queue library: the libraries that keep a lease work on
PostgreSQL or on SQLite, not both, and none writes the trigger in the same transaction.
"""

from __future__ import annotations

import contextlib
import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.commands.table import Verb
from bot.errors import AuditUnavailable
from bot.workflow.schema import inbox
from bot.workflow.store.base import utc

__all__ = ["RESPONSE_URL_LIFETIME", "Entry", "EntryKind", "Inbox", "New"]

# Slack: a response_url may be used up to five times within 30 minutes
# (https://api.slack.com/interactivity/handling#message_responses). An entry older than
# this, less the time an answer may take, is not answered but apologised for by DM.
RESPONSE_URL_LIFETIME = timedelta(minutes=30)


class EntryKind(enum.StrEnum):
    COMMAND = "command"  # a slash command or a button, as the command's text
    REJECT = "reject"  # the reject form: `target` the request or batch, `text` the note


@dataclass(frozen=True)
class New:
    """What an ack writes."""

    kind: EntryKind
    user_id: str
    text: str
    response_url: str | None
    trigger_id: str | None
    target: str | None = None


@dataclass(frozen=True)
class Entry:
    id: str
    kind: EntryKind
    user_id: str
    text: str
    target: str | None
    response_url: str | None
    received_at: datetime
    attempts: int  # claims so far, this one included
    holder: str | None = None  # whose lease it is: only that claim may renew it

    @property
    def verb(self) -> str:
        """The command's verb, if it is one: all a log line or an apology may name (a
        first word that is no verb may be a name)."""
        if self.kind is EntryKind.REJECT:
            return Verb.REJECT.value
        first = (self.text.split() or [""])[0].lower()
        return first if first in {v.value for v in Verb} else "command"


UNAVAILABLE = "The audit store is unavailable, so nothing was done. Try again shortly."


_INSERT_TRIGGER = "INSERT INTO handled_triggers (trigger_id, at) VALUES "
_INSERT_ENTRY = (
    "INSERT INTO inbox (id, kind, user_id, text, target, response_url, received_at, attempts)"
    " VALUES "
)


def _rows(insert: str, mark: str, rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """A multi-row INSERT: one placeholder per value (the values are bound, never text)."""
    one = "(" + ", ".join([mark] * len(rows[0])) + ")"
    return insert + ", ".join([one] * len(rows)), [v for row in rows for v in row]


class Inbox:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        clock: Callable[[], datetime] | None = None,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lease = lease

    def put_many(self, new: Sequence[New]) -> list[str | None]:
        """Several acks' entries in one transaction (one commit, one flush to disk), in
        order; None for each seen before. If one was seen before the others are
        written one by one, so a replay never costs another command its entry."""
        if not new:
            return []
        dbapi = self.engine.dialect.dbapi
        try:
            return self._insert(new)
        except (sa.exc.IntegrityError, dbapi.IntegrityError):
            if len(new) == 1:
                return [None]
        except (sa.exc.SQLAlchemyError, dbapi.Error) as exc:
            raise AuditUnavailable(UNAVAILABLE) from exc
        return [self.put_many([one])[0] for one in new]

    def _insert(self, new: Sequence[New]) -> list[str | None]:
        # On the driver's connection, not through SQLAlchemy's statement layer: this runs
        # before every ack, and the layer costs about as much CPU as the insert itself.
        dialect = self.engine.dialect
        to_db = inbox.c.received_at.type.bind_processor(dialect)  # SQLite stores text
        now: Any = to_db(self.clock()) if to_db else self.clock()
        ids: list[str | None] = [str(uuid.uuid4()) for _ in new]
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        triggers = [(n.trigger_id[:128], now) for n in new if n.trigger_id]
        entries = [
            (entry_id, n.kind.value, n.user_id[:32], n.text, n.target, n.response_url, now, 0)
            for entry_id, n in zip(ids, new, strict=True)
        ]
        conn = self.engine.raw_connection()
        # psycopg's pipeline sends the begin, both inserts and the commit at once: one
        # round trip, where each would have waited for its answer (and the interpreter).
        pipeline = getattr(conn.driver_connection, "pipeline", None)
        try:
            with pipeline() if pipeline else contextlib.nullcontext():
                cursor = conn.cursor()
                # One statement a table, all rows in it: one parse and one plan a group.
                if triggers:
                    cursor.execute(*_rows(_INSERT_TRIGGER, mark, triggers))
                cursor.execute(*_rows(_INSERT_ENTRY, mark, entries))
                conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()
        return ids

    def claim(self, entry_id: str, owner: str) -> Entry | None:
        """The entry, leased to `owner`; None when another holds it or it was answered."""
        now = self.clock()
        c = inbox.c
        token = _token(owner)
        with self.engine.begin() as conn:
            won = conn.execute(
                sa.update(inbox)
                .where(c.id == entry_id, sa.or_(c.lease_until.is_(None), c.lease_until < now))
                .values(lease_owner=token, lease_until=now + self.lease, attempts=c.attempts + 1)
            ).rowcount == 1  # fmt: skip
            row = conn.execute(sa.select(inbox).where(c.id == entry_id)).one() if won else None
        return _entry(row) if row is not None else None

    def take_owed(self, owner: str, *, limit: int, unclaimed: timedelta) -> list[Entry]:
        """Up to `limit` entries nobody is answering, oldest first, leased to `owner`:
        their lease ran out, or nobody claimed them within `unclaimed` of the ack.
        PostgreSQL skips the rows another taker has locked; SQLite has one writer at a
        time, and the update's condition is checked again either way."""
        if limit <= 0:
            return []
        now = self.clock()
        c = inbox.c
        stale = sa.or_(
            c.lease_until < now,
            sa.and_(c.lease_until.is_(None), c.received_at <= now - unclaimed),
        )
        token = _token(owner)
        # The update comes first, so SQLite takes its write lock at once (a read that
        # turned into a write would fail, not wait, when another wrote meanwhile).
        owed = (
            sa.select(c.id)
            .where(stale)
            .order_by(c.received_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(inbox)
                .where(c.id.in_(owed.scalar_subquery()), stale)
                .values(lease_owner=token, lease_until=now + self.lease, attempts=c.attempts + 1)
            )
            rows = conn.execute(sa.select(inbox).where(c.lease_owner == token)).all()
        return sorted((_entry(r) for r in rows), key=lambda e: e.received_at)

    def renew(self, entry: Entry) -> bool:
        """Extend the lease of an entry still being answered; False when the lease is no
        longer this claim's (it ran out and another took the entry, or it was answered)."""
        c = inbox.c
        with self.engine.begin() as conn:
            return conn.execute(
                sa.update(inbox)
                .where(c.id == entry.id, c.lease_owner == entry.holder)
                .values(lease_until=self.clock() + self.lease)
            ).rowcount == 1  # fmt: skip

    def arriving(self, *, burst: int, within: timedelta, at_most: timedelta) -> bool:
        """Whether a burst of acks is under way: `burst` entries or more arrived within
        `within`, and none has waited unclaimed longer than `at_most`. An answerer waits
        then, so a burst's acks (Slack allows 3 s) do not share the CPU with answers (30
        minutes); a steady trickle of commands is answered at once."""
        now = self.clock()
        c = inbox.c
        recent = sa.select(sa.func.count()).select_from(inbox).where(c.received_at > now - within)
        oldest = sa.select(sa.func.min(c.received_at)).where(c.lease_until.is_(None))
        with self.engine.connect() as conn:
            if conn.execute(recent).scalar_one() < burst:
                return False
            waited = utc(conn.execute(oldest).scalar_one())
        return waited is None or waited > now - at_most

    def done(self, entry_id: str) -> None:
        """Answered: forget what Slack sent."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(inbox).where(inbox.c.id == entry_id))

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(inbox)).scalar_one())


def _token(owner: str) -> str:
    """One claim's mark: the process, and which of its claims (a lease it lost and took
    again is a new claim)."""
    return f"{owner[:60]}:{uuid.uuid4().hex[:12]}"


def _entry(row: Any) -> Entry:
    received = utc(row.received_at)
    assert received is not None  # NOT NULL
    return Entry(
        id=row.id, kind=EntryKind(row.kind), user_id=row.user_id, text=row.text,
        target=row.target, response_url=row.response_url, received_at=received,
        attempts=row.attempts, holder=row.lease_owner,
    )  # fmt: skip
