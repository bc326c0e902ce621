"""Every `/mim` command, declared once: its verb, usage line, one-line description and the
roles that may run it by default.

`/mim help` lists from here, the parser's usage lines come from here, the authorisation
defaults (`bot/permissions/authz.py`) are read from here, and dispatch
(`handlers/registry.py`) binds one handler to each verb, checked when it is imported. A
command missing any of these fails `tests/commands/test_command_table.py`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bot.permissions.roles import Role

__all__ = [
    "ANYONE",
    "APPROVER_ROLES",
    "COMMANDS",
    "REQUEST_ROLES",
    "CommandSpec",
    "Verb",
]


class Verb(enum.StrEnum):
    HELP = "help"
    FIND = "find"
    SHOW = "show"
    EXPORT = "export"
    UPDATE = "update"
    DELETE = "delete"
    STATUS = "status"
    REQUESTS = "requests"
    APPROVE = "approve"
    REJECT = "reject"
    DONE = "done"
    RETRY = "retry"
    CANCEL = "cancel"
    EXTEND = "extend"
    RETENTION = "retention"
    TELEMETRY = "telemetry"
    DOCTOR = "doctor"
    DATAMAP = "datamap"
    SWEEP = "sweep"
    HOLD = "hold"
    UNHOLD = "unhold"
    DROP = "drop"
    PAUSE = "pause"
    RESUME = "resume"


ANYONE: frozenset[Role] = frozenset()
# Who decides requests and answers for them: approve, reject, retry, extend, cancel a
# failed one. Admin is a technical role: it passes every command gate but decides
# nothing, so that four eyes means a second privacy-accountable person.
APPROVER_ROLES: frozenset[Role] = frozenset({Role.APPROVER})
# Who may track requests (the status/requests/done gate).
REQUEST_ROLES: frozenset[Role] = frozenset(
    {Role.REQUESTER, Role.EXPORTER, Role.APPROVER, Role.AUDITOR}
)


@dataclass(frozen=True)
class CommandSpec:
    verb: Verb
    usage: str
    description: str  # one line, for /mim help
    roles: frozenset[Role]  # the default command gate; empty: anyone. Admin runs all.


_SPECS = (
    CommandSpec(Verb.HELP, "/mim help", "this list", ANYONE),
    CommandSpec(
        Verb.FIND,
        "/mim find user <term>  |  /mim find <attribute>=<value>",
        "search every system for a person (mail, UPN, account, employee ID, name, prefix*)",
        frozenset({Role.VIEWER}),
    ),
    CommandSpec(
        Verb.SHOW,
        "/mim show <subject>",
        "one person: attributes, source of authority, last change, connected systems",
        frozenset({Role.VIEWER}),
    ),
    CommandSpec(
        Verb.EXPORT,
        "/mim export <subject>   (a copy of their data, sent to you by DM)",
        "access request: every system's data about a person, as one zip in your DM",
        frozenset({Role.EXPORTER}),
    ),
    CommandSpec(
        Verb.UPDATE,
        "/mim update <subject> <attribute>=<value> [...] [-- reason]   (quote values "
        'with spaces: title="Head of HR"; attribute="" clears it)',
        "ask for a correction: each change routed to its source of authority, approved",
        frozenset({Role.REQUESTER}),
    ),
    CommandSpec(
        Verb.DELETE,
        '/mim delete <subject> [reason]   (quote a subject with spaces: "Jane Doe")',
        "ask for an erasure: planned per system, approved by another person, verified",
        frozenset({Role.REQUESTER}),
    ),
    CommandSpec(
        Verb.STATUS,
        "/mim status <request-id|batch-id>",
        "where a request or a retention batch stands",
        REQUEST_ROLES,
    ),
    CommandSpec(
        Verb.REQUESTS, "/mim requests [open|mine]", "open requests, or your own", REQUEST_ROLES
    ),
    CommandSpec(
        Verb.APPROVE,
        "/mim approve <request-id|batch-id>",
        "approve an erasure, a correction or a retention batch (approvers; not your own)",
        APPROVER_ROLES,
    ),
    CommandSpec(
        Verb.REJECT,
        "/mim reject <request-id|batch-id> <reason>",
        "reject an erasure, a correction or a retention batch, with a reason",
        APPROVER_ROLES,
    ),
    CommandSpec(
        Verb.DONE,
        "/mim done <request-id> <step>",
        "mark a manual step of a request as done (the step's role)",
        REQUEST_ROLES,
    ),
    CommandSpec(
        Verb.RETRY,
        "/mim retry <request-id|batch-id>",
        "retry a failed request, or a batch's failed erasures (not your own)",
        APPROVER_ROLES,
    ),
    CommandSpec(
        Verb.CANCEL,
        "/mim cancel <request-id> <reason>",
        "close a request not decided yet or failed, with a reason (it is scrubbed)",
        # Requesters may withdraw their own request before it is decided (authz rules).
        frozenset({Role.REQUESTER}) | APPROVER_ROLES,
    ),
    CommandSpec(
        Verb.EXTEND,
        "/mim extend <request-id> <reason>",
        "extend a request's due date once, by the policy's months (not your own)",
        APPROVER_ROLES,
    ),
    CommandSpec(
        Verb.RETENTION,
        "/mim retention",
        "the MIM Service's RetentionPeriod: when erasures' MIM Service residuals go",
        frozenset({Role.VIEWER}),
    ),
    CommandSpec(
        Verb.TELEMETRY,
        "/mim telemetry  |  /mim telemetry disable",
        "each MIM server's CEIP (telemetry) opt-out; disable: opt out",
        frozenset({Role.ADMIN}),
    ),
    CommandSpec(
        Verb.DOCTOR,
        "/mim doctor",
        "check, read-only, what the bot assumes about each connected system",
        frozenset({Role.ADMIN}),
    ),
    CommandSpec(
        Verb.SWEEP,
        "/mim sweep [rule]",
        "run the retention rules: their people as one batch for approval; who is kept out",
        frozenset({Role.REQUESTER}),
    ),
    CommandSpec(
        Verb.DROP,
        "/mim drop <batch-id> <number> [<number> ...]",
        "take people (by their number in its list) out of a batch before approving it",
        APPROVER_ROLES,
    ),
    CommandSpec(
        Verb.PAUSE,
        "/mim pause <batch-id>",
        "pause a running retention batch: no new erasure starts",
        APPROVER_ROLES,
    ),
    CommandSpec(
        Verb.RESUME,
        "/mim resume <batch-id>",
        "resume a paused retention batch",
        APPROVER_ROLES,
    ),
    CommandSpec(
        Verb.HOLD,
        '/mim hold <subject> <reason>   (quote a subject with spaces: "Jane Doe")',
        "put a person on hold (GDPR Art. 17(3)): no erasure, no sweep, until lifted",
        APPROVER_ROLES,
    ),
    CommandSpec(
        Verb.UNHOLD,
        "/mim unhold <subject>",
        "lift a person's hold: they may be erased again",
        APPROVER_ROLES,
    ),
    CommandSpec(
        Verb.DATAMAP,
        "/mim datamap",
        "the estate's data map (GDPR Art. 30): a summary here, the full map in your DM",
        frozenset({Role.PRIVACY_OFFICER}),
    ),
)

# In the order help lists them.
COMMANDS: Mapping[Verb, CommandSpec] = MappingProxyType({s.verb: s for s in _SPECS})
