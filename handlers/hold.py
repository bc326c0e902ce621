"""`/mim hold <subject> <reason>` and `/mim unhold <subject>`: people who must not be
erased while a legal claim or obligation stands (GDPR Art. 17(3)). Approvers only."""

from __future__ import annotations

from bot.audit.records import AuditOutcome
from bot.commands.parser import HoldCommand
from bot.commands.table import Verb
from bot.lookup.subjects import single_subject
from bot.permissions.roles import Actor
from bot.render.holds import hold_lifted, hold_placed, no_hold
from bot.render.reply import Responder
from bot.services import Services
from bot.workflow.subject_keys import hold_keys, subject_keys


def handle_hold(cmd: HoldCommand, *, actor: Actor, services: Services, respond: Responder) -> None:
    """Resolve to one person (as `delete` does), then place or lift the hold by the keys
    that name them; audited (`hold_placed`, `hold_lifted`) with the person's subject key."""
    command = cmd.name.value
    services.authz.require(actor, command)
    assert services.holds is not None  # built with the services
    result = services.search.find(cmd.query, actor=actor, command=command)
    subject = single_subject(result).subject()
    keys = subject_keys(services.keyer, subject)
    every = hold_keys(services.keyer, subject, keys)
    if cmd.name is Verb.HOLD:
        hold = services.holds.place(every, reason=cmd.reason or "", placed_by=actor.user_id)
        services.audit.record(
            actor=actor.user_id, roles=actor.role_names, action="hold_placed",
            outcome=AuditOutcome.OK, subject_key=keys.subject[0],
            detail={"hold": hold.hold_id, "new": hold.placed_by == actor.user_id},
        )  # fmt: skip
        respond(hold_placed(subject.display_name or subject.account or "", hold))
        return
    lifted = services.holds.lift(every)
    services.audit.record(
        actor=actor.user_id, roles=actor.role_names, action="hold_lifted",
        outcome=AuditOutcome.OK if lifted else AuditOutcome.FAILED, subject_key=keys.subject[0],
        detail={"holds": [h.hold_id for h in lifted]},
    )  # fmt: skip
    name = subject.display_name or subject.account or ""
    respond(hold_lifted(name, lifted) if lifted else no_hold(name))
