"""Who holds which role: Slack user ids and user groups to roles (what a role may do is
`bot/permissions/authz.py`).

Roles are looked up on every request; user-group members come from Slack
(usergroups.users.list) through an injected lookup and are cached with a TTL,
since that method is rate-limited (Tier 2). A failed lookup grants nothing.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.errors import ConfigError


class RoleMembers(Protocol):
    """Who holds a role (app.yaml `roles:`, bot/config/app.py's section of that name)."""

    @property
    def users(self) -> tuple[str, ...]: ...

    @property
    def usergroups(self) -> tuple[str, ...]: ...


__all__ = ["Actor", "Role", "RoleResolver", "role_named"]

log = logging.getLogger(__name__)


class Role(enum.StrEnum):
    """A role's value is its name in app.yaml, the database and every message."""

    VIEWER = "viewer"
    EXPORTER = "exporter"
    REQUESTER = "requester"
    APPROVER = "approver"
    AUDITOR = "auditor"
    ADMIN = "admin"
    HR_OPERATOR = "hr_operator"  # marks "erase in HR" steps done (policy.manual_step_roles)
    PRIVACY_OFFICER = "privacy_officer"  # the estate's data map (GDPR Art. 30 record)


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
    """Resolves a Slack user id to the roles it holds now."""

    def __init__(
        self,
        roles: Mapping[str, RoleMembers],
        *,
        usergroup_members: UsergroupLookup | None = None,
        cache_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._members: dict[Role, RoleMembers] = {}
        for name, members in roles.items():
            self._members[role_named(name, "roles")] = members
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


def role_named(name: str, where: str) -> Role:
    """The role called `name`; ConfigError naming `where` (an app.yaml key) if none is."""
    try:
        return Role(name)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ConfigError(f"{where}: unknown role {name!r} (known: {known})") from None
