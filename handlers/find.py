"""`/mim find user <term>` and `/mim find <attribute>=<value>`: cross-system search, private."""

from __future__ import annotations

from bot import render
from bot.commands.parser import FindCommand
from bot.permissions.roles import Actor
from bot.render.reply import Responder
from bot.services import Services


def handle_find(cmd: FindCommand, *, actor: Actor, services: Services, respond: Responder) -> None:
    """Search all systems, audited, and answer only the caller."""
    services.authz.require(actor, "find")
    result = services.search.find(cmd.query, actor=actor)
    respond(render.find_result(result))
