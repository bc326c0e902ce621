"""`/mim retention`: the MIM Service's RetentionPeriod and when erasures' MIM Service
residual copies go, privately."""

from __future__ import annotations

from bot.commands.parser import RetentionCommand
from bot.ops.retention import retention
from bot.permissions.roles import Actor
from bot.render.reply import Responder
from bot.render.retention import retention_answer
from bot.services import Services


def handle_retention(
    cmd: RetentionCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Viewers and up. Not audited: it reads a configuration value and request ids and
    dates, no personal data (a refusal is audited by the dispatcher, as for every command)."""
    services.authz.require(actor, "retention")
    answer = retention(
        services.connectors, services.requests, timeout=services.config.search.timeout_seconds
    )
    respond(retention_answer(answer))
