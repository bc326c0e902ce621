"""The answers to `/mim hold` and `/mim unhold` (private: they name the person)."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.render.markup import dicts, mention, mrkdwn_escape
from bot.render.reply import Reply
from bot.workflow.holds import Hold

__all__ = ["hold_lifted", "hold_placed", "no_hold"]


def hold_placed(name: str, hold: Hold) -> Reply:
    return _plain(
        f":lock: *{mrkdwn_escape(name)}* is on hold since {hold.when}"
        f" (placed by {mention(hold.placed_by)}: {mrkdwn_escape(hold.reason)})."
        " No erasure or sweep will touch them until `/mim unhold`."
    )


def hold_lifted(name: str, lifted: Sequence[Hold]) -> Reply:
    since = ", ".join(h.when for h in lifted)
    return _plain(
        f":unlock: *{mrkdwn_escape(name)}* is no longer on hold (placed {since})."
        " They may be erased again."
    )


def no_hold(name: str) -> Reply:
    return _plain(f"*{mrkdwn_escape(name)}* is not on hold: nothing to lift.")


def _plain(text: str) -> Reply:
    return Reply(text=text, blocks=dicts([SectionBlock(text=MarkdownTextObject(text=text))]))
