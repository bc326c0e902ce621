"""Apply changes and read them back: the loop every writing connector shares.

Read the object; send only what it does not show yet ("already set" when nothing);
read it again; `done` only when every value shows. The messages are the system's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from connectors.base import Change, ObjectRef, StepResult
from connectors.errors import NotFound

__all__ = ["Messages", "apply_and_read_back"]

State = TypeVar("State")


@dataclass(frozen=True)
class Messages:
    missing: str  # the object is not there before the update
    vanished: str  # it went away during the update
    not_shown: str  # {names}: the system shows other values afterwards


def apply_and_read_back(
    ref: ObjectRef,
    changes: tuple[Change, ...],
    *,
    read: Callable[[], State | None],
    differing: Callable[[State, tuple[Change, ...]], tuple[Change, ...]],
    send: Callable[[State, tuple[Change, ...]], None],
    messages: Messages,
) -> StepResult:
    before = read()
    if before is None:
        raise NotFound(messages.missing)
    todo = differing(before, changes)
    if not todo:
        return StepResult(ref, done=True, detail="already set")
    send(before, todo)
    after = read()
    if after is None:
        raise NotFound(messages.vanished)
    left = differing(after, changes)
    if left:
        names = ", ".join(c.attribute for c in left)
        return StepResult(ref, done=False, detail=messages.not_shown.format(names=names))
    return StepResult(ref, done=True, detail=f"updated {', '.join(c.attribute for c in todo)}")
