"""The deadline clock's messages: a reminder (thread and requester) and the daily digest
(notifications channel). Request ids, kinds, statuses and dates only: no personal data."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.render.markup import clip, dicts
from bot.render.reply import Reply
from bot.workflow.deadlines import days_left
from bot.workflow.events import Reminded
from bot.workflow.notifications.digest import Digest
from bot.workflow.requests import ReminderKind, Request, RequestKind

__all__ = ["digest_message", "due_text", "reminder_message"]

_DAY = "%Y-%m-%d"
KIND_TEXT = {
    RequestKind.ERASURE: "erasure",
    RequestKind.ACCESS: "access (export)",
    RequestKind.RECTIFICATION: "rectification",
}


def due_text(days: int) -> str:
    if days < 0:
        return f"overdue by {-days} day(s)"
    return "due today" if days == 0 else f"{days} day(s) left"


def reminder_message(request: Request, event: Reminded) -> Reply:
    kind = KIND_TEXT.get(request.kind, request.kind)
    status = request.status.value.replace("_", " ")
    due = f"{event.due_at:{_DAY}}"
    if event.kind is ReminderKind.OVERDUE:
        text = (
            f":rotating_light: {request.id} ({kind}) is overdue: it was due {due}. "
            f"Status: {status}. Finish it, or tell the data subject why it is late; "
            f"`/mim extend {request.id} &lt;reason&gt;` only before the original due date."
        )
    else:
        text = (
            f":alarm_clock: {request.id} ({kind}) is due {due}: "
            f"{due_text(event.days_left)}. Status: {status}."
        )
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text))]
    return Reply(
        text=f"{request.id}: {due_text(event.days_left)}", blocks=dicts(blocks), private=False
    )


def _line(request: Request, digest: Digest) -> str:
    kind = KIND_TEXT.get(request.kind, request.kind)
    left = due_text(days_left(request, digest.day))
    return f"• `{request.id}` {kind} · {request.status.value.replace('_', ' ')} · {left}"


def digest_message(digest: Digest) -> Reply:
    head = f"Open requests by due date, {digest.day:{_DAY}}"
    parts = []
    if digest.overdue:
        parts.append("*Overdue*\n" + "\n".join(_line(r, digest) for r in digest.overdue))
    if digest.due_soon:
        parts.append("*Due within 7 days*\n" + "\n".join(_line(r, digest) for r in digest.due_soon))
    body = "\n\n".join(parts) or "Nothing overdue and nothing due within 7 days."
    blocks: list[Block] = [
        HeaderBlock(text=head),
        SectionBlock(text=MarkdownTextObject(text=clip(body))),
    ]
    return Reply(
        text=f"{head}: {len(digest.overdue)} overdue, {len(digest.due_soon)} due soon",
        blocks=dicts(blocks),
        private=False,
    )
