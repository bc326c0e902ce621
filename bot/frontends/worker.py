"""The background loop: resume unfinished requests, expire stale approvals, re-check waits,
and look again for residual copies once they should be gone."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from bot.logs import log_failure
from bot.workflow.decisions import DecisionService
from bot.workflow.residual_checks import ResidualChecker
from bot.workflow.runner import Runner

__all__ = ["Worker"]

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        runner: Runner,
        decisions: DecisionService,
        residuals: ResidualChecker,
        *,
        every: float,
        chores: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.runner, self.decisions, self.residuals = runner, decisions, residuals
        self.every = every
        self.chores = tuple(chores)  # housekeeping (old Slack triggers, checkpoints)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mimbot-worker", daemon=True)

    def start(self) -> Worker:
        self._thread.start()
        return self

    def tick(self) -> None:
        self.decisions.expire_stale()
        self.runner.resume_all()
        self.residuals.reverify_residuals(owner=self.runner.owner)
        for chore in self.chores:
            chore()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive one bad tick
                log_failure(log, "worker tick failed", exc)
            self._stop.wait(self.every)
