"""The deadline clock's memory: which reminder each request has had, and which days' digest
went out. Inserting the row is the claim, so a reminder goes out once whichever replica
or restart gets there first, and its audit event commits with it."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from bot.workflow.events import Reminded
from bot.workflow.schema import daily_digests, request_reminders
from bot.workflow.store.base import StoreContext

__all__ = ["Reminders"]


class Reminders:
    def __init__(self, ctx: StoreContext) -> None:
        self.ctx = ctx

    def claim(self, request_id: str, kind: str, event: Reminded | None) -> bool:
        """True when this caller is the first to send `kind` for the request (`event`,
        when given, is audited with the claim; None records a reminder passed over)."""
        try:
            with self.ctx.engine.begin() as conn:
                conn.execute(
                    sa.insert(request_reminders).values(
                        request_id=request_id, kind=kind, at=self.ctx.clock()
                    )
                )
                if event is not None:
                    self.ctx.log(conn, event, request_id)
        except sa.exc.IntegrityError:
            return False
        return True

    def release(self, request_id: str, kind: str) -> None:
        """Undo a claim whose message did not go out (its audit event stays: it was tried)."""
        with self.ctx.engine.begin() as conn:
            conn.execute(
                sa.delete(request_reminders).where(
                    request_reminders.c.request_id == request_id,
                    request_reminders.c.kind == kind,
                )
            )

    def sent(self, request_id: str) -> set[str]:
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                sa.select(request_reminders.c.kind).where(
                    request_reminders.c.request_id == request_id
                )
            )
            return set(rows.scalars())

    def claim_digest(self, day: date) -> bool:
        """True for the first caller on `day` (UTC)."""
        try:
            with self.ctx.engine.begin() as conn:
                conn.execute(
                    sa.insert(daily_digests).values(day=day.isoformat(), at=self.ctx.clock())
                )
        except sa.exc.IntegrityError:
            return False
        return True
