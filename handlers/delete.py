"""`/mim delete <subject> [reason]`: plan an erasure and send it for approval."""

from __future__ import annotations

from bot.commands.parser import DeleteCommand
from bot.permissions.roles import Actor
from bot.render import requests as render_requests
from bot.render.reply import Responder
from bot.services import Services


def handle_delete(
    cmd: DeleteCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Resolve to one person, plan per system, record, post for approval; confirm privately."""
    services.authz.require(actor, "delete")
    request = services.erasure.request(cmd.query, actor=actor, reason=cmd.reason)
    respond(render_requests.request_created(request))
