"""The audit chain checkpoint as a Slack message: a witness anyone in the channel keeps."""

from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.audit import Checkpoint
from bot.render.markup import dicts, mrkdwn_escape
from bot.render.reply import Reply

__all__ = ["checkpoint_message"]


def checkpoint_message(checkpoint: Checkpoint) -> Reply:
    when = f"{checkpoint.at:%Y-%m-%d %H:%M:%S} UTC" if checkpoint.at else "unknown time"
    command = f"python -m bot audit verify --checkpoint {checkpoint.token()}"
    head = f":lock: Audit chain checkpoint: event {checkpoint.seq} at {when}."
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=head)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"To check the audit store against it: `{mrkdwn_escape(command)}`"
                )
            ]
        ),
    ]
    return Reply(text=f"{head} {command}", blocks=dicts(blocks), private=False)
