"""Block Kit for requests: the approval message, manual steps, results, status and lists.

The approval message shows only what an approver needs: the subject's display
name and account, the requester, the reason, the plan and the due date. After
completion the request is scrubbed, and the redrawn message no longer names
the person.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.config import RoleMembers
from bot.render.deadlines import KIND_TEXT, due_text
from bot.render.markup import clip, dicts, mention, mrkdwn_escape, usergroup_mention
from bot.render.reply import Reply
from bot.workflow.deadlines import days_left
from bot.workflow.requests import OPEN, Request, RequestKind, Status, Step, StepState
from connectors.base import DeletePlan, PlanAction, UpdatePlan

__all__ = [
    "ACTION_APPROVE",
    "ACTION_DONE",
    "ACTION_REJECT",
    "ACTION_RETRY",
    "approval_message",
    "finished_message",
    "manual_step_message",
    "request_created",
    "request_list",
    "request_status",
]

ACTION_APPROVE = "mim_approve"
ACTION_REJECT = "mim_reject"
ACTION_DONE = "mim_step_done"
ACTION_RETRY = "mim_retry"
_DAY = "%Y-%m-%d"

STATE_ICON = {
    StepState.PENDING: ":white_circle:",
    StepState.RUNNING: ":arrows_counterclockwise:",
    StepState.WAITING: ":hourglass_flowing_sand:",
    StepState.DONE: ":white_check_mark:",
    StepState.FAILED: ":x:",
    StepState.SKIPPED: ":fast_forward:",
}
STATUS_TEXT = {
    Status.PLANNED: "planned",
    Status.AWAITING_APPROVAL: ":hourglass: awaiting approval",
    Status.APPROVED: ":white_check_mark: approved",
    Status.RUNNING: ":gear: running",
    Status.VERIFYING: ":mag: verifying absence",
    Status.COMPLETED: ":white_check_mark: completed",
    Status.COMPLETED_WITH_RESIDUALS: ":white_check_mark: completed (residual copies listed)",
    Status.FAILED: ":x: failed",
    Status.REJECTED: ":no_entry: rejected",
    Status.EXPIRED: ":alarm_clock: expired (not decided in time)",
    Status.CANCELLED: "cancelled",
}


def _subject_line(request: Request) -> str:
    s = request.subject
    if s is None:
        return f"_subject scrubbed ({request.status.value.replace('_', ' ')})_"
    account = f" ({mrkdwn_escape(s.account)})" if s.account else ""
    return f"*{mrkdwn_escape(s.display_name)}*{account}"


def _noun(request: Request) -> str:
    """What a request is called in its messages."""
    return {RequestKind.RECTIFICATION: "Rectification", RequestKind.ACCESS: "Access"}.get(
        request.kind, "Erasure"
    )


def _changes(step: Step) -> str:
    """A rectification step's new values, for the approver (private channel; never
    audited): each escaped, a cleared one said so."""
    if not isinstance(step.plan, UpdatePlan):
        return ""
    # One line a change: a value cannot pass itself off as a second change.
    return "".join(
        f"\n      ↳ {mrkdwn_escape(c.attribute)}: "
        + (f"“{mrkdwn_escape(c.value)}”" if c.value else "_cleared_")
        for c in step.plan.changes
    )


def step_line(step: Step) -> str:
    who = (
        f" — for *{step.assigned_role}*" if step.manual and step.state is StepState.PENDING else ""
    )
    by = f" (by {mention(step.done_by)})" if step.done_by else ""
    err = f" — {mrkdwn_escape(step.error)}" if step.error else ""
    detail = (
        f" — {mrkdwn_escape(step.detail)}"
        if step.detail and step.state in (StepState.DONE, StepState.WAITING)
        else ""
    )
    return (
        f"{STATE_ICON[step.state]} {step.seq}. *{mrkdwn_escape(step.system)}*: "
        f"{mrkdwn_escape(step.summary)}{_changes(step)}{who}{by}{detail}{err}"
    )


_ACCESS_TEXT = {
    Status.COMPLETED: "a copy of the person's data from every system went to the "
    "requester by direct message (its SHA-256 is in the audit trail)",
    Status.FAILED: "a copy went to the requester without the systems that could not be "
    "read: the same `/mim export` reads them, or an approver closes it with a reason",
}


def _plan_text(request: Request) -> str:
    if request.kind is RequestKind.ACCESS:
        what = _ACCESS_TEXT.get(request.status, "every system is being read")
        return f"*Access request*\n{what}"
    lines = [step_line(s) for s in request.steps if s.action is not PlanAction.NONE] or [
        "_nothing to do in any system_"
    ]
    notes = [f"{s.system}: {s.summary}" for s in request.steps if s.action is PlanAction.NONE] + [
        n for s in request.steps if s.plan for n in s.plan.notes
    ]
    if notes:
        lines += ["_Notes:_"] + [f"• {mrkdwn_escape(n)}" for n in notes]
    return clip("*Plan*\n" + "\n".join(lines))


def _residual_text(request: Request) -> str | None:
    residuals = request.residuals or [
        r for s in request.steps if isinstance(s.plan, DeletePlan) for r in s.plan.residuals
    ]
    if not residuals:
        return None
    # Copies without a date go when something happens, which the text names.
    lines = dict.fromkeys(
        f"• {mrkdwn_escape(r.description)}" + (f" — until {r.expires:{_DAY}}" if r.expires else "")
        for r in residuals
    )
    return clip("*Residual copies*\n" + "\n".join(lines))


def approval_message(request: Request) -> Reply:
    """The message in the approvals channel, redrawn as the request moves."""
    decided = ""
    if request.decided_by and request.status is not Status.AWAITING_APPROVAL:
        verb = {Status.REJECTED: "Rejected", Status.CANCELLED: "Cancelled"}.get(
            request.status, "Approved"
        )
        note = f": {mrkdwn_escape(request.decision_note)}" if request.decision_note else ""
        decided = f"\n{verb} by {mention(request.decided_by)}{note}"
    blocks: list[Block] = [
        HeaderBlock(text=f"{_noun(request)} request {request.id}"),
        SectionBlock(
            text=MarkdownTextObject(
                text=clip(
                    f"Subject: {_subject_line(request)}\n"
                    f"Requested by {mention(request.requester)}"
                    + (f" — reason: {mrkdwn_escape(request.reason)}" if request.reason else "")
                    + f"\nDue {request.due_at.strftime(_DAY)}"
                    + (
                        f" · approvals {len(request.approvals)}/{request.approvals_needed}"
                        if request.kind is not RequestKind.ACCESS  # an export needs no approval
                        else ""
                    )
                    + f"\nStatus: {STATUS_TEXT[request.status]}{decided}"
                )
            )
        ),
        SectionBlock(text=MarkdownTextObject(text=_plan_text(request))),
    ]
    residuals = _residual_text(request)
    if residuals:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=residuals)))
    if request.status is Status.AWAITING_APPROVAL:
        blocks.append(
            ActionsBlock(
                block_id=f"decide:{request.id}",
                elements=[
                    ButtonElement(
                        text="Approve", action_id=ACTION_APPROVE, value=request.id, style="primary"
                    ),
                    ButtonElement(
                        text="Reject", action_id=ACTION_REJECT, value=request.id, style="danger"
                    ),
                ],
            )
        )
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=(
                            f"Approvers only; not the requester. Expires "
                            f"{request.expires_at.strftime('%Y-%m-%d %H:%M UTC')}. "
                            f"Console: `approve {request.id}` / "
                            f"`reject {request.id} &lt;reason&gt;`"
                        )
                    )
                ]
            )
        )
    text = f"{_noun(request)} request {request.id}: {request.status.value}"
    return Reply(text=text, blocks=dicts(blocks), private=False)


def manual_step_message(request: Request, step: Step, owners: RoleMembers | None = None) -> Reply:
    """The step, its Done button, and a mention of whoever owns it: the members of its
    role (users and user groups), or the requester when the requester's role owns it."""
    if step.assigned_role in (None, "requester"):
        who = mention(request.requester)
    else:
        members = owners or RoleMembers()
        who = (
            " ".join([*map(mention, members.users), *map(usergroup_mention, members.usergroups)])
            or "_nobody holds this role yet_"
        )
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=clip(
                    f":raised_hand: Manual step {step.seq} of {request.id}, for the "
                    f"*{step.assigned_role}* role ({who}):\n{mrkdwn_escape(step.summary)}"
                    # The value stays off this reply, which outlives the request's scrub.
                    + (f"\nThe new value: `/mim status {request.id}`" if step.plan else "")
                )
            )
        ),
        ActionsBlock(
            block_id=f"step:{request.id}:{step.seq}",
            elements=[
                ButtonElement(
                    text="Done",
                    action_id=ACTION_DONE,
                    value=f"{request.id}:{step.seq}",
                    style="primary",
                )
            ],
        ),
        ContextBlock(
            elements=[MarkdownTextObject(text=f"Console: `done {request.id} {step.seq}`")]
        ),
    ]
    return Reply(
        text=f"Manual step {step.seq} of {request.id}", blocks=dicts(blocks), private=False
    )


