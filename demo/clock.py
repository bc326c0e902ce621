"""The demo's clock: the real time, plus however far `later` has moved it, so the deadline
clock's reminders can be seen without waiting a month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["DemoClock"]


class DemoClock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def later(self, days: int) -> datetime:
        self.offset += timedelta(days=days)
        return self()
