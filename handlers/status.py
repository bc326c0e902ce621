"""`/mim status <id>` and `/mim requests [open|mine]`: request tracking, privately."""

from __future__ import annotations

from bot import render_requests
from bot.commands import RequestCommand, RequestsCommand
from bot.errors import NotAllowed
from bot.reply import Responder
from bot.requests import OPEN
from bot.roles import Actor, Role
from bot.services import Services


def handle_status(
    cmd: RequestCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """A requester sees their own requests; approvers and auditors see all."""
    services.roles.require(actor, "status")
    request = services.requests.get(cmd.request_id)
    if request.requester != actor.user_id and not actor.roles & {
        Role.APPROVER,
        Role.AUDITOR,
        Role.ADMIN,
    }:
        raise NotAllowed("You can see the status of your own requests only.")
    respond(render_requests.request_status(request))


def handle_requests(
    cmd: RequestsCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    services.roles.require(actor, "requests")
    sees_all = bool(actor.roles & {Role.APPROVER, Role.AUDITOR, Role.ADMIN})
    mine = cmd.scope == "mine" or not sees_all
    ids = services.requests.ids(
        statuses=None if mine else OPEN, requester=actor.user_id if mine else None
    )
    respond(
        render_requests.request_list(
            [services.requests.get(i) for i in ids], "mine" if mine else "open"
        )
    )