def finished_message(request: Request) -> Reply:
    """Completion or failure: per-system results and residual expiry; no personal data."""
    ok = request.status in (Status.COMPLETED, Status.COMPLETED_WITH_RESIDUALS)
    head = f"{_noun(request)} {request.id} {'completed' if ok else 'failed'}"
    checks = request.report.systems if request.report else {}
    lines = []
    for system, check in checks.items():
        state = {True: "absent", False: "still present", None: "could not verify"}[check.absent]
        # The detail says what a check could not prove (e.g. where to look): safe text.
        detail = f" — {mrkdwn_escape(check.detail)}" if check.detail else ""
        lines.append(f"• *{mrkdwn_escape(system)}*: {state}{detail}")
    # A correction's steps each read their change back (the details say which attributes).
    lines += [
        f"• step {s.seq} ({mrkdwn_escape(s.system)}): {mrkdwn_escape(s.detail or 'done')}, "
        "read back"
        for s in request.steps
        if s.action is PlanAction.UPDATE and s.state is StepState.DONE
    ]
    # What people did by hand is their word, not a check: say so.
    lines += [
        f"• step {s.seq} (by hand): done by {mention(s.done_by)}, attested, not checked by mimbot"
        for s in request.steps
        if s.manual and s.state is StepState.DONE and s.done_by
    ]
    failed = [s for s in request.steps if s.state is StepState.FAILED]
    if not ok:
        where = (
            f"step {failed[0].seq} ({mrkdwn_escape(failed[0].system)}): "
            f"{mrkdwn_escape(failed[0].error or '')}"
            if failed
            else mrkdwn_escape((request.report and request.report.failed_step) or "verification")
        )
        lines.insert(0, f"Failing: {where}")
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(text=clip(f"*{head}*\n" + ("\n".join(lines) if lines else "")))
        ),
    ]
    residuals = _residual_text(request)
    if residuals:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=residuals)))
    if not ok:
        blocks.append(
            ActionsBlock(
                block_id=f"retry:{request.id}",
                elements=[ButtonElement(text="Retry", action_id=ACTION_RETRY, value=request.id)],
            )
        )
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"Approvers: Retry, or in the console `retry {request.id}`"
                    )
                ]
            )
        )
    return Reply(text=head, blocks=dicts(blocks), private=False)


