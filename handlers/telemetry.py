"""`/mim telemetry` and `/mim telemetry disable`: each MIM server's CEIP opt-out, privately."""

from __future__ import annotations

from bot.commands.parser import TelemetryCommand
from bot.ops.telemetry import disable, read
from bot.permissions.roles import Actor
from bot.render.reply import Responder
from bot.render.telemetry import disable_confirmation, telemetry_answer
from bot.services import Services


def handle_telemetry(
    cmd: TelemetryCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Admins only; checked again when the confirmation's button is clicked (it arrives as
    `telemetry disable confirm` through the same dispatcher). Reading is not audited (host
    names and numbers, no personal data); opting out is (`telemetry_disabled`)."""
    services.authz.require(actor, "telemetry")
    timeout = services.config.search.timeout_seconds
    if cmd.disable and not cmd.confirmed:
        respond(disable_confirmation(read(services.connectors, timeout=timeout)))
        return
    if cmd.disable:
        answer = disable(services.connectors, services.audit, actor, timeout=timeout)
    else:
        answer = read(services.connectors, timeout=timeout)
    respond(telemetry_answer(answer))
