"""Holds (GDPR Art. 17(3)): people who must not be erased while a legal claim or a legal
obligation stands. A hold names the person by the keys that name them alone (the keyed
hashes of bot/workflow/subject_keys.py, never the values), so it stops an erasure found
by any of their identifiers. `/mim hold` and `/mim unhold` (approvers) place and lift
them; an erasure is refused while one stands, and a running one stops before its first
step; a retention sweep leaves the person out and says why."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from bot.workflow.schema import holds

__all__ = ["Hold", "HoldStore"]


@dataclass(frozen=True)
class Hold:
    hold_id: str
    reason: str
    placed_by: str
    placed_at: datetime

    @property
    def when(self) -> str:
        return f"{self.placed_at:%Y-%m-%d}"


class HoldStore:
    def __init__(self, engine: sa.Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def place(self, keys: Sequence[str], *, reason: str, placed_by: str) -> Hold:
        """Hold the person these keys name; a key already held keeps its hold (the first
        reason stands). Returns the hold that now covers the person."""
        if not keys:
            raise ValueError("a hold needs at least one key that names the person")
        existing = self.held(keys)
        hold = existing or Hold(uuid.uuid4().hex, reason, placed_by, self.clock())
        with self.engine.begin() as conn:
            taken = {
                r.key for r in conn.execute(sa.select(holds.c.key).where(holds.c.key.in_(keys)))
            }
            rows = [
                {"key": k, "hold_id": hold.hold_id, "reason": hold.reason,
                 "placed_by": hold.placed_by, "placed_at": hold.placed_at}
                for k in dict.fromkeys(keys) if k not in taken
            ]  # fmt: skip
            if rows:
                conn.execute(sa.insert(holds), rows)
        return hold

    def lift(self, keys: Sequence[str]) -> list[Hold]:
        """Lift every hold that covers any of these keys (all their keys); what was lifted."""
        with self.engine.begin() as conn:
            found = self._holds(conn, keys)
            if found:
                ids = [h.hold_id for h in found]
                conn.execute(sa.delete(holds).where(holds.c.hold_id.in_(ids)))
        return found

    def held(self, keys: Sequence[str]) -> Hold | None:
        """The hold covering any of these keys (the oldest), or None."""
        if not keys:
            return None
        with self.engine.connect() as conn:
            found = self._holds(conn, keys)
        return found[0] if found else None

    def held_keys(self) -> frozenset[str]:
        """Every key on hold (a sweep checks its candidates against them)."""
        with self.engine.connect() as conn:
            return frozenset(r.key for r in conn.execute(sa.select(holds.c.key)))

    def _holds(self, conn: sa.Connection, keys: Sequence[str]) -> list[Hold]:
        rows = conn.execute(
            sa.select(holds.c.hold_id, holds.c.reason, holds.c.placed_by, holds.c.placed_at)
            .where(holds.c.key.in_(list(keys)))
            .distinct()
            .order_by(holds.c.placed_at, holds.c.hold_id)
        ).all()
        return [Hold(r.hold_id, r.reason, r.placed_by, _aware(r.placed_at)) for r in rows]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
