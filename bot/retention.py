"""`/mim retention`: the MIM Service's RetentionPeriod, and when each erasure's MIM Service
residual copies (the Requests that targeted the person, their SSPR data) go.

The MIM Service keeps a deleted Person's Requests until its retention job removes those
older than `RetentionPeriod` days (SystemResourceRetentionConfiguration; 30 days when there
is none). So an erasure's MIM Service residuals go about that many days after its MIM
Service step ran. The answer names request ids and dates only: no subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.calls import Call, call
from bot.requests import OPEN, Request, Status, StepState
from bot.store import RequestStore
from connectors.base import Connector

__all__ = ["MIMSERVICE", "RequestRetention", "RetentionAnswer", "RetentionPeriod", "retention"]

MIMSERVICE = "mimservice"  # the MIM Service connector's name in `connectors:`
COMPLETED = frozenset({Status.COMPLETED, Status.COMPLETED_WITH_RESIDUALS})
_MANY = 500  # requests looked at per group: open ones are few, completed ones recent


@dataclass(frozen=True)
class RetentionPeriod:
    days: int
    configured: bool  # False: no SystemResourceRetentionConfiguration, the default applies


@dataclass(frozen=True)
class RequestRetention:
    """One erasure and when its MIM Service residuals go: `goes_at` once its MIM Service
    step has run, else None (about `days` days after it runs)."""

    request_id: str
    status: Status
    goes_at: datetime | None


@dataclass(frozen=True)
class RetentionAnswer:
    label: str | None  # the MIM Service connector's label; None: none configured
    period: Call[RetentionPeriod] | None  # None: none configured
    open: tuple[RequestRetention, ...] = ()
    completed: tuple[RequestRetention, ...] = ()

    @property
    def configured(self) -> bool:
        return self.period is not None


def retention(
    connectors: Sequence[Connector], store: RequestStore, *, timeout: float
) -> RetentionAnswer:
    """The RetentionPeriod (through `call`, under `timeout`) and the erasures it concerns.
    Reads no personal data: request ids, statuses and dates only."""
    connector = next((c for c in connectors if c.name == MIMSERVICE), None)
    if connector is None:
        return RetentionAnswer(label=None, period=None)
    period = call(
        connector,
        lambda: _read_period(connector, timeout=timeout),
        what="retention",
        timeout=timeout,
    )
    days = period.value.days if period.ok and period.value else None
    open_ = [_of(r, days) for r in _requests(store, OPEN) if _mimservice_step(r)]
    completed = [
        _of(r, days)
        for r in _requests(store, COMPLETED)
        if _mimservice_step(r) and _residuals_listed(store, r)
    ]
    return RetentionAnswer(
        connector.label,
        period,
        tuple(sorted(open_, key=lambda r: r.request_id)),
        tuple(sorted(completed, key=lambda r: r.request_id)),
    )


def _read_period(connector: Any, *, timeout: float) -> RetentionPeriod:
    days, configured = connector.retention_period(timeout=timeout)
    return RetentionPeriod(days, configured=configured)


def _requests(store: RequestStore, statuses: frozenset[Status]) -> list[Request]:
    return store.many(store.ids(statuses=statuses, limit=_MANY))


def _mimservice_step(request: Request) -> bool:
    return any(s.system == MIMSERVICE and not s.manual for s in request.steps)


def _residuals_listed(store: RequestStore, request: Request) -> bool:
    """A completed erasure still lists MIM Service residual copies: a re-check of the MIM
    Service is queued, or the MIM Service could not be asked at verification (its plan's
    residuals then stand in the report)."""
    if any(c.system == MIMSERVICE for c in store.residuals.of(request.id)):
        return True
    report = request.report
    check = report.systems.get(MIMSERVICE) if report else None
    return bool(report and report.residuals and check is not None and check.absent is None)


def _of(request: Request, days: int | None) -> RequestRetention:
    ran = [
        s.finished_at
        for s in request.steps
        if s.system == MIMSERVICE and s.state is StepState.DONE and s.finished_at
    ]
    goes = max(ran) + timedelta(days=days) if ran and days is not None else None
    return RequestRetention(request.id, request.status, goes)
