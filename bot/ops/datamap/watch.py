"""The weekly watch (`datamap.watch`): the worker takes the map every `watch_days` and, when
it differs from the last one taken, posts what changed to the notifications channel. The
first one taken is the baseline: nothing is posted. One replica takes each (the day's
row is the claim)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from bot.audit import AuditLog
from bot.audit.records import AuditOutcome
from bot.logs import log_failure
from bot.ops.datamap.diff import MapChange, changes
from bot.ops.datamap.model import DataMap
from bot.workflow.schema import datamap_snapshots

__all__ = ["ChangePoster", "DatamapWatch"]

log = logging.getLogger(__name__)


class ChangePoster(Protocol):
    """Where the watch posts (the front end's notifier: Slack's notifications channel)."""

    def datamap_changed(self, found: Sequence[MapChange]) -> None: ...


class DatamapWatch:
    """`tick()` (a worker chore) -> the changes posted, [] when none were (not due, the
    baseline, another replica's turn, or no change)."""

    def __init__(
        self,
        engine: sa.Engine,
        build: Callable[[], DataMap],
        poster: ChangePoster,
        audit: AuditLog,
        *,
        every: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine, self.build, self.poster, self.audit = engine, build, poster, audit
        self.every, self.clock = every, clock

    def tick(self) -> list[MapChange]:
        now = self.clock()
        with self.engine.connect() as conn:
            last = conn.execute(
                sa.select(datamap_snapshots.c.at, datamap_snapshots.c.map_json)
                .order_by(datamap_snapshots.c.at.desc())
                .limit(1)
            ).first()
        if last is not None and now - _aware(last.at, now) < self.every:
            return []
        current = self.build()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(datamap_snapshots).values(
                        taken_on=now.date().isoformat(), at=now, map_json=current.to_json()
                    )
                )
        except sa.exc.IntegrityError:
            return []  # another replica took today's
        if last is None:
            return []
        try:
            found = changes(DataMap.from_json(last.map_json), current)
        except ValueError:
            log.warning("the last data map snapshot could not be read; it is replaced")
            return []
        if found:
            ok = True
            try:
                self.poster.datamap_changed(found)
            except Exception as exc:  # noqa: BLE001 - boundary: the snapshot is taken anyway
                log_failure(log, "the data map's changes could not be posted", exc)
                ok = False
            self.audit.record(
                actor="system",
                roles=["system"],
                action="notify",
                outcome=AuditOutcome.OK if ok else AuditOutcome.FAILED,
                detail={"what": "datamap_changed", "changes": len(found)},
            )
        return found


def _aware(at: datetime, like: datetime) -> datetime:
    """SQLite gives back naive datetimes: read them in `like`'s zone (UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=like.tzinfo)
