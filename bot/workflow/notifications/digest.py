"""The daily digest's content: the open requests that are overdue or nearly due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.workflow.requests import Request

__all__ = ["Digest"]


@dataclass(frozen=True)
class Digest:
    day: datetime
    overdue: tuple[Request, ...]  # most overdue first
    due_soon: tuple[Request, ...]  # due within the coming week, soonest first
