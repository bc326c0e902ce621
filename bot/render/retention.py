"""The answer to `/mim retention`: the MIM Service's RetentionPeriod, and when each erasure's
MIM Service residual copies go. Request ids and dates only: no person is named."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.ops.retention import RequestRetention, RetentionAnswer
from bot.render.answers import OUTCOME_TEXT
from bot.render.markup import clip, dicts, mrkdwn_escape
from bot.render.reply import Reply
from bot.render.requests import STATUS_TEXT

__all__ = ["retention_answer"]

_DAY = "%Y-%m-%d"
NOT_CONFIGURED = (
    "No MIM Service connector is configured (`connectors.mimservice` in app.yaml): "
    "there is no RetentionPeriod to read."
)


def retention_answer(answer: RetentionAnswer) -> Reply:
    """Private: the period and what it means, or why it could not be read."""
    if answer.period is None:
        return Reply(
            text=NOT_CONFIGURED,
            blocks=dicts([SectionBlock(text=MarkdownTextObject(text=NOT_CONFIGURED))]),
        )
    label = mrkdwn_escape(answer.label or "MIM Service")
    period = answer.period
    days: int | None = None
    if period.ok and period.value is not None:
        days = period.value.days
        # A system's documented default, where one applies; the MIM Service has none the
        # bot may assume (an unreadable setting is an error, mim-apis-checked 3.3).
        default = "" if period.value.configured else " (the system's default: no setting)"
        head = (
            f"*{label}* RetentionPeriod (days): *{days}*{default}.\n"
            f"{label} keeps a deleted person's Requests and SSPR data until its retention job "
            f"removes those older than {days} days: an erasure's MIM Service residual copies "
            f"go about {days} days after its MIM Service step ran."
        )
    else:
        outcome = OUTCOME_TEXT[period.outcome].format(n=0)
        why = f" ({mrkdwn_escape(period.message)})" if period.message else ""
        head = (
            f"*{label}* RetentionPeriod: {outcome}{why}.\n"
            "When the erasures below lose their MIM Service residual copies is not known "
            "until it answers."
        )
    blocks: list[Block] = [
        HeaderBlock(text="MIM Service retention"),
        SectionBlock(text=MarkdownTextObject(text=clip(head))),
        SectionBlock(
            text=MarkdownTextObject(
                text=clip("*Open erasures with a MIM Service step*\n" + _lines(answer.open, days))
            )
        ),
        SectionBlock(
            text=MarkdownTextObject(
                text=clip(
                    "*Completed erasures whose MIM Service residual copies are listed*\n"
                    + _lines(answer.completed, days)
                )
            )
        ),
        ContextBlock(elements=[MarkdownTextObject(text="Visible only to you.")]),
    ]
    text = "\n".join(
        [
            head,
            "Open erasures with a MIM Service step:",
            _lines(answer.open, days),
            "Completed erasures whose MIM Service residual copies are listed:",
            _lines(answer.completed, days),
        ]
    )
    return Reply(text=text, blocks=dicts(blocks))


def _lines(items: tuple[RequestRetention, ...], days: int | None) -> str:
    if not items:
        return "_none_"
    return "\n".join(f"• {r.request_id} ({STATUS_TEXT[r.status]}): {_when(r, days)}" for r in items)


def _when(r: RequestRetention, days: int | None) -> str:
    if r.goes_at is not None:
        return f"MIM Service residuals go on {r.goes_at:{_DAY}}"
    if days is None:
        return "MIM Service residuals go RetentionPeriod days after its MIM Service step ran"
    return f"MIM Service residuals go about {days} days after the erasure runs"
