"""The answers to `python -m bot doctor` (plain text, every check) and `/mim doctor` (the
summary: each system's verdict, and every check that is not ok with its fix)."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.ops.doctor import DoctorReport, SystemChecks
from bot.render.markup import MAX_BLOCKS, clip, dicts, mrkdwn_escape
from bot.render.reply import Reply
from connectors.doctor import Check, Verdict

__all__ = ["doctor_answer", "doctor_text"]

MARK = {
    Verdict.OK: ":white_check_mark:",
    Verdict.WRONG: ":x:",
    Verdict.CANNOT_TELL: ":grey_question:",
}
WORD = {Verdict.OK: "ok", Verdict.WRONG: "WRONG", Verdict.CANNOT_TELL: "cannot tell"}
NOTHING = "No connector is configured (`connectors` in app.yaml): there is nothing to check."


def summary(report: DoctorReport) -> str:
    counts = [
        f"{report.count(v)} {WORD[v].lower()}"
        for v in (Verdict.WRONG, Verdict.CANNOT_TELL, Verdict.OK)
        if report.count(v) or v is Verdict.OK
    ]
    return f"{len(report.systems)} system(s) checked: {', '.join(counts)}"


def doctor_text(report: DoctorReport) -> str:
    """Every check of every system, one a line, each not ok followed by its fix."""
    if not report.systems:
        return NOTHING.replace("`", "")
    lines: list[str] = []
    for s in report.systems:
        lines.append(f"{s.label} ({s.system}): {WORD[s.verdict]}")
        for c in s.checks:
            detail = f": {c.detail}" if c.detail else ""
            lines.append(f"  {WORD[c.verdict]:<11} {c.name}{detail}")
            if c.fix:
                lines.append(f"  {'':<11} fix: {c.fix}")
    lines.append(summary(report))
    return "\n".join(lines)


def doctor_answer(report: DoctorReport) -> Reply:
    """Private: per system its verdict; the checks that are not ok, each with its fix."""
    if not report.systems:
        return Reply(
            text=NOTHING, blocks=dicts([SectionBlock(text=MarkdownTextObject(text=NOTHING))])
        )
    head = summary(report)
    sections = [_system(s) for s in report.systems]
    room = MAX_BLOCKS - 3
    shown = sections[:room]
    if len(sections) > room:
        shown[-1] = f"… and {len(sections) - room + 1} more system(s): run `python -m bot doctor`"
    blocks: list[Block] = [
        HeaderBlock(text="Doctor: the estate's assumptions checked"),
        SectionBlock(text=MarkdownTextObject(text=head)),
        *[SectionBlock(text=MarkdownTextObject(text=clip(s))) for s in shown],
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Read-only; nothing was written. Visible only to you. "
                    "Every check, ok ones too: `python -m bot doctor`."
                )
            ]
        ),
    ]
    return Reply(text="\n".join([head, *sections]), blocks=dicts(blocks))


def _system(s: SystemChecks) -> str:
    oks = sum(c.verdict is Verdict.OK for c in s.checks)
    lines = [f"{MARK[s.verdict]} *{mrkdwn_escape(s.label)}*: {oks} of {len(s.checks)} ok"]
    lines += [_check(c) for c in s.checks if c.verdict is not Verdict.OK]
    return "\n".join(lines)


def _check(c: Check) -> str:
    detail = f": {mrkdwn_escape(c.detail)}" if c.detail else ""
    return f"• {MARK[c.verdict]} {mrkdwn_escape(c.name)}{detail}\n    _fix:_ {mrkdwn_escape(c.fix)}"
