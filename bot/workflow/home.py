"""The App Home tab: for one user, what waits on them (approvals, manual steps) and their
own open requests with the days left. It shows no more than `/mim requests` shows that
user: ids, kinds, statuses and dates, never whom a request is about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.config import RoleMembers
from bot.permissions.authz import Authorizer
from bot.permissions.roles import Actor
from bot.workflow.deadlines import by_urgency
from bot.workflow.requests import OPEN, Request, Status, Step, StepState
from bot.workflow.store import RequestStore

__all__ = ["HomeView", "home_for", "users_to_refresh"]

LIMIT = 200  # open requests looked at; a home lists the most urgent


@dataclass(frozen=True)
class HomeView:
    now: datetime
    to_decide: tuple[Request, ...]  # awaiting this user's approval
    steps: tuple[tuple[Request, Step], ...]  # manual steps this user may mark done
    mine: tuple[Request, ...]  # their own open requests, overdue first


def _open_steps(request: Request) -> list[Step]:
    if request.status not in (Status.APPROVED, Status.RUNNING):
        return []
    return [s for s in request.steps if s.manual and s.state is StepState.PENDING]


def home_for(actor: Actor, store: RequestStore, authz: Authorizer) -> HomeView:
    now = store.clock()
    requests = by_urgency(store.many(store.ids(statuses=OPEN, limit=LIMIT)), now)
    held = {r.value for r in actor.roles}
    to_decide = tuple(
        r
        for r in requests
        if r.status is Status.AWAITING_APPROVAL  # erasures and corrections alike
        and authz.decides(actor)
        and not (authz.four_eyes and r.requester == actor.user_id)
        and actor.user_id not in r.approvals
    )
    steps = tuple(
        (r, s)
        for r in requests
        for s in _open_steps(r)
        if (s.assigned_role or "requester") in held - {"requester"}
        or ((s.assigned_role or "requester") == "requester" and r.requester == actor.user_id)
    )
    mine = tuple(r for r in requests if r.requester == actor.user_id)
    return HomeView(now, to_decide, steps, mine)


def users_to_refresh(request: Request, roles: Mapping[str, RoleMembers]) -> set[str]:
    """Whose home a change to `request` may change: its requester, the approvers, and the
    owners of its manual steps (users listed by id; members of user groups see the change
    when they next open the tab)."""
    users = {request.requester, *roles.get("approver", RoleMembers()).users}
    for step in request.steps:
        if step.manual and step.assigned_role and step.assigned_role != "requester":
            users |= set(roles.get(step.assigned_role, RoleMembers()).users)
    return users
