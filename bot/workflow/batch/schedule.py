"""The worker's scheduled sweeps (`retention.schedule`, a cron expression in UTC): at each
slot the rules run and their people become one batch request, as `/mim sweep` makes one.
Each slot runs once across replicas (its row in `sweep_runs` is the claim); a slot that
passed while no worker ran is not made up for at start (a sweep nobody expected); a slot
whose sweep fails (holds that cannot be read) is audited as a failed `retention_sweep`
and waits for the next slot (or a `/mim sweep`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from croniter import croniter

from bot.logs import log_failure
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
        failed: Callable[[Exception], object] = lambda exc: None,
    ) -> None:
        self.engine, self.cron, self.sweep, self.clock = engine, cron, sweep, clock
        self.failed = failed  # audits a slot whose sweep could not run
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
        try:
            batch = self.sweep()
        except Exception as exc:  # noqa: BLE001 - the slot is spent; say so, and how
            # Not run again at every tick until the next slot (holds unreadable for an
            # hour would be an error a few seconds): audited as failed, and logged.
            log_failure(log, "scheduled sweep %s could not run", exc, key)
            self.failed(exc)
            return None
        if batch is not None:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(sweep_runs).where(sweep_runs.c.slot == key).values(batch_id=batch.id)
                )
        log.info("scheduled sweep %s: %s", key, batch.id if batch else "nobody due")
        return batch
