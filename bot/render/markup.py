"""Slack mrkdwn and Block Kit plumbing the render modules share: escaping, mentions,
limits. Everything that writes Slack markup imports it from here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from slack_sdk.models.blocks import Block

__all__ = [
    "MAX_BLOCKS",
    "MAX_SECTION",
    "clip",
    "dicts",
    "mention",
    "mrkdwn_escape",
    "usergroup_mention",
]

MAX_BLOCKS = 50
MAX_SECTION = 3000


def mrkdwn_escape(text: str) -> str:
    """User or directory text made inert: no mention, channel ping or link can come alive."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


def mention(user_id: str) -> str:
    """A live mention of a Slack user id the bot holds; anything else is shown as text."""
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else mrkdwn_escape(user_id)


_USERGROUP_ID = re.compile(r"S[A-Z0-9]{2,20}")


def usergroup_mention(group_id: str) -> str:
    """A live mention of a Slack user group id from the configuration; else plain text."""
    return (
        f"<!subteam^{group_id}>" if _USERGROUP_ID.fullmatch(group_id) else mrkdwn_escape(group_id)
    )


def clip(text: str, limit: int = MAX_SECTION) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dicts(blocks: Iterable[Block]) -> tuple[dict[str, Any], ...]:
    return tuple(b.to_dict() for b in blocks)  # to_dict() runs slack_sdk's validators
