"""`/mim sweep [rule]`: the retention rules run now (requesters); their people become one
batch request in the approvals channel, and the answer, private, says who is kept out."""

from __future__ import annotations

from bot.commands.parser import SweepCommand
from bot.permissions.roles import Actor
from bot.render.reply import Responder
from bot.render.sweeps import sweep_answer
from bot.services import Services


def handle_sweep(
    cmd: SweepCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Requesters. Reads people's identifiers and names (audited as `retention_sweep`,
    with the keys of everyone shown); the batch it proposes is audited as `batch_proposed`
    and erases nobody until another approver approves it."""
    services.authz.require(actor, "sweep")
    assert services.sweeps is not None and services.batches is not None  # built with them
    sweep = services.sweeps.sweep(actor=actor, rule=cmd.rule)
    batch = services.batches.propose(sweep, actor=actor)
    respond(sweep_answer(sweep, batch))
