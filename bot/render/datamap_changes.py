"""The weekly watch's message to the notifications channel: what changed in the estate's
data map (names only: systems, attributes, flows; never a person)."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.ops.datamap.diff import ChangeKind, MapChange
from bot.render.markup import clip, dicts, mrkdwn_escape
from bot.render.reply import Reply

__all__ = ["datamap_changes_message"]

SHOWN = 30


def datamap_changes_message(found: Sequence[MapChange]) -> Reply:
    urgent = sum(c.kind is ChangeKind.EXTERNAL_FLOW for c in found)
    head = f"The estate's data map changed: {len(found)} change(s)"
    if urgent:
        head += f", {urgent} new transfer(s) to an external system"
    lines = [f"• *{mrkdwn_escape(c.kind.value)}*: {mrkdwn_escape(c.text)}" for c in found[:SHOWN]]
    if len(found) > SHOWN:
        lines.append(f"… and {len(found) - SHOWN} more: run `python -m bot datamap --since`")
    body = "\n".join(lines)
    blocks = [
        HeaderBlock(text="Data map: what changed"),
        SectionBlock(text=MarkdownTextObject(text=head + ".")),
        SectionBlock(text=MarkdownTextObject(text=clip(body))),
        ContextBlock(
            elements=[MarkdownTextObject(text="The full map: `/mim datamap` (privacy officers).")]
        ),
    ]
    return Reply(text=f"{head}.\n{body}", blocks=dicts(blocks), private=False)
