"""`/mim help`: the commands this caller may run, and nothing else."""

from __future__ import annotations

from bot import render
from bot.commands import USAGE, HelpCommand
from bot.render.reply import Responder
from bot.roles import Actor
from bot.services import Services

DESCRIPTIONS = {
    "help": "this list",
    "find": "search every system for a person (mail, UPN, account, employee ID, name, prefix*)",
    "show": "one person: attributes, source of authority, last change, connected systems",
    "delete": "ask for an erasure: planned per system, approved by another person, verified",
    "status": "where a request stands",
    "requests": "open requests, or your own",
    "approve": "approve an erasure request (approvers; not your own)",
    "reject": "reject an erasure request, with a reason",
    "done": "mark a manual step of a request as done",
    "retry": "retry a failed request",
    "cancel": "close a request not decided yet or failed, with a reason (it is scrubbed)",
    "extend": "extend a request's due date once, by the policy's months, with a reason",
    "retention": "the MIM Service's RetentionPeriod: when erasures' MIM Service residuals go",
    "telemetry": "each MIM server's CEIP (telemetry) opt-out; disable: opt out (admins)",
}


def handle_help(cmd: HelpCommand, *, actor: Actor, services: Services, respond: Responder) -> None:
    """List the usage lines of the commands the caller's roles allow."""
    allowed = [
        (USAGE[name], DESCRIPTIONS[name]) for name in USAGE if services.authz.may(actor, name)
    ]
    respond(render.help_text(allowed))
