"""Residual copies looked at again once their time is up (an AD tombstone after its
lifetime, MIM Service Requests after RetentionPeriod): gone, and the check and its object
reference are forgotten; still there, and the thread is told once and the look repeats
daily. The checks are queued by the runner when an erasure completes with residuals."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.lookup.calls import verify_call
from bot.workflow.events import ResidualChecked, ResidualOutcome
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.store import RequestStore
from connectors.base import Connector

__all__ = ["ResidualChecker"]


@dataclass
class ResidualChecker:
    store: RequestStore
    connectors: Mapping[str, Connector]
    notifier: AuditedNotifier
    timeout: float = 5.0

    def reverify_residuals(self, owner: str | None = None, limit: int = 100) -> list[str]:
        """Look again for each residual copy whose time is up (the design's "re-verified
        then"): gone, and the check and its object reference are forgotten; still there,
        and the thread is told once and the look repeats daily."""
        owner = owner or f"checker-{uuid.uuid4().hex[:8]}"  # leases are per checker
        residuals = self.store.residuals
        done = []
        for _ in range(limit):
            check = residuals.claim(owner, lease=timedelta(minutes=10))
            if check is None:
                break
            event = ResidualChecked(
                actor="system",
                request_id=check.request_id,
                system=check.system,
                attempt=check.attempts + 1,
                outcome=ResidualOutcome.GONE,
                at=self.store.clock(),
            )
            looked = verify_call(
                self.connectors,
                check.system,
                {check.kind: check.ref},
                what="residual check",
                timeout=self.timeout,
            )
            if looked.value is None:
                residuals.later(
                    check,
                    owner,
                    self._tomorrow(),
                    replace(event, outcome=ResidualOutcome.NOT_CHECKED),
                )
                continue
            request = self.store.get(check.request_id)
            if looked.value.absent and not looked.value.residuals:
                if residuals.done(check, owner, event):
                    self.notifier.event(request, event)
                    done.append(check.request_id)
                continue
            still = replace(event, outcome=ResidualOutcome.STILL_PRESENT)
            later = residuals.later(check, owner, self._tomorrow(), still)
            if later and check.attempts == 0:  # the first look that reached the system
                self.notifier.event(request, still)
        return done

    def _tomorrow(self) -> datetime:
        return self.store.clock() + timedelta(days=1)
