"""Block Kit for retention batches: the one message a batch has in the approvals channel
(the first people by name while it awaits approval, who is kept out and why, what each
system does; then progress, an ETA and the failed, redrawn as it runs), the file of every
member in its thread, and the answers to the batch's commands."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import timedelta

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.render.markup import clip, dicts, mention, mrkdwn_escape
from bot.render.reply import Reply
from bot.render.requests import ACTION_APPROVE, ACTION_REJECT, ACTION_RETRY
from bot.workflow.batch.model import Batch, BatchMember, BatchStatus, BatchSummary, Place
from bot.workflow.batch.service import SCHEDULE
from bot.workflow.export_package import neutral_cell

__all__ = [
    "ACTION_PAUSE",
    "ACTION_RESUME",
    "batch_message",
    "batch_proposed",
    "member_list_csv",
    "member_list_name",
]

ACTION_PAUSE = "mim_batch_pause"
ACTION_RESUME = "mim_batch_resume"

STATUS_TEXT = {
    BatchStatus.AWAITING_APPROVAL: ":hourglass: awaiting approval",
    BatchStatus.RUNNING: ":arrows_counterclockwise: running",
    BatchStatus.PAUSED: ":double_vertical_bar: paused",
    BatchStatus.DONE: ":white_check_mark: done",
    BatchStatus.REJECTED: ":no_entry: rejected",
    BatchStatus.EXPIRED: ":clock3: expired",
}


def batch_message(summary: BatchSummary) -> Reply:
    batch = summary.batch
    by = (
        "the retention schedule"
        if batch.requester == SCHEDULE.user_id
        else mention(batch.requester)
    )
    decided = f" by {mention(batch.decided_by)}" if batch.decided_by else ""
    head = (
        f"*{batch.id}*: {batch.size} person(s) to erase under the retention rules"
        f" ({mrkdwn_escape(', '.join(batch.rules))}), proposed by {by}.\n"
        f"Status: {STATUS_TEXT[batch.status]}{decided}"
    )
    per_rule = ", ".join(
        f"{mrkdwn_escape(rule)}: {n}" for rule, n in sorted(batch.rule_counts.items())
    )
    sections = [head + (f"\nPer rule: {per_rule}" if per_rule else "")]
    if summary.progress is not None:
        sections.append(_progress(summary))
    elif batch.status is BatchStatus.AWAITING_APPROVAL:
        sections.append(_people(summary))
    kept = _kept_out(summary)
    if kept:
        sections.append(kept)
    sections.append(
        "*Each person is erased as one request would be*, in source-of-authority order,"
        " and checked gone:\n"
        + "\n".join(f"• {mrkdwn_escape(label)}: {does}" for label, does in summary.systems)
    )
    blocks: list[Block] = [
        HeaderBlock(text="Retention batch"),
        *[SectionBlock(text=MarkdownTextObject(text=clip(s))) for s in sections],
    ]
    buttons, hint = _actions(summary)
    if buttons:
        blocks.append(ActionsBlock(block_id=f"batch:{batch.id}", elements=buttons))
    if hint:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=hint)]))
    text = f"Retention batch {batch.id}: {batch.size} person(s), {batch.status.value}"
    return Reply(text=text, blocks=dicts(blocks))


def batch_proposed(batch: Batch | None, *, posted: bool) -> str:
    """The line added to a sweep's answer when it proposed a batch (plain text)."""
    if batch is None:
        return "Nobody is due, so no batch was proposed."
    where = (
        "It is in the approvals channel, with every person in a file in its thread"
        if posted
        else "It could not be posted to the approvals channel: an approver runs"
        f" /mim approve {batch.id}"
    )
    return (
        f"Batch {batch.id} proposes erasing {batch.count(Place.PROPOSED)} person(s). {where};"
        " another approver approves it once."
    )


def member_list_name(batch: Batch) -> str:
    return f"{batch.id}-people.csv"


