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
        """`days` on, at 09:00 UTC: after the daily digest's hour (07:00), whatever the hour
        the demo runs at, so the same script shows the same reminders and digests."""
        target = (self() + timedelta(days=days)).replace(hour=9, minute=0, second=0, microsecond=0)
        self.offset += target - self()
        return self()
