"""The worker's scheduled sweeps (`retention.schedule`, a cron expression in UTC): at each
slot the rules run and their people become one batch request, as `/mim sweep` makes one.
Each slot runs once across replicas (its row in `sweep_runs` is the claim); a slot that
passed while no worker ran is not made up for at start (a sweep nobody expected)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from croniter import croniter

from bot.workflow.batch.model import Batch
from bot.workflow.schema import sweep_runs

__all__ = ["ScheduledSweep"]

log = logging.getLogger(__name__)


class ScheduledSweep:
    def __init__(
        self,
        engine: sa.Engine,
        cron: str,
        sweep: Callable[[], Batch | None],
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine, self.cron, self.sweep, self.clock = engine, cron, sweep, clock
        self.started = clock()

    def tick(self) -> Batch | None:
        """Run the slot that last came, once, if it came since this worker started."""
        now = self.clock()
        slot = croniter(self.cron, now.astimezone(UTC)).get_prev(datetime)
        if slot < self.started:
            return None
        key = slot.astimezone(UTC).isoformat(timespec="minutes")
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(sweep_runs).values(slot=key, at=now))
        except sa.exc.IntegrityError:
            return None  # another replica (or an earlier tick) ran it
        batch = self.sweep()
        if batch is not None:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(sweep_runs).where(sweep_runs.c.slot == key).values(batch_id=batch.id)
                )
        log.info("scheduled sweep %s: %s", key, batch.id if batch else "nobody due")
        return batch
