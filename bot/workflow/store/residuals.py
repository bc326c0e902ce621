"""The residual-check queue: after a residual copy (an AD tombstone) should be gone, one
checker at a time looks for the object again by its reference alone, and the row, with
that reference, is deleted once the object is verified gone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.workflow.events import ResidualChecked, ResidualOutcome
from bot.workflow.requests import ResidualCheck
from bot.workflow.schema import residual_checks
from bot.workflow.store.base import StoreContext
from bot.workflow.store.rows import check_of

__all__ = ["ResidualChecks"]

_rc = residual_checks.c


class ResidualChecks:
    def __init__(self, ctx: StoreContext) -> None:
        self.ctx = ctx

    def claim(self, owner: str, lease: timedelta) -> ResidualCheck | None:
        """The most overdue check no one holds, leased to `owner`; None when none is due.
        One at a time: a lease must not run out while a batch waits on a slow DC."""
        for _ in range(10):  # SQLite: another checker may win the row between read and claim
            now = self.ctx.clock()
            free = sa.and_(
                _rc.due_at <= now, sa.or_(_rc.lease_until.is_(None), _rc.lease_until < now)
            )
            with self.ctx.engine.begin() as conn:
                # PostgreSQL: a row another checker is claiming is skipped, not waited for.
                row = conn.execute(
                    sa.select(residual_checks)
                    .where(free)
                    .order_by(_rc.due_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                ).first()
                if row is None:
                    return None
                claimed = sa.update(residual_checks).where(_same(row), free)
                if self.ctx.cas(
                    conn,
                    claimed.values(lease_owner=owner, lease_until=now + lease),
                    None,
                    row.request_id,
                ):
                    return check_of(row)
        return None

    def done(self, check: ResidualCheck, owner: str, event: ResidualChecked) -> bool:
        """The copy is gone: forget the check, and with it the object's reference."""
        statement = sa.delete(residual_checks).where(_same(check), _rc.lease_owner == owner)
        return self.ctx.cas_alone(statement, event, check.request_id)

    def later(
        self, check: ResidualCheck, owner: str, due_at: datetime, event: ResidualChecked
    ) -> bool:
        """Look again at `due_at`; an attempt that reached the system counts."""
        looked = event.outcome is not ResidualOutcome.NOT_CHECKED
        statement = (
            sa.update(residual_checks)
            .where(_same(check), _rc.lease_owner == owner)
            .values(
                due_at=due_at,
                attempts=_rc.attempts + int(looked),
                lease_owner=None,
                lease_until=None,
            )
        )
        return self.ctx.cas_alone(statement, event, check.request_id)

    def of(self, request_id: str) -> list[ResidualCheck]:
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                sa.select(residual_checks).where(_rc.request_id == request_id)
            ).all()
        return [check_of(r) for r in rows]


def _same(c: Any) -> Any:
    return sa.and_(_rc.request_id == c.request_id, _rc.system == c.system, _rc.ref == c.ref)
