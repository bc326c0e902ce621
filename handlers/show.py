"""`/mim show <subject>`: attributes, source of authority, last change, lineage; private."""

from __future__ import annotations

from bot.commands.parser import ShowCommand
from bot.permissions.roles import Actor
from bot.render import show as render_show
from bot.render.reply import Responder
from bot.services import Services


def handle_show(cmd: ShowCommand, *, actor: Actor, services: Services, respond: Responder) -> None:
    """One person across the systems that hold them, answered only to the caller."""
    services.authz.require(actor, "show")
    respond(render_show.person_view(services.show.show(cmd.query, actor=actor)))
