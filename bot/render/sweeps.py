"""The answer to `/mim sweep`: per rule what it found, then who would be erased and who is
kept out and why (private: it names people)."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.render.batches import batch_proposed
from bot.render.markup import clip, dicts, mrkdwn_escape
from bot.render.reply import Reply
from bot.workflow.batch.model import Batch
from bot.workflow.sweeps import MemberState, Sweep, SweepMember

__all__ = ["SHOWN", "sweep_answer"]

SHOWN = 20  # people listed per state; the counts say how many more


def sweep_answer(sweep: Sweep, batch: Batch | None = None) -> Reply:
    proposed = sweep.of(MemberState.PROPOSED)
    head = f"Retention sweep: {len(proposed)} person(s) due for erasure"
    rules = [
        f"• *{mrkdwn_escape(o.rule.name)}* ({mrkdwn_escape(o.rule.system)},"
        f" {o.rule.population.value}, older than {o.rule.age.days} days): "
        + (f":warning: could not run ({mrkdwn_escape(o.error)})" if o.error else f"{o.found} found")
        for o in sweep.rules
    ]
    sections = ["\n".join(rules)]
    for state in MemberState:
        members = sweep.of(state)
        if members:
            sections.append(_list(state, members))
    proposed_line = mrkdwn_escape(batch_proposed(batch, posted=bool(batch and batch.channel)))
    foot = (
        "Nothing is erased until the batch is approved. Keep a person out with"
        " `/mim hold` (approvers). Visible only to you."
    )
    blocks: list[Block] = [
        HeaderBlock(text="Retention sweep"),
        SectionBlock(text=MarkdownTextObject(text=head + ".")),
        *[SectionBlock(text=MarkdownTextObject(text=clip(s))) for s in sections],
        SectionBlock(text=MarkdownTextObject(text=proposed_line)),
        ContextBlock(elements=[MarkdownTextObject(text=foot)]),
    ]
    return Reply(text="\n".join([head + ".", *sections, proposed_line, foot]), blocks=dicts(blocks))


def _list(state: MemberState, members: list[SweepMember]) -> str:
    lines = [f"*{len(members)} {mrkdwn_escape(state.value)}*"]
    for m in members[:SHOWN]:
        since = f", since {m.since:%Y-%m-%d}" if m.since else ""
        note = f": {mrkdwn_escape(m.note)}" if m.note and state is not MemberState.AMBIGUOUS else ""
        lines.append(f"• {mrkdwn_escape(m.label)} ({mrkdwn_escape(m.rule)}{since}){note}")
    if len(members) > SHOWN:
        lines.append(f"… and {len(members) - SHOWN} more")
    return "\n".join(lines)
