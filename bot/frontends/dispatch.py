"""The one error boundary: text in, handler run, every failure turned into a private reply.

Slack and the console both come through here, so they behave alike.
"""

from __future__ import annotations

import logging
import uuid

from bot import render
from bot.audit.records import AuditOutcome
from bot.commands.parser import Command, parse
from bot.errors import AuditUnavailable, MimbotError, NotAllowed
from bot.logs import log_failure
from bot.render.reply import Responder
from bot.services import Services
from handlers import handler_for

__all__ = ["run_command"]

log = logging.getLogger(__name__)


def run_command(
    text: str | Command, *, user_id: str, services: Services, respond: Responder
) -> None:
    """Parse (unless given a parsed command), resolve the caller's roles, run the handler;
    answer errors privately."""
    try:
        cmd = parse(text) if isinstance(text, str) else text
        actor = services.roles.actor(user_id)
        try:
            handler_for(cmd.name)(cmd, actor=actor, services=services, respond=respond)
        except NotAllowed as exc:
            # Refusals are audited too (the message says why; it names no one).
            services.audit.record(
                actor=user_id, roles=actor.role_names, action=cmd.name, outcome=AuditOutcome.DENIED,
                request_id=getattr(cmd, "request_id", None) or getattr(cmd, "batch_id", None),
                detail={"why": str(exc)},
            )  # fmt: skip
            raise
    except AuditUnavailable as exc:
        log.error("refused a command: audit store unavailable")
        respond(render.error(exc))
    except MimbotError as exc:
        respond(render.error(exc))
    except Exception as exc:  # noqa: BLE001 - the boundary: log with a ref, tell no details
        ref = uuid.uuid4().hex[:8]
        log_failure(log, "command failed (ref %s)", exc, ref)
        # Whether anything changed before the failure is not known here: say where to look.
        respond(
            render.error(
                f"Something went wrong on our side (ref {ref}). If the command changes "
                "something, /mim requests mine shows whether it did."
            )
        )
