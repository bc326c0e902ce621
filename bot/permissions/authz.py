"""Who may do what: the one authorisation policy, for handlers and domain alike.

First the command gate (`may`, `require`: deny by default, admin runs everything), then
the request rules (`require_view`, `require_decide`, ...: one table, `REQUEST_RULES`, by
role and by whether the request is the caller's own). Only who-questions are answered
here; whether a request's status allows a change is the domain's (RequestStateError).
Refusals are plain text: the front end formats them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from bot.commands.table import APPROVER_ROLES, COMMANDS, REQUEST_ROLES
from bot.errors import NotAllowed
from bot.permissions.roles import Actor, Role, role_named
from bot.workflow.requests import Request, Status, Step

__all__ = [
    "APPROVER_ROLES",
    "DEFAULT_PERMISSIONS",
    "REQUEST_ROLES",
    "REQUEST_RULES",
    "SEES_ALL_ROLES",
    "Authorizer",
    "Rule",
]

# Who sees every request, not only their own.
SEES_ALL_ROLES: frozenset[Role] = frozenset({Role.APPROVER, Role.AUDITOR, Role.ADMIN})

# The command gate: command -> the roles that may run it (empty: anyone), as each command
# declares it (bot/commands/table.py), and the CLI's `check`. app.yaml `permissions:`
# overrides. Admin may run everything. REQUEST_RULES then decide per request.
DEFAULT_PERMISSIONS: Mapping[str, frozenset[Role]] = MappingProxyType(
    {**{v.value: c.roles for v, c in COMMANDS.items()}, "check": frozenset({Role.ADMIN})}
)


@dataclass(frozen=True)
class Rule:
    """Who may act on a request: holders of `roles` on any, its requester on their own."""

    roles: frozenset[Role]
    requester: bool  # the request's requester may act on it whatever roles they hold
    four_eyes: bool  # under policy.four_eyes, a role holder may not act on their own request
    refusal: str
    four_eyes_refusal: str = ""


# The request rules, after the command gate. `done` adds the step's assigned role.
REQUEST_RULES: Mapping[str, Rule] = MappingProxyType(
    {
        "view": Rule(
            SEES_ALL_ROLES,
            requester=True,
            four_eyes=False,
            refusal="You can see the status of your own requests only.",
        ),
        "decide": Rule(
            APPROVER_ROLES,
            requester=False,
            four_eyes=True,
            refusal="Only the approver role can decide requests.",
            four_eyes_refusal="You made this request; another approver must decide it.",
        ),
        # Retrying runs the erasure again, and extending is the controller's decision
        # (GDPR Art. 12(3)): both by someone other than the requester, as approval is.
        "retry": Rule(
            APPROVER_ROLES,
            requester=False,
            four_eyes=True,
            refusal="Retry needs the approver role.",
            four_eyes_refusal="You made this request; another approver must retry it.",
        ),
        "extend": Rule(
            APPROVER_ROLES,
            requester=False,
            four_eyes=True,
            refusal="Extending a due date needs the approver role.",
            four_eyes_refusal="You made this request; another approver must extend it.",
        ),
        # Any status but failed: the requester withdraws, or an approver closes. Whether
        # the status can be cancelled at all is the domain's question.
        "cancel": Rule(
            APPROVER_ROLES,
            requester=True,
            four_eyes=False,
            refusal="Only the requester or an approver can cancel a request.",
        ),
        "cancel_failed": Rule(
            APPROVER_ROLES,
            requester=False,
            four_eyes=True,
            refusal="Only an approver can cancel a failed request.",
            four_eyes_refusal="You made this request; another approver must close it.",
        ),
        "done": Rule(
            frozenset({Role.ADMIN}),
            requester=False,
            four_eyes=False,
            refusal="Step {seq} is for the {role} role.",
        ),
    }
)


class Authorizer:
    """The command gate and the request rules, under one four-eyes policy."""

    def __init__(
        self,
        permissions: Mapping[str, frozenset[Role]],
        *,
        four_eyes: bool = True,
        step_owners: frozenset[Role] = frozenset(),
    ) -> None:
        self._permissions: Mapping[str, frozenset[Role]] = MappingProxyType(dict(permissions))
        self.four_eyes = four_eyes
        # Roles policy gives manual steps to (not the requester's: that is per request).
        self.step_owners = step_owners - {Role.REQUESTER}

    @classmethod
    def from_config(
        cls,
        permissions: Mapping[str, str | Sequence[str]] | None,
        *,
        four_eyes: bool,
        step_roles: Iterable[str] = (),
    ) -> Authorizer:
        """DEFAULT_PERMISSIONS with app.yaml's `permissions:` over them ("anyone": no role).
        The roles that own manual steps (`policy.manual_step_roles`) also pass the `done`
        and `status` gates: the step's own rule then decides (`require_step_done`,
        `require_view`)."""
        merged: dict[str, frozenset[Role]] = dict(DEFAULT_PERMISSIONS)
        for command, names in (permissions or {}).items():
            listed = [names] if isinstance(names, str) else list(names)
            merged[command] = frozenset(
                role_named(n, "permissions") for n in listed if n != "anyone"
            )
        owners = frozenset(role_named(n, "policy.manual_step_roles") for n in step_roles)
        for command in ("done", "status"):
            if merged.get(command):  # an open gate ("anyone") stays open
                merged[command] = merged[command] | owners
        return cls(merged, four_eyes=four_eyes, step_owners=owners)

    @property
    def permissions(self) -> Mapping[str, frozenset[Role]]:
        """The command gate in force (read-only)."""
        return self._permissions

    # -- the command gate -----------------------------------------------------------

    def may(self, actor: Actor, command: str) -> bool:
        """Deny by default: an unknown command is allowed to nobody but admin."""
        if Role.ADMIN in actor.roles:
            return True
        if command not in self._permissions:
            return False
        needed = self._permissions[command]
        return not needed or bool(needed & actor.roles)

    def require(self, actor: Actor, command: str) -> None:
        """Raise NotAllowed (plain text) unless the actor may run `command`."""
        if self.may(actor, command):
            return
        # In words ("privacy officer"): plain text, so no underscore reads as markup.
        needed = sorted(
            r.value.replace("_", " ") for r in self._permissions.get(command, {Role.ADMIN})
        )
        noun = "role" if len(needed) == 1 else "roles"
        raise NotAllowed(
            f"Sorry, /mim {command} needs the {' or '.join(needed)} {noun}. "
            "Ask your IAM team if you should have it."
        )

    # -- the request rules ----------------------------------------------------------

    def decides(self, actor: Actor) -> bool:
        """Whether the actor holds a role that decides requests (approve, retry, close)."""
        return bool(actor.roles & APPROVER_ROLES)

    def sees_all(self, actor: Actor) -> bool:
        """Whether the actor sees every request, not only their own (/mim requests)."""
        return bool(actor.roles & SEES_ALL_ROLES)

    def require_view(self, actor: Actor, request: Request) -> None:
        """A requester sees their own requests; approvers, auditors and admins see all;
        the owner of a manual step still to do sees its request (whom to erase, where)."""
        owns = {r.value for r in actor.roles & self.step_owners}
        if any(s.manual and not s.done_by and s.assigned_role in owns for s in request.steps):
            return
        self._check("view", actor, request)

    def require_decide(self, actor: Actor, request: Request) -> None:
        """Approve or reject: an approver, not on their own request under four eyes."""
        self._check("decide", actor, request)

    def require_retry(self, actor: Actor, request: Request) -> None:
        """Retry a failed request: an approver, not on their own request under four eyes."""
        self._check("retry", actor, request)

    def require_extend(self, actor: Actor, request: Request) -> None:
        """Extend the due date: an approver, not on their own request under four eyes."""
        self._check("extend", actor, request)

    def require_cancel(self, actor: Actor, request: Request) -> None:
        """The requester or an approver; a failed request an approver only, not their own."""
        failed = request.status is Status.FAILED
        self._check("cancel_failed" if failed else "cancel", actor, request)

    def require_step_done(self, actor: Actor, step: Step) -> None:
        """A manual step is done: the step's assigned role (default requester), or admin."""
        rule = REQUEST_RULES["done"]
        assigned = step.assigned_role or Role.REQUESTER.value
        roles = rule.roles | {r for r in Role if r.value == assigned}  # unknown: admin only
        if not roles & actor.roles:
            raise NotAllowed(rule.refusal.format(seq=step.seq, role=assigned))

    def _check(self, name: str, actor: Actor, request: Request) -> None:
        rule = REQUEST_RULES[name]
        own = actor.user_id == request.requester
        if rule.roles & actor.roles:
            if own and rule.four_eyes and self.four_eyes:
                raise NotAllowed(rule.four_eyes_refusal)
            return
        if own and rule.requester:
            return
        raise NotAllowed(rule.refusal)
