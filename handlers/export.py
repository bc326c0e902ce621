"""`/mim export <subject>`: a copy of a person's data from every system, sent to the caller
by direct message (GDPR Art. 15)."""

from __future__ import annotations

from bot.commands.parser import ExportCommand
from bot.permissions.roles import Actor
from bot.render import exports as render_exports
from bot.render.reply import Responder
from bot.services import Services


def handle_export(
    cmd: ExportCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Resolve to one person, read every system, send the package; answer privately."""
    services.authz.require(actor, "export")
    respond(render_exports.export_done(services.access.export(cmd.query, actor=actor)))
