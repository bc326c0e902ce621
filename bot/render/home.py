"""The App Home tab as a Slack view: request ids, kinds, statuses and days left only."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.render.deadlines import KIND_TEXT, due_text
from bot.render.markup import clip
from bot.workflow.deadlines import days_left
from bot.workflow.home import HomeView
from bot.workflow.requests import Request

__all__ = ["home_view"]

MAX_LINES = 30


def _line(request: Request, view: HomeView, extra: str = "") -> str:
    kind = KIND_TEXT.get(request.kind, request.kind)
    left = due_text(days_left(request, view.now))
    warn = ":rotating_light: " if request.due_at <= view.now else ""
    status = request.status.value.replace("_", " ")
    return f"{warn}`{request.id}` {kind} · {status} · {left}{extra}"


def _section(title: str, lines: list[str], empty: str) -> list[Block]:
    body = "\n".join(lines[:MAX_LINES]) or f"_{empty}_"
    if len(lines) > MAX_LINES:
        body += f"\n…and {len(lines) - MAX_LINES} more: `/mim requests`"
    return [
        SectionBlock(text=MarkdownTextObject(text=f"*{title}*")),
        SectionBlock(text=MarkdownTextObject(text=clip(body))),
    ]


def home_view(view: HomeView) -> dict[str, Any]:
    blocks: list[Block] = [HeaderBlock(text="GDPR requests")]
    blocks += _section(
        "Waiting for your decision",
        [_line(r, view, f" · `/mim status {r.id}`") for r in view.to_decide],
        "nothing to decide",
    )
    blocks += _section(
        "Manual steps for you",
        [_line(r, view, f" · step {s.seq}: `/mim done {r.id} {s.seq}`") for r, s in view.steps],
        "no manual step waits on you",
    )
    blocks.append(DividerBlock())
    blocks += _section("Your open requests", [_line(r, view) for r in view.mine], "none open")
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"As of {view.now:%Y-%m-%d %H:%M} UTC. Details: `/mim status <id>`."
                )
            ]
        )
    )
    return View(type="home", blocks=blocks).to_dict()  # to_dict() validates the view
