"""`/mim retention`: the MIM Service's RetentionPeriod, and when each erasure's MIM Service
residual copies (the Requests that targeted the person, their SSPR data) go.

The MIM Service keeps a deleted Person's Requests until its retention job removes those
older than `RetentionPeriod` days (SystemResourceRetentionConfiguration; unknown when the
bot's account cannot read it, which is what not seeing it means). So an erasure's MIM
Service residuals go about that many days after its MIM Service step ran. The answer
names request ids and dates only: no subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.lookup.calls import Call, call
from bot.workflow.requests import OPEN, Request, Status, StepState
from bot.workflow.store import RequestStore
from connectors.base import Connector
from connectors.capabilities import RetentionPeriod, reports_retention

__all__ = ["RequestRetention", "RetentionAnswer", "RetentionPeriod", "retention"]

COMPLETED = frozenset({Status.COMPLETED, Status.COMPLETED_WITH_RESIDUALS})
_MANY = 500  # requests looked at per group: open ones are few, completed ones recent


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
    """The RetentionPeriod of the first connector that reports one (the MIM Service;
    through `call`, under `timeout`) and the erasures with a step in that system. Reads no
    personal data: request ids, statuses and dates only."""
    found = next(((c, r) for c in connectors if (r := reports_retention(c)) is not None), None)
    if found is None:
        return RetentionAnswer(label=None, period=None)
    connector, reporter = found
    period = call(
        connector,
        lambda: reporter.retention_period(timeout=timeout),
        what="retention",
        timeout=timeout,
    )
    days = period.value.days if period.ok and period.value else None
    system = connector.name
    open_ = [_of(r, system, days) for r in _requests(store, OPEN) if _has_step(r, system)]
    completed = [
        _of(r, system, days)
        for r in _requests(store, COMPLETED)
        if _has_step(r, system) and _residuals_listed(store, r, system)
    ]
    return RetentionAnswer(
        connector.label,
        period,
        tuple(sorted(open_, key=lambda r: r.request_id)),
        tuple(sorted(completed, key=lambda r: r.request_id)),
    )


def _requests(store: RequestStore, statuses: frozenset[Status]) -> list[Request]:
    return store.many(store.ids(statuses=statuses, limit=_MANY))


def _has_step(request: Request, system: str) -> bool:
    return any(s.system == system and not s.manual for s in request.steps)


def _residuals_listed(store: RequestStore, request: Request, system: str) -> bool:
    """A completed erasure still lists `system`'s residual copies: a re-check of it is
    queued, or it could not be asked at verification (its plan's residuals then stand in
    the report)."""
    if any(c.system == system for c in store.residuals.of(request.id)):
        return True
    report = request.report
    check = report.systems.get(system) if report else None
    return bool(report and report.residuals and check is not None and check.absent is None)


def _of(request: Request, system: str, days: int | None) -> RequestRetention:
    ran = [
        s.finished_at
        for s in request.steps
        if s.system == system and s.state is StepState.DONE and s.finished_at
    ]
    goes = max(ran) + timedelta(days=days) if ran and days is not None else None
    return RequestRetention(request.id, request.status, goes)
