"""Readiness: can the bot act now? The audit store and each connector, probed in the
background: `/readyz` answers from the last probe at once, so that a hung system cannot
hold the server's threads (they ack Slack's commands) or be hammered by health checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from bot.lookup.calls import start
from connectors.base import Connector

__all__ = ["Readiness"]


class Readiness:
    """`readiness()` → {"audit_store": ok, "<connector>": ok, ...} from the last probe (one
    runs every `every` seconds, from the first call on; each takes at most `timeout`)."""

    def __init__(
        self,
        engine: sa.Engine,
        connectors: Sequence[Connector],
        timeout: float,
        *,
        every: float = 5.0,
    ) -> None:
        self.engine = engine
        self.connectors = list(connectors)
        self.timeout = timeout
        self.every = every
        # Its own threads: a probe stuck on a frozen system must not hold anyone else's.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
        self._last: dict[str, bool] = {"probed": False}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self) -> dict[str, bool]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True, name="readyz")
                self._thread.start()
            return dict(self._last)

    def wait_probed(self, timeout: float) -> bool:
        """For tests and start-up: wait until the first probe has answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if "probed" not in self._last:
                    return True
            time.sleep(0.02)
        return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            result = self.probe()
            with self._lock:
                self._last = result
            self._stop.wait(self.every)

    def probe(self) -> dict[str, bool]:
        """Ask the store and every connector now, all within `timeout`."""
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
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
