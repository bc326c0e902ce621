"""`/mim doctor`: the read-only check of each connected system's assumptions, privately."""

from __future__ import annotations

from bot.commands.parser import DoctorCommand
from bot.ops.doctor import TIMEOUT, examine
from bot.permissions.roles import Actor
from bot.render.doctor import doctor_answer
from bot.render.reply import Responder
from bot.services import Services


def handle_doctor(
    cmd: DoctorCommand, *, actor: Actor, services: Services, respond: Responder
) -> None:
    """Admins only. Not audited: it reads configuration, versions and schemas, no
    personal data, and writes nothing (a refusal is audited by the dispatcher)."""
    services.authz.require(actor, "doctor")
    respond(doctor_answer(examine(services.connectors, timeout=TIMEOUT)))
