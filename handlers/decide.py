"""`approve`, `reject`, `done`, `retry`, `cancel` and `extend` on a request — from buttons
or typed."""

from __future__ import annotations

from bot.commands.parser import BatchCommand, RequestCommand
from bot.commands.table import Verb
from bot.permissions.roles import Actor
from bot.render.reply import Reply, Responder
from bot.services import Services
from handlers.batch import handle_batch


def handle_decide(
    cmd: RequestCommand | BatchCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Roles are re-checked here on every click: button payloads can be stale or forged."""
    if isinstance(cmd, BatchCommand):
        handle_batch(cmd, actor=actor, services=services, respond=respond)
        return
    services.authz.require(actor, cmd.name)
    decisions = services.decisions
    if cmd.name is Verb.APPROVE:
        decision = decisions.approve(cmd.request_id, actor=actor)
        text = (
            f"You approved {cmd.request_id}."
            if not decision.approvals_missing
            else f"Approval recorded; {decision.approvals_missing} more needed."
        )
    elif cmd.name is Verb.REJECT:
        decisions.reject(cmd.request_id, actor=actor, note=cmd.note or "")
        text = f"You rejected {cmd.request_id}."
    elif cmd.name is Verb.CANCEL:
        decisions.cancel(cmd.request_id, actor=actor, note=cmd.note or "")
        text = f"You cancelled {cmd.request_id}; its subject is scrubbed."
    elif cmd.name is Verb.EXTEND:
        request = decisions.extend(cmd.request_id, actor=actor, note=cmd.note or "")
        text = f"{cmd.request_id} is now due {request.due_at:%Y-%m-%d}. Tell the data subject why."
    elif cmd.name is Verb.DONE:
        decisions.step_done(cmd.request_id, cmd.step or 0, actor=actor)
        text = f"Step {cmd.step} of {cmd.request_id} marked done."
    else:
        decisions.retry(cmd.request_id, actor=actor)
        text = f"Retrying {cmd.request_id}."
    respond(Reply(text=text, private=True))
