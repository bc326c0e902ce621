"""`doctor`: a read-only check of a live estate, run by an IAM engineer on day one, before
any Slack user touches it. Each configured connector checks the assumptions it makes about
its system (connectors/doctor.py, `SelfChecks`); one that cannot is asked its health. All
of them at once, each within the same deadline: a hung system is reported, never waited
for. Nothing is written anywhere, and no person's data is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.lookup.calls import Call, Outcome, start
from bot.ops.telemetry import telemetry_servers
from connectors.base import Connector
from connectors.capabilities import MimServerTelemetry, self_checks
from connectors.doctor import Check, Verdict, cannot_tell, ok
from connectors.telemetry import ceip_checks

__all__ = ["TIMEOUT", "DoctorReport", "SystemChecks", "examine"]

# Seconds for all of a connector's checks: several calls each, a new powershell.exe per
# WinRM call (which alone can take seconds), all connectors at once.
TIMEOUT = 60.0

# Worst first: the report's verdict is its worst check's.
_SEVERITY = {Verdict.OK: 0, Verdict.CANNOT_TELL: 1, Verdict.WRONG: 2}


@dataclass(frozen=True)
class SystemChecks:
    system: str
    label: str
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> Verdict:
        return _worst(c.verdict for c in self.checks)


@dataclass(frozen=True)
class DoctorReport:
    systems: tuple[SystemChecks, ...]

    @property
    def verdict(self) -> Verdict:
        return _worst(s.verdict for s in self.systems)

    def count(self, verdict: Verdict) -> int:
        return sum(c.verdict is verdict for s in self.systems for c in s.checks)

    @property
    def exit_code(self) -> int:
        """0 every check ok; 1 something is wrong; 3 nothing wrong, something not told."""
        return {Verdict.OK: 0, Verdict.WRONG: 1, Verdict.CANNOT_TELL: 3}[self.verdict]


def examine(connectors: Sequence[Connector], *, timeout: float) -> DoctorReport:
    """Every connector's checks, in the configured order, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    # Not `with`: leaving it would wait for a hung check; its thread ends with its socket.
    pool = ThreadPoolExecutor(max_workers=max(1, len(connectors)), thread_name_prefix="doctor")
    try:
        pending = [
            (
                c.name,
                c.label,
                start(c, lambda c=c: _checks_of(c, timeout), what="doctor", pool=pool),
            )
            for c in connectors
        ]
        # Each MIM server's CEIP settings once, however many connectors reach it.
        for endpoint, mim, reaching in telemetry_servers(connectors):
            host = urlsplit(endpoint).hostname or endpoint
            label = f"CEIP telemetry on {host} ({', '.join(c.label for c in reaching)})"
            ask = start(reaching[0], lambda m=mim: _ceip(m, timeout), what="doctor", pool=pool)
            pending.append(("telemetry", label, ask))
        systems = [_system(name, label, p.wait(deadline), timeout) for name, label, p in pending]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return DoctorReport(tuple(systems))


def _bound(connector: Connector, timeout: float) -> Callable[[], list[Check]]:
    return lambda: _checks_of(connector, timeout)


def _checks_of(connector: Connector, timeout: float) -> list[Check]:
    checker = self_checks(connector)
    if checker is not None:
        return list(checker.doctor(timeout=timeout))
    health = connector.health(timeout=timeout)
    name = "answers (it checks nothing more)"
    if health.ok:
        return [ok(name, health.detail)]
    return [
        cannot_tell(
            name,
            health.detail,
            "see python -m bot check, and the connector's section of the README",
        )
    ]


def _ceip(mim: MimServerTelemetry, timeout: float) -> list[Check]:
    """What /mim telemetry relies on: one read-only read of the server's CEIP values."""
    return ceip_checks(mim.read_ceip(timeout=timeout))


def _system(name: str, label: str, call: Call[list[Check]], timeout: float) -> SystemChecks:
    if call.outcome is Outcome.FOUND and call.value:
        checks = tuple(call.value)
    elif call.outcome is Outcome.FOUND:
        checks = (
            cannot_tell("its checks", "the connector returned no check", "report this as a bug"),
        )
    else:
        reason = (
            f"no answer within {timeout:g} s" if call.outcome is Outcome.TIMED_OUT else call.reason
        )
        checks = (
            cannot_tell(
                "its checks ran",
                reason,
                "see python -m bot check for whether the system answers at all",
            ),
        )
    return SystemChecks(name, label, checks)


def _worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=_SEVERITY.__getitem__, default=Verdict.OK)
