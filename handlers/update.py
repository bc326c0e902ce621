"""`/mim update <subject> <attribute>=<value> ... [reason]`: a correction at the source of
authority, sent for approval like an erasure."""

from __future__ import annotations

from bot.commands.parser import UpdateCommand
from bot.permissions.roles import Actor
from bot.render import requests as render_requests
from bot.render.reply import Responder
from bot.services import Services
from connectors.base import Change


def handle_update(
    cmd: UpdateCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Resolve to one person, route each change to its source, post for approval."""
    services.authz.require(actor, "update")
    changes = [Change(attribute, value) for attribute, value in cmd.changes]
    request = services.rectification.request(cmd.query, changes, actor=actor, reason=cmd.reason)
    respond(render_requests.request_created(request))
