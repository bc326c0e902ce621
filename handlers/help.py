"""`/mim help`: the commands this caller may run, and nothing else."""

from __future__ import annotations

from bot import render
from bot.commands.parser import HelpCommand
from bot.commands.table import COMMANDS
from bot.permissions.roles import Actor
from bot.render.reply import Responder
from bot.services import Services


def handle_help(cmd: HelpCommand, *, actor: Actor, services: Services, respond: Responder) -> None:
    """List the usage lines of the commands the caller's roles allow."""
    allowed = [
        (c.usage, c.description) for c in COMMANDS.values() if services.authz.may(actor, c.verb)
    ]
    respond(render.help_text(allowed))
