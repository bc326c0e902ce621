"""Each Slack request is handled once: a replayed signed request, or a double delivery,
carries the same `trigger_id` and is dropped (across replicas: a row per trigger)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.errors import AuditUnavailable
from bot.workflow.schema import handled_triggers

__all__ = ["Once"]

log = logging.getLogger(__name__)

# Slack refuses a signature older than 5 minutes: a replay after that is refused anyway.
KEEP = timedelta(hours=1)


class Once:
    """`once(body)` is True the first time a Slack request body is seen, False after;
    AuditUnavailable when the store cannot tell."""

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def __call__(self, body: Mapping[str, Any]) -> bool:
        trigger = body.get("trigger_id")
        if not isinstance(trigger, str) or not trigger:
            return True  # nothing to recognise it by (Socket Mode retries carry their own)
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(handled_triggers).values(trigger_id=trigger[:128],
                                                                at=self.clock()))  # fmt: skip
        except sa.exc.IntegrityError:
            log.info("a repeated Slack request was dropped")
            return False
        except sa.exc.SQLAlchemyError as exc:
            # The store is down: the command would be refused at its audit write anyway;
            # refuse now rather than wait for the store a second time.
            log.error("could not record a Slack request as handled (%s)", type(exc).__name__)
            raise AuditUnavailable("The audit store is unavailable, so nothing was done.") from exc
        return True

    def forget_old(self) -> int:
        """Drop the triggers older than a replay could be; the worker calls it."""
        with self.engine.begin() as conn:
            return conn.execute(
                sa.delete(handled_triggers).where(handled_triggers.c.at < self.clock() - KEEP)
            ).rowcount
