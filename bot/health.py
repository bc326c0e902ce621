"""Readiness: can the bot act now? The audit store and each connector, under a deadline."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from bot.calls import start
from connectors.base import Connector

__all__ = ["Readiness"]


class Readiness:
    """`readiness()` → {"audit_store": ok, "<connector>": ok, ...}, in at most `timeout`."""

    def __init__(self, engine: sa.Engine, connectors: Sequence[Connector], timeout: float) -> None:
        self.engine = engine
        self.connectors = list(connectors)
        self.timeout = timeout
        # Its own threads: a probe stuck on a frozen system must not hold anyone else's.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")

    def __call__(self) -> dict[str, bool]:
        deadline = time.monotonic() + self.timeout
        store = self._pool.submit(self._store)
        probes = [
            start(c, lambda c=c: c.health(timeout=self.timeout), what="health", pool=self._pool)
            for c in self.connectors
        ]
        out: dict[str, bool] = {}
        try:
            out["audit_store"] = store.result(timeout=max(0.0, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - any failure or no answer in time: not ready
            out["audit_store"] = False
        for probe in probes:
            answer = probe.wait(deadline)
            out[answer.system] = bool(answer.value and answer.value.ok)
        return out

    def _store(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT 1")).scalar() == 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