def request_created(request: Request) -> Reply:
    steps = [s for s in request.steps if s.action is not PlanAction.NONE]  # notes are no step
    due = f"({len(steps)} step(s)); due {request.due_at.strftime(_DAY)}."
    if request.message_ts:
        return Reply(
            text=f"{_noun(request)} request {request.id} created and sent for approval {due}"
        )
    return Reply(
        text=(
            f"{_noun(request)} request {request.id} created {due} No approval message could be "
            "posted "
            f"to the approvals channel: an approver can run `/mim approve {request.id}`."
        )
    )


def request_status(request: Request) -> Reply:
    message = approval_message(request)
    blocks = [b for b in message.blocks if b["type"] != "actions"]
    return Reply(text=message.text, blocks=tuple(blocks), private=True)


def request_list(requests: Sequence[Request], scope: str, now: datetime) -> Reply:
    if not requests:
        return Reply(text=f"No {scope} requests.", private=True)
    lines: list[str] = []
    for r in requests[:40]:
        left = f" ({due_text(days_left(r, now))})" if r.status in OPEN else ""
        warn = ":rotating_light: " if r.status in OPEN and r.due_at <= now else ""
        lines.append(
            f"{warn}`{r.id}` {KIND_TEXT.get(r.kind, r.kind)} · {STATUS_TEXT[r.status]} · "
            f"by {mention(r.requester)} · due {r.due_at.strftime(_DAY)}{left}"
        )
    blocks: list[Any] = [
        HeaderBlock(text=f"Requests ({scope})"),
        SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines)))),
    ]
    return Reply(text="\n".join(lines), blocks=dicts(blocks), private=True)
