"""Request ids: `REQ-<year>-<nnnn>`, one counter row a year, never handed out twice."""

from __future__ import annotations

import sqlalchemy as sa

from bot.workflow.schema import request_counters

__all__ = ["RequestIds"]


class RequestIds:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._years: set[int] = set()  # years whose counter row exists

    def next(self, conn: sa.Connection, year: int) -> str:
        """The next id of `year`, taken in `conn`'s transaction (after `ensure(year)`)."""
        # Compare-and-set on the year's counter: two creators never get the same id.
        for _ in range(100):
            last = conn.execute(
                sa.select(request_counters.c.last).where(request_counters.c.year == year)
            ).scalar_one()
            moved = conn.execute(
                sa.update(request_counters)
                .where(request_counters.c.year == year, request_counters.c.last == last)
                .values(last=last + 1)
            ).rowcount
            if moved == 1:
                return f"REQ-{year}-{last + 1:04d}"
        raise RuntimeError("could not allocate a request id")

    def ensure(self, year: int) -> None:
        """Create the year's counter row, in a transaction of its own: call it before the
        transaction that takes an id (a lost race on the first insert is harmless)."""
        if year in self._years:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(request_counters).values(year=year, last=0))
        except sa.exc.IntegrityError:
            pass
        self._years.add(year)
