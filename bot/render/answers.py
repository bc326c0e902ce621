"""Answers to commands: search results, help and errors, as Block Kit with text fallbacks.

Slack's limits (50 blocks a message, 3,000 characters a section; bot/render/markup.py)
are kept here: long results are cut with a count and a hint. User and directory text
is escaped for mrkdwn so that a value can never turn into a mention or a link.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.errors import AlreadyDecided, MimbotError, UsageError
from bot.lookup.calls import Outcome
from bot.lookup.search import SearchResult, SystemResult
from bot.render.markup import MAX_BLOCKS, clip, dicts, mention, mrkdwn_escape
from bot.render.reply import Reply
from connectors.base import Hit, IdKind, QueryKind

__all__ = ["error", "find_fallback", "find_result", "help_text", "hit_text", "outcome_text"]

_DATE = "%Y-%m-%d %H:%M UTC"

OUTCOME_TEXT = {
    Outcome.FOUND: "found {n}",
    Outcome.NOT_FOUND: "not found",
    Outcome.UNREACHABLE: ":warning: unreachable",
    Outcome.TIMED_OUT: ":hourglass: timed out",
    Outcome.DENIED: ":no_entry: access denied",
    Outcome.ERROR: ":x: error",
    Outcome.SKIPPED: "not searched",
}
KIND_TEXT = {
    QueryKind.MAIL_OR_UPN: "mail or UPN",
    QueryKind.EMPLOYEE_ID: "employee ID",
    QueryKind.PREFIX: "prefix",
    QueryKind.NAME: "account, name or surname",
    QueryKind.ATTRIBUTE: "attribute",
}
ID_LABELS = {
    IdKind.ACCOUNT: "account",
    IdKind.UPN: "UPN",
    IdKind.MAIL: "mail",
    IdKind.EMPLOYEE_ID: "employee ID",
    IdKind.OBJECT_GUID: "objectGUID",
    IdKind.MV_OBJECT_ID: "MV object",
    IdKind.MIM_OBJECT_ID: "MIM ObjectID",
}


def outcome_text(r: SystemResult) -> str:
    # At the cap the system may hold many more: "found 200" would understate it.
    n = f"{len(r.hits)}+ (the most one search returns)" if r.capped else len(r.hits)
    text = OUTCOME_TEXT[r.outcome].format(n=n)
    if r.asked_by:  # the second hop: which account it was asked by, and whose it is
        how = "; ".join(
            f"the account {mrkdwn_escape(account)} that {mrkdwn_escape(label)} returned"
            for account, label in r.asked_by
        )
        return f"{text}, by {how}" if r.outcome is Outcome.FOUND else f"{text} (asked by {how})"
    return (
        f"{text} ({mrkdwn_escape(r.message)})"
        if r.message and r.outcome is not Outcome.FOUND
        else text
    )


def find_result(result: SearchResult) -> Reply:
    """The private answer to `/mim find`: per-system outcome, then the hits, within limits."""
    q = result.query
    term = f"{q.attribute}={q.value}" if q.attribute else q.value
    blocks: list[Block] = [
        HeaderBlock(text="Search results"),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=clip(
                        f"`{mrkdwn_escape(term)}` ({KIND_TEXT[q.kind]}) · "
                        f"{result.hit_count} hit(s) in {len(result.systems)} system(s) · "
                        "visible only to you",
                        2000,
                    )
                )
            ]
        ),
        SectionBlock(
            text=MarkdownTextObject(
                text=clip(
                    "\n".join(
                        f"*{mrkdwn_escape(r.label)}*: {outcome_text(r)}" for r in result.systems
                    )
                )
            )
        ),
    ]
    all_hits = [(r, h) for r in result.systems for h in r.hits]
    room = MAX_BLOCKS - len(blocks) - 1  # keep one block for the "more" line
    current_system = None
    shown = 0
    for system, hit in all_hits:
        need = 2 if system is not current_system else 1
        if room < need:
            break
        if system is not current_system:
            blocks.append(DividerBlock())
            current_system = system
            room -= 1
        blocks.append(SectionBlock(text=MarkdownTextObject(text=hit_text(system, hit))))
        room -= 1
        shown += 1
    if shown < len(all_hits):
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=(
                            f":scissors: {len(all_hits) - shown} more hit(s) not shown. "
                            "Narrow the search: an exact account name, mail or employee ID."
                        )
                    )
                ]
            )
        )
    return Reply(text=find_fallback(result, term), blocks=dicts(blocks), private=True)


def hit_text(system: SystemResult, hit: Hit) -> str:
    lines = [f"*{mrkdwn_escape(hit.label)}* · {mrkdwn_escape(system.label)}"]
    if hit.location:
        lines.append(f"`{mrkdwn_escape(hit.location)}`")
    ids = [
        f"{ID_LABELS[k]}: {mrkdwn_escape(v)}" for k, v in hit.identifiers.items() if k in ID_LABELS
    ]
    if ids:
        lines.append(" · ".join(ids))
    for name, values in sorted(hit.attributes.items()):
        lines.append(f"{mrkdwn_escape(name)}: {mrkdwn_escape(', '.join(values))}")
    if hit.modified:
        lines.append(f"_last changed {hit.modified.strftime(_DATE)}_")
    return clip("\n".join(lines))


def find_fallback(result: SearchResult, term: str) -> str:
    # Slack reads the fallback as mrkdwn too: escaped like the blocks.
    parts = [f"{mrkdwn_escape(r.label)}: {outcome_text(r)}" for r in result.systems]
    return clip(f"Search for {mrkdwn_escape(term)}: " + "; ".join(parts), 2900)


def help_text(commands: Sequence[tuple[str, str]]) -> Reply:
    lines = [f"`{mrkdwn_escape(usage)}`: {what}" for usage, what in commands]
    body = "\n".join(lines) if lines else "You have no commands yet. Ask your IAM team for a role."
    blocks = [HeaderBlock(text="mimbot"), SectionBlock(text=MarkdownTextObject(text=clip(body)))]
    return Reply(text="mimbot commands:\n" + body, blocks=dicts(blocks), private=True)


def error(problem: MimbotError | str) -> Reply:
    """A private refusal or error: its text escaped, then the bot's own markup added."""
    text = mrkdwn_escape(problem if isinstance(problem, str) else problem.user_message())
    if isinstance(problem, UsageError) and problem.usage:
        text = f"{mrkdwn_escape(problem.problem)}\nUsage: `{mrkdwn_escape(problem.usage)}`"
    if isinstance(problem, AlreadyDecided) and problem.decided_by:
        text = text.removesuffix(".") + f" by {mention(problem.decided_by)}."
    return Reply(
        text=text,
        blocks=dicts([SectionBlock(text=MarkdownTextObject(text=clip(text)))]),
        private=True,
    )
