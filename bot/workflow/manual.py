"""Manual steps: what a person is asked to do, and which role may mark it done.

A connector's plan names the kind of work (`connectors.base.ManualTask`) and why it is
needed; policy (`policy.manual_step_roles`) names the role that owns each kind, so an
"erase in HR" step goes to the HR operators rather than to whoever asked.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.permissions.roles import Role, role_named
from connectors.base import ManualStep, ManualTask

__all__ = ["ManualOwners", "instruction"]

_TEXT = {
    ManualTask.ERASE_AT_SOURCE: "Erase the person in {label}, the source of authority, first",
    ManualTask.CONFIRM_PRIVILEGED: "Confirm with its owner that {label}'s privileged account "
    "may be removed",
    ManualTask.CONFIRM_SYNC: "Confirm that {label} will delete the person",
    ManualTask.ERASE_BY_HAND: "Erase the person in {label} by hand (no API for it)",
}


def instruction(step: ManualStep, label: str) -> str:
    """Plain text for the person doing it (the render layer escapes and formats it)."""
    text = _TEXT[step.task].format(label=label)
    return f"{text}: {step.detail}" if step.detail else text


class ManualOwners:
    """The role that owns each kind of manual step (default: the requester)."""

    def __init__(self, roles: Mapping[str, str] | None = None) -> None:
        self._roles = {
            ManualTask(task): role_named(role, f"policy.manual_step_roles.{task}")
            for task, role in (roles or {}).items()
        }

    def role(self, task: ManualTask) -> Role:
        return self._roles.get(task, Role.REQUESTER)
