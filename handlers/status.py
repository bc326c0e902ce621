"""`/mim status <id>` and `/mim requests [open|mine]`: request tracking, privately."""

from __future__ import annotations

from bot.commands.parser import BatchCommand, RequestCommand, RequestsCommand
from bot.permissions.roles import Actor
from bot.render import requests as render_requests
from bot.render.reply import Responder
from bot.services import Services
from bot.workflow.deadlines import by_urgency
from bot.workflow.requests import OPEN
from handlers.batch import handle_batch


def handle_status(
    cmd: RequestCommand | BatchCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """A requester sees their own requests; approvers and auditors see all."""
    if isinstance(cmd, BatchCommand):
        handle_batch(cmd, actor=actor, services=services, respond=respond)
        return
    services.authz.require(actor, "status")
    request = services.requests.get(cmd.request_id)
    services.authz.require_view(actor, request)
    respond(render_requests.request_status(request))


def handle_requests(
    cmd: RequestsCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    services.authz.require(actor, "requests")
    mine = cmd.scope == "mine" or not services.authz.sees_all(actor)
    ids = services.requests.ids(
        statuses=None if mine else OPEN, requester=actor.user_id if mine else None
    )
    now = services.requests.clock()
    listed = by_urgency(services.requests.many(ids), now)  # overdue first
    respond(render_requests.request_list(listed, "mine" if mine else "open", now))
