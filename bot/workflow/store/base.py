"""What every part of the request store shares: the engine, the clock, the audit log,
and the one compare-and-set-and-log step every change goes through."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.audit import AuditLog
from bot.workflow.events import Event, audit_entry
from bot.workflow.requests import TERMINAL, Status
from bot.workflow.schema import request_person_keys, request_steps, requests

__all__ = ["Clock", "StoreContext", "utc"]

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class StoreContext:
    """The engine, clock and audit log the store's parts share."""

    engine: sa.Engine
    clock: Clock = field(default=_now)
    audit: AuditLog | None = None

    def cas(
        self, conn: sa.Connection, statement: sa.Executable, event: Event | None, request_id: str
    ) -> bool:
        """Run a compare-and-set `statement`; when it changed exactly one row, append
        `event` to the audit chain in the same transaction. True when this caller won."""
        won = conn.execute(statement).rowcount == 1  # type: ignore[attr-defined]
        if won and event is not None:
            self.log(conn, event, request_id)
        return won

    def cas_alone(self, statement: sa.Executable, event: Event | None, request_id: str) -> bool:
        """`cas` in a transaction of its own."""
        with self.engine.begin() as conn:
            return self.cas(conn, statement, event, request_id)

    def move(
        self,
        conn: sa.Connection,
        request_id: str,
        from_: Iterable[Status],
        to: Status,
        event: Event | None = None,
        **values: Any,
    ) -> bool:
        """Move the request's status if it is one of `from_` (and log `event`). Entering an
        end state scrubs the request down to its subject keys: display fields, reason, and
        the steps' plans, whose object references would lead back to residual copies."""
        ends = to in TERMINAL
        statement = (
            sa.update(requests)
            .where(requests.c.id == request_id, requests.c.status.in_([s.value for s in from_]))
            .values(
                status=to.value,
                version=requests.c.version + 1,
                updated_at=self.clock(),
                **({"subject": None, "reason": None, "open_key": None} if ends else {}),
                **values,
            )
        )
        moved = self.cas(conn, statement, event, request_id)
        if moved and ends:
            # Its person may be asked about again: the keys are released with the request.
            conn.execute(
                sa.delete(request_person_keys).where(request_person_keys.c.request_id == request_id)
            )
            conn.execute(
                sa.update(request_steps)
                .where(request_steps.c.request_id == request_id)
                .values(plan=None)
            )
        return moved

    def log(self, conn: sa.Connection, event: Event, request_id: str) -> None:
        """Append `event` in `conn`'s transaction, keyed by the request's first subject key
        (call it last: it locks the chain's head until commit)."""
        if self.audit is None:
            raise RuntimeError("this RequestStore was built without an audit log")
        keys = conn.execute(
            sa.select(requests.c.subject_keys).where(requests.c.id == request_id)
        ).scalar_one_or_none()
        entry = audit_entry(event, next(iter(keys or ()), None))
        self.audit.append(conn, replace(entry, request_id=entry.request_id or request_id))


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
