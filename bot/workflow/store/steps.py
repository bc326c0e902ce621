"""Step leases: a step is claimed before it runs and recorded when it ends, so replicas
share the work, a dead runner's step is taken over once its lease runs out, and a done
step is never claimed again. Only the lease holder may record a step's end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from bot.workflow.events import StepDone, StepFailed, StepStarted, StepWaiting
from bot.workflow.requests import Status, StepState
from bot.workflow.schema import request_steps
from bot.workflow.store.base import StoreContext
from connectors.base import PlanAction

__all__ = ["StepLeases"]

_steps = request_steps.c


class StepLeases:
    def __init__(self, ctx: StoreContext) -> None:
        self.ctx = ctx

    def claim(
        self,
        request_id: str,
        seq: int,
        owner: str,
        lease: timedelta,
        event: StepStarted | None = None,
    ) -> bool:
        """Take a pending or waiting step, or a running one whose lease ran out (its runner
        died). `started_at` keeps the first claim: a wait's limit counts from there."""
        now = self.ctx.clock()
        claimable = sa.or_(
            _steps.state.in_([StepState.PENDING.value, StepState.WAITING.value]),
            sa.and_(_steps.state == StepState.RUNNING.value, _steps.lease_until < now),
        )
        return self._set(
            request_id,
            seq,
            event,
            claimable,
            state=StepState.RUNNING.value,
            lease_owner=owner,
            lease_until=now + lease,
            attempts=_steps.attempts + 1,
            error=None,
            started_at=sa.func.coalesce(_steps.started_at, now),
        )

    def renew(self, request_id: str, seq: int, owner: str, lease: timedelta) -> bool:
        return self._set(
            request_id, seq, None, *_held_by(owner), lease_until=self.ctx.clock() + lease
        )

    def done(self, request_id: str, seq: int, owner: str, detail: str, event: StepDone) -> bool:
        """The lease holder's step ended well."""
        return self._end(request_id, seq, owner, StepState.DONE, event, detail=detail)

    def wait(
        self, request_id: str, seq: int, owner: str, detail: str, event: StepWaiting | None
    ) -> bool:
        """The step ran and now waits on another system (`detail` says for what)."""
        return self._end(request_id, seq, owner, StepState.WAITING, event, detail=detail)

    def release(self, request_id: str, seq: int, owner: str, *, announced: bool) -> bool:
        """Give a manual step back, marked announced when its Done button was posted."""
        now = self.ctx.clock()
        return self._set(
            request_id,
            seq,
            None,
            *_held_by(owner),
            state=StepState.PENDING.value,
            lease_until=None,
            **({"announced_at": now} if announced else {}),
        )

    def fail(self, request_id: str, seq: int, owner: str, event: StepFailed) -> bool:
        """The lease holder's step failed: the step and its request fail together."""
        with self.ctx.engine.begin() as conn:
            failed = self.ctx.cas(
                conn,
                _update(request_id, seq, *_held_by(owner)).values(
                    state=StepState.FAILED.value,
                    error=event.error,
                    finished_at=self.ctx.clock(),
                    lease_until=None,
                ),
                None,
                request_id,
            )
            if failed:
                self.ctx.move(conn, request_id, {Status.RUNNING}, Status.FAILED)
                self.ctx.log(conn, event, request_id)
            return failed

    def complete_manual(self, request_id: str, seq: int, event: StepDone) -> bool:
        """A person marked a manual step done (their word: attested, not checked)."""
        now = self.ctx.clock()
        return self._set(
            request_id,
            seq,
            event,
            _steps.action == PlanAction.MANUAL.value,
            _steps.state == StepState.PENDING.value,
            state=StepState.DONE.value,
            done_by=event.actor,
            attempts=1,
            started_at=now,
            finished_at=now,
        )

    def _end(
        self, request_id: str, seq: int, owner: str, state: StepState, event: Any, **values: Any
    ) -> bool:
        return self._set(
            request_id,
            seq,
            event,
            *_held_by(owner),
            state=state.value,
            finished_at=self.ctx.clock(),
            lease_until=None,
            **values,
        )

    def _set(self, request_id: str, seq: int, event: Any, *where: Any, **values: Any) -> bool:
        return self.ctx.cas_alone(
            _update(request_id, seq, *where).values(**values), event, request_id
        )


def _update(request_id: str, seq: int, *where: Any) -> sa.Update:
    return sa.update(request_steps).where(
        _steps.request_id == request_id, _steps.seq == seq, *where
    )


def _held_by(owner: str) -> tuple[Any, ...]:
    return (_steps.lease_owner == owner, _steps.state == StepState.RUNNING.value)
