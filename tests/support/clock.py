"""The one test clock: it says what time it is until a test moves it (`clock.now = ...`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, TypeVar

__all__ = ["Clock"]

T = TypeVar("T")  # a datetime for wall clocks, a float for monotonic ones


class Clock(Generic[T]):
    def __init__(self, now: T = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)) -> None:  # type: ignore[assignment]
        self.now = now

    def __call__(self) -> T:
        return self.now
