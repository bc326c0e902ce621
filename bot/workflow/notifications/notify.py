"""What the request workflow tells people, as a protocol the front ends implement.

The Slack implementation posts and updates messages (bot/frontends/slack_notifier.py);
the console prints them. The domain never imports Slack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.workflow.batch.model import Batch, BatchMember, BatchSummary
from bot.workflow.events import Event, Reminded
from bot.workflow.notifications.digest import Digest
from bot.workflow.requests import Request, Step

__all__ = ["MessageRef", "Notifier"]

MessageRef = tuple[str, str]  # (channel, ts)


class Notifier(Protocol):
    def approval_requested(self, request: Request) -> MessageRef | None:
        """Post the approval message (with Approve/Reject) to the approvals channel."""

    def request_updated(self, request: Request) -> None:
        """Redraw the approval message: status, decision and one line per step."""

    def event(self, request: Request, event: Event) -> None:
        """Tell the approval message's thread what happened (the front end renders it)."""

    def manual_step(self, request: Request, step: Step) -> None:
        """Ask the assigned role to do a step by hand, with a Done button."""

    def finished(self, request: Request) -> None:
        """Completed or failed: in the thread, to the requester by DM, to the notifications
        channel. A failure names the failing step and offers Retry."""

    def reminder(self, request: Request, event: Reminded) -> None:
        """The due date draws near or has passed: to the requester by DM, and in the
        request's thread when it has one."""

    def digest(self, digest: Digest) -> None:
        """Once a day: overdue and nearly due requests, to the notifications channel."""

    def batch_requested(self, summary: BatchSummary) -> MessageRef | None:
        """Post a retention batch's one message (with Approve/Reject) to the approvals
        channel."""

    def batch_updated(self, summary: BatchSummary) -> None:
        """Redraw the batch's message: status, progress, ETA, the failed."""

    def batch_list(self, batch: Batch, members: Sequence[BatchMember]) -> str | None:
        """Every member of the batch, as a file in its message's thread; the file's id."""

    def batch_list_removed(self, batch: Batch, file_id: str) -> None:
        """The batch ended: delete the file that names its members."""
