"""The data map in Slack: the counts, the transfers to third parties and the findings,
first few of each, and where the full map is. Private; every text from the map is
escaped (a system's description or a finding's text may hold anything)."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.ops.datamap.model import DataMap, Finding, SharingRow
from bot.render.datamap.sections import generated_text, summary
from bot.render.markup import MAX_BLOCKS, MAX_SECTION, clip, dicts, mrkdwn_escape
from bot.render.reply import Reply

__all__ = ["FILES_NOTE", "FIRST", "datamap_summary"]

FIRST = 10  # transfers and findings listed; the files hold them all
LINE = 280  # one listed item at most, so the first ten fit in a section
FILES_NOTE = "The full map is in your DM as files."


def _esc(text: str) -> str:
    """One line, escaped: a newline in a name would break the list and the bold."""
    return mrkdwn_escape(" ".join(text.split()))


def _transfer(row: SharingRow) -> str:
    return clip(
        f"• {_esc(row.mv_attribute)} → *{_esc(row.to)}* "
        f"({_esc(row.cd_attribute)}, {_esc(row.category.value)})",
        LINE,
    )


def _finding(row: Finding) -> str:
    subject = f" {_esc(row.subject)}" if row.subject else ""
    return clip(
        f"• *{_esc(row.kind.value)}*: {_esc(row.system)}{subject}: {_esc(row.text)}",
        LINE,
    )


def _listed(head: str, lines: Sequence[str], none: str) -> SectionBlock:
    """The first few lines that fit in one section, and how many more there are."""
    budget = MAX_SECTION - len(head) - 40  # the heading, and room for "… and N more"
    shown: list[str] = []
    for line in lines[:FIRST]:
        if sum(len(s) + 1 for s in shown) + len(line) + 1 > budget:
            break
        shown.append(line)
    if len(lines) > len(shown):
        shown.append(f"… and {len(lines) - len(shown)} more")
    body = "\n".join(shown) if shown else none
    return SectionBlock(text=MarkdownTextObject(text=clip(f"*{head}*\n{body}")))


def datamap_summary(datamap: DataMap) -> Reply:
    """Private: what the map found, in a few blocks; the files carry the rest."""
    counts = summary(datamap)
    text = (
        f"Data map: {counts.systems} systems, {counts.attributes} personal attributes, "
        f"{counts.transfers} external transfers, {counts.findings} findings."
    )
    head = "\n".join(mrkdwn_escape(line) for line in counts.lines())
    transfers = [_transfer(s) for s in datamap.sharing if s.external]
    blocks: list[Block] = [
        HeaderBlock(text="Data map (GDPR Art. 30)"),
        SectionBlock(text=MarkdownTextObject(text=clip(head))),
        _listed(
            "Transfers to third parties",
            transfers,
            "None: no personal attribute is exported to a system marked external.",
        ),
        _listed(
            "Findings: what needs a decision",
            [_finding(f) for f in datamap.findings],
            "Nothing needs a decision.",
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(text=f"{FILES_NOTE} Generated {_esc(generated_text(datamap))}.")
            ]
        ),
    ]
    return Reply(text=f"{text} {FILES_NOTE}", blocks=dicts(blocks[:MAX_BLOCKS]), private=True)
