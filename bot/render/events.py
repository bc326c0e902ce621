"""Thread replies for workflow events: the only place an event becomes Slack text.

Every piece of user text (notes, reasons) is escaped for mrkdwn; the mentions here
are built from Slack user ids the bot holds, never from typed text.
"""

from __future__ import annotations

from bot.render.markup import mention, mrkdwn_escape
from bot.render.reply import Reply
from bot.workflow.events import (
    ApprovalGiven,
    Cancelled,
    Event,
    Expired,
    Extended,
    Rejected,
    ResidualChecked,
    ResidualOutcome,
    RetryStarted,
    StepDone,
)
from bot.workflow.requests import Request

__all__ = ["event_reply", "event_text"]

_DAY = "%Y-%m-%d"


def event_reply(request: Request, event: Event) -> Reply:
    """The event as a (public, thread) reply."""
    return Reply(text=event_text(request, event), private=False)


def event_text(request: Request, event: Event) -> str:
    by = mention(event.actor)
    match event:
        case ApprovalGiven(missing=0):
            return f"Approved by {by}."
        case ApprovalGiven(missing=missing):
            return f"Approval by {by} recorded; {missing} more needed."
        case Rejected(note=note):
            return f"Rejected by {by}: {mrkdwn_escape(note)}"
        case Cancelled(note=note):
            return f"Cancelled by {by}: {mrkdwn_escape(note)}"
        case Extended(note=note, due_at=due):
            return (
                f"Due date extended to {due:{_DAY}} by {by}: {mrkdwn_escape(note)}. "
                f"{mention(request.requester)}, tell the data subject of the extension and why."
            )
        case Expired():
            return "The approval window has passed: request expired."
        case StepDone(seq=seq, manual=True):
            return f"Step {seq} marked done by {by}."
        case RetryStarted(new_steps=new, unapproved=unapproved):
            more = f" with {new} new step(s) for approved objects that came back" if new else ""
            text = f"Retry started by {by}{more}."
            if unapproved:
                text += (
                    f"\n{unapproved} other live object(s) answer to this person's identifiers but "
                    "were not in the approved plan, so mimbot will not touch them: find out whose "
                    "they are (`/mim find`), then raise a new request, or cancel this one."
                )
            return text
        case ResidualChecked(system=system, outcome=ResidualOutcome.GONE, at=at):
            return (
                f"Residual copies in {mrkdwn_escape(system)} are gone: checked {at:{_DAY}}, "
                "after they expired."
            )
        case ResidualChecked(system=system, outcome=ResidualOutcome.STILL_PRESENT):
            return (
                f"Residual copies in {mrkdwn_escape(system)} are still there after their expiry "
                "date; mimbot looks again every day. Ask the directory team."
            )
    raise TypeError(f"{type(event).__name__} has no thread message")
