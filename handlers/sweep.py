"""`/mim sweep [rule]`: whom the retention rules would erase now (requesters), privately."""

from __future__ import annotations

from bot.commands.parser import SweepCommand
from bot.permissions.roles import Actor
from bot.render.reply import Responder
from bot.render.sweeps import sweep_answer
from bot.services import Services


def handle_sweep(
    cmd: SweepCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Requesters. Reads people's identifiers and names (audited as `sweep`, with the keys
    of everyone shown); creates nothing."""
    services.authz.require(actor, "sweep")
    assert services.sweeps is not None  # built with the services
    respond(sweep_answer(services.sweeps.sweep(actor=actor, rule=cmd.rule)))
