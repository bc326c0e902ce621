"""The audit chain's witness outside the database: checkpoints posted to a Slack channel."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.audit import Checkpoint
from bot.render.checkpoints import checkpoint_message

__all__ = ["SlackWitness"]


class SlackWitness:
    """Posts each checkpoint to `channel` (the notifications channel); raises on failure,
    so the schedule tries again."""

    def __init__(self, client: WebClient, channel: str) -> None:
        self.client = client
        self.channel = channel
        self.name = f"slack:{channel}"

    def publish(self, checkpoint: Checkpoint) -> None:
        reply = checkpoint_message(checkpoint)
        self.client.chat_postMessage(
            channel=self.channel, text=reply.text, blocks=list(reply.blocks)
        )
