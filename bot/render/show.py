"""Block Kit for `/mim show`: like Sync Service Manager's "metaverse object properties",
plus the other systems' records, privately and within Slack's limits."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.lookup.search import SystemResult
from bot.lookup.show import PersonView, SystemRecord
from bot.render.answers import outcome_text
from bot.render.markup import MAX_BLOCKS, MAX_SECTION, dicts, mrkdwn_escape
from bot.render.reply import Reply

__all__ = ["person_view"]

_WHEN = "%Y-%m-%d %H:%M"


def _when(moment: datetime | None) -> str:
    return moment.strftime(_WHEN) if moment else "unknown"


def _values(values: tuple[str, ...], limit: int = 300) -> str:
    text = ", ".join(values)
    return mrkdwn_escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _sections(title: str, lines: list[str]) -> list[Block]:
    """Lines packed into as few sections as the 3,000-character limit allows."""
    blocks: list[Block] = []
    chunk = f"*{title}*"
    for line in lines:
        if len(chunk) + 1 + len(line) > MAX_SECTION:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=chunk)))
            chunk = line[:MAX_SECTION]
        else:
            chunk += "\n" + line
    blocks.append(SectionBlock(text=MarkdownTextObject(text=chunk)))
    return blocks


def _lineage_blocks(system: SystemRecord) -> list[Block]:
    view = system.lineage
    assert view is not None
    attrs = [
        f"*{mrkdwn_escape(a.name)}*: {_values(a.values)} — source: "
        f"{mrkdwn_escape(a.authority)} · changed {_when(a.modified)}"
        for a in view.attributes
    ]
    conns = []
    for c in view.connectors:
        pending = ", ".join(
            p for p in (c.pending_import and f"pending import {c.pending_import}",
                        c.pending_export and f"pending export {c.pending_export}") if p
        )  # fmt: skip
        conns.append(
            f"*{mrkdwn_escape(c.ma_name)}* ({mrkdwn_escape(c.ma_type or '?')}): "
            f"`{mrkdwn_escape(c.rdn or c.cs_object_id)}` · {c.state}"
            f"{'' if c.joined else ' (disconnector)'} · since {_when(c.lineage_date)}"
            + (f" · {pending}" if pending else "")
        )
    rule = view.deletion_rule
    rule_text = (
        f"*Deletion rule*: {mrkdwn_escape(rule.kind or 'unknown')} — {mrkdwn_escape(rule.meaning)}"
    )
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=(
                    f"*{mrkdwn_escape(system.label)}* · {mrkdwn_escape(view.object_type)} "
                    f"`{view.ref.id}` · last change {_when(view.modified)}"
                )
            )
        ),
        *_sections("Attributes (value — source of authority · last change)", attrs or ["none"]),
        *_sections("Connected systems (lineage)", conns or ["none"]),
        SectionBlock(text=MarkdownTextObject(text=rule_text[:MAX_SECTION])),
    ]


def _record_blocks(system: SystemRecord) -> list[Block]:
    record = system.record
    assert record is not None
    lines = [
        f"*{mrkdwn_escape(name)}*: {_values(value.values)}"
        + (f" · changed {_when(value.modified)}" if value.modified else "")
        for name, value in sorted(record.attributes.items())
    ]
    return _sections(f"{system.label}", lines or ["no personal attributes"])


def person_view(view: PersonView) -> Reply:
    s = view.subject
    title = s.display_name + (f" ({s.account})" if s.account else "")
    # Every system's outcome first: a long view is cut at Slack's block limit, and the
    # cut must never hide that a system did not answer.
    outcomes = " · ".join(
        f"{mrkdwn_escape(r.label)}: {r.outcome.value.replace('_', ' ')}"
        for r in (*view.systems, *view.absent)
    )
    blocks: list[Block] = [
        HeaderBlock(text=title[:150]),
        SectionBlock(text=MarkdownTextObject(text=outcomes[:3000])),
    ]
    for system in view.systems:
        blocks.append(DividerBlock())
        if system.lineage is not None:
            blocks += _lineage_blocks(system)
        elif system.record is not None:
            blocks += _record_blocks(system)
        else:
            text = outcome_text(
                SystemResult(system.system, system.label, system.outcome, message=system.message)
            )
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(text=f"*{mrkdwn_escape(system.label)}*: {text}")
                )
            )
    if len(blocks) > MAX_BLOCKS:
        more = MarkdownTextObject(text=":scissors: more details not shown (Slack's limit)")
        blocks = [*blocks[: MAX_BLOCKS - 1], ContextBlock(elements=[more])]
    text = f"{mrkdwn_escape(title)}: " + "; ".join(
        f"{mrkdwn_escape(r.label)}: {r.outcome.value}" for r in view.systems
    )
    return Reply(text=text[:2900], blocks=dicts(blocks), private=True)
