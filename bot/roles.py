"""Who may do what: roles from Slack user ids and user groups, a permission per command.

Deny by default: a command with no permission entry, or a caller in no role
that grants it, is refused. Roles are looked up on every request; user-group
members come from Slack (usergroups.users.list) through an injected lookup and
are cached with a TTL, since that method is rate-limited (Tier 2).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.config import RoleMembers
from bot.errors import ConfigError, NotAllowed

__all__ = ["DEFAULT_PERMISSIONS", "Actor", "Role", "RoleResolver"]

log = logging.getLogger(__name__)


class Role(enum.Enum):
    VIEWER = "viewer"
    EXPORTER = "exporter"
    REQUESTER = "requester"
    APPROVER = "approver"
    AUDITOR = "auditor"
    ADMIN = "admin"


_REQUEST_ROLES = frozenset({Role.REQUESTER, Role.APPROVER, Role.AUDITOR})

# command -> the roles that may run it (empty: anyone). app.yaml `permissions:` overrides.
# Admin may run everything. Approve/reject/retry/done re-check finer rules in the domain.
DEFAULT_PERMISSIONS: Mapping[str, frozenset[Role]] = {
    "help": frozenset(),
    "find": frozenset({Role.VIEWER}),
    "show": frozenset({Role.VIEWER}),
    "delete": frozenset({Role.REQUESTER}),
    "status": _REQUEST_ROLES,
    "requests": _REQUEST_ROLES,
    "approve": frozenset({Role.APPROVER}),
    "reject": frozenset({Role.APPROVER}),
    "retry": frozenset({Role.APPROVER}),
    # Requesters may withdraw their own request before it is decided (checked in the domain).
    "cancel": frozenset({Role.REQUESTER, Role.APPROVER}),
    "extend": frozenset({Role.APPROVER}),
    "done": _REQUEST_ROLES,
    "check": frozenset({Role.ADMIN}),
}


@dataclass(frozen=True)
class Actor:
    """The person behind a request: a Slack user id and the roles they held at that moment."""

    user_id: str
    roles: frozenset[Role]

    @property
    def role_names(self) -> list[str]:
        return sorted(r.value for r in self.roles)


UsergroupLookup = Callable[[str], Iterable[str]]


class RoleResolver:
    """Resolves a Slack user id to roles, and checks a command's permission."""

    def __init__(
        self,
        roles: Mapping[str, RoleMembers],
        *,
        permissions: Mapping[str, str | Sequence[str]] | None = None,
        usergroup_members: UsergroupLookup | None = None,
        cache_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._members: dict[Role, RoleMembers] = {}
        for name, members in roles.items():
            self._members[_role(name, "roles")] = members
        self._permissions: dict[str, frozenset[Role]] = dict(DEFAULT_PERMISSIONS)
        for command, names in (permissions or {}).items():
            listed = [names] if isinstance(names, str) else list(names)
            self._permissions[command] = frozenset(
                _role(n, "permissions") for n in listed if n != "anyone"
            )
        self._lookup = usergroup_members
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def actor(self, user_id: str) -> Actor:
        """The caller with the roles they hold now (group membership within the TTL)."""
        held = frozenset(
            role
            for role, members in self._members.items()
            if user_id in members.users
            or any(user_id in self._group(g) for g in members.usergroups)
        )
        return Actor(user_id=user_id, roles=held)

    def may(self, actor: Actor, command: str) -> bool:
        """Deny by default: an unknown command is allowed to nobody (but admin)."""
        if Role.ADMIN in actor.roles:
            return True
        if command not in self._permissions:
            return False
        needed = self._permissions[command]
        return not needed or bool(needed & actor.roles)

    def require(self, actor: Actor, command: str) -> None:
        """Raise NotAllowed (a polite, private message) unless the actor may run `command`."""
        if not self.may(actor, command):
            needed = sorted(r.value for r in self._permissions.get(command, {Role.ADMIN}))
            what = " or ".join(f"*{n}*" for n in needed)
            noun = "role" if len(needed) == 1 else "roles"
            raise NotAllowed(
                f"Sorry, `/mim {command}` needs the {what} {noun}. "
                "Ask your IAM team if you should have it."
            )

    def _group(self, group_id: str) -> frozenset[str]:
        if self._lookup is None:
            return frozenset()
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group_id)
            if cached and now - cached[0] < self._ttl:
                return cached[1]
        try:
            members = frozenset(self._lookup(group_id))
        except Exception:  # noqa: BLE001 - any failed lookup grants nothing: deny by default
            log.warning("user-group lookup failed for %s; treating as no members", group_id)
            return frozenset()
        with self._lock:
            self._cache[group_id] = (now, members)
        return members


def _role(name: str, where: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ConfigError(f"{where}: unknown role {name!r} (known: {known})") from None