def member_list_csv(members: Sequence[BatchMember]) -> bytes:
    """Every member: number (for /mim drop), rule, name, place, since, why. A cell that a
    spreadsheet would read as a formula is quoted as text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "rule", "name", "place", "since", "note", "request"])
    for m in members:
        writer.writerow(
            [
                m.seq,
                neutral_cell(m.rule),
                neutral_cell(m.label or ""),
                m.place.value,
                f"{m.since:%Y-%m-%d}" if m.since else "",
                neutral_cell(m.note or ""),
                m.request_id or "",
            ]
        )
    return out.getvalue().encode("utf-8")


# -- parts --------------------------------------------------------------------------


def _people(summary: BatchSummary) -> str:
    batch = summary.batch
    lines = [f"*{batch.count(Place.PROPOSED)} to erase*"]
    for m in summary.shown:
        since = f", since {m.since:%Y-%m-%d}" if m.since else ""
        lines.append(f"{m.seq}. {mrkdwn_escape(m.label or '')} ({mrkdwn_escape(m.rule)}{since})")
    more = batch.count(Place.PROPOSED) - len(summary.shown)
    if more > 0:
        lines.append(f"… and {more} more: every person is in the file in this thread")
    return "\n".join(lines)


def _progress(summary: BatchSummary) -> str:
    p = summary.progress
    assert p is not None
    batch = summary.batch
    lines = [
        f"*Progress*: {p.erased} erased, {p.failed} failed, {p.running} running,"
        f" {batch.count(Place.NOT_STARTED)} not started, {p.pending} to start"
        f" (of {batch.size})"
    ]
    if p.eta is not None and batch.status is BatchStatus.RUNNING:
        lines.append(f"About {_duration(p.eta)} left at the pace so far.")
    if summary.failed:
        lines.append("*Failed* (each keeps its steps; Retry runs them again):")
        lines += [
            f"• {request_id}" + (f" {mrkdwn_escape(label)}" if label else "")
            for request_id, label in summary.failed
        ]
        if p.failed > len(summary.failed):
            lines.append(f"… and {p.failed - len(summary.failed)} more")
    return "\n".join(lines)


def _kept_out(summary: BatchSummary) -> str:
    batch = summary.batch
    counts = {p: batch.count(p) for p in (Place.KEPT_OUT, Place.DROPPED, Place.NOT_STARTED)}
    if not any(counts.values()):
        return ""
    head = (
        f"*Not erased*: {counts[Place.KEPT_OUT]} kept out by the sweep,"
        f" {counts[Place.DROPPED]} dropped, {counts[Place.NOT_STARTED]} not startable"
    )
    lines = [head]
    for m in summary.kept_out:
        name = mrkdwn_escape(m.label) if m.label else f"#{m.seq}"
        lines.append(
            f"• {name} ({mrkdwn_escape(m.rule)}): {mrkdwn_escape(m.note or m.place.value)}"
        )
    more = sum(counts.values()) - len(summary.kept_out)
    if more > 0:
        lines.append(f"… and {more} more in the file")
    return "\n".join(lines)


def _actions(summary: BatchSummary) -> tuple[list[ButtonElement], str]:
    batch = summary.batch
    b = batch.id
    if batch.status is BatchStatus.AWAITING_APPROVAL:
        return (
            [
                ButtonElement(
                    text="Approve all", action_id=ACTION_APPROVE, value=b, style="primary"
                ),
                ButtonElement(text="Reject", action_id=ACTION_REJECT, value=b, style="danger"),
            ],
            f"Approvers only; not who ran the sweep. Expires"
            f" {batch.expires_at:%Y-%m-%d %H:%M UTC}. Take people out first with"
            f" `/mim drop {b} <number> ...`. Console: `approve {b}` / `reject {b} &lt;reason&gt;`",
        )
    if batch.status is BatchStatus.RUNNING:
        return [ButtonElement(text="Pause", action_id=ACTION_PAUSE, value=b)], (
            f"Console: `pause {b}`; erasures under way finish their step."
        )
    if batch.status is BatchStatus.PAUSED:
        return [ButtonElement(text="Resume", action_id=ACTION_RESUME, value=b)], (
            f"Console: `resume {b}`"
        )
    if batch.status is BatchStatus.DONE and summary.progress and summary.progress.failed:
        return [ButtonElement(text="Retry the failed", action_id=ACTION_RETRY, value=b)], (
            f"Approvers: Retry, or in the console `retry {b}`"
        )
    return [], ""


def _duration(left: timedelta) -> str:
    seconds = int(left.total_seconds())
    if seconds < 90:
        return f"{max(seconds, 1)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
