"""mimbot's exceptions. Each carries the short text the user sees.

MimbotError
├── ConfigError          app.yaml is wrong; names the key and the problem
├── UsageError           the command's words are off; carries the usage line
├── NotAllowed           the caller lacks the role for this command
├── NotFound             no person or request matches
├── RequestStateError    a request cannot move that way (expired, ...)
│   ├── AlreadyDecided   another click decided it first; names who
│   └── AlreadyOpen      a request for the same person is open; names it
├── AuditUnavailable     the audit store cannot record: the action is refused
└── NotDelivered         an access package did not reach its requester (notifications.delivery)
connectors.errors.ConnectorError (raised below us, mapped to per-system outcomes)
├── Unreachable, TimedOut, Denied, NotSupported
└── NotFound             the object a reference names is gone (bot.lookup.calls: "not found")
"""

from __future__ import annotations

from connectors.errors import ConnectorError, Denied, NotSupported, TimedOut, Unreachable

__all__ = [
    "AlreadyDecided",
    "AlreadyOpen",
    "AuditUnavailable",
    "ConfigError",
    "ConnectorError",
    "Denied",
    "HeldElsewhere",
    "MimbotError",
    "NotAllowed",
    "NotFound",
    "NotSupported",
    "OnHold",
    "RequestStateError",
    "TimedOut",
    "Unreachable",
    "UsageError",
]


class MimbotError(Exception):
    """Base class; `user_message()` is what the person in Slack or the console reads:
    plain text, which the render layer escapes and formats (no Slack markup here)."""

    def user_message(self) -> str:
        return str(self)


class ConfigError(MimbotError):
    """The configuration is invalid. Stops start-up with one clear line."""


class UsageError(MimbotError):
    """Bad command input. Shows the problem and the usage line."""

    def __init__(self, problem: str, usage: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage

    def user_message(self) -> str:
        return f"{self.problem}\nUsage: {self.usage}" if self.usage else self.problem


class NotAllowed(MimbotError):
    """Deny by default: the caller holds none of the roles that may run the command."""


class NotFound(MimbotError):
    """Nothing matched."""


class RequestStateError(MimbotError):
    """A request cannot make this transition."""


class AlreadyDecided(RequestStateError):
    """The request was decided (or moved on) before this click; `decided_by` is a user id."""

    def __init__(self, request_id: str, status: str, decided_by: str | None) -> None:
        super().__init__(f"{request_id} was already {status}.")
        self.request_id = request_id
        self.status = status
        self.decided_by = decided_by


class OnHold(RequestStateError):
    """The person is on hold (GDPR Art. 17(3)): no erasure, until an approver lifts it."""

    def __init__(self, placed_by: str, placed_at: str, reason: str) -> None:
        super().__init__(
            f"That person is on hold since {placed_at} (placed by {placed_by}: {reason}),"
            " so they may not be erased. An approver lifts it with /mim unhold."
            " Nothing was created."
        )


class HeldElsewhere(RequestStateError):
    """The person is held by a source of holds other than /mim hold (an AD group, an HR
    column, app.yaml's list)."""

    def __init__(self, source: str) -> None:
        super().__init__(
            f"That person is {source} (a legal hold), so they may not be erased."
            " Nothing was created."
        )


class CannotPlan(RequestStateError):
    """A system could not be asked for its plan (unreachable, timed out): nothing was
    created; asking again later may succeed."""


class HoldsUnreadable(MimbotError):
    """A system's holds (an AD group, an HR column) could not be read: not knowing who is
    held must not erase anyone; asking again later may succeed."""


class AlreadyOpen(RequestStateError):
    """A request about the same person is still open: one at a time, so that two
    approvals cannot erase (or two runs contend for) the same objects."""

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"{request_id} is already open for this person: follow it with "
            f"/mim status {request_id}. Nothing new was created."
        )
        self.request_id = request_id


class AuditUnavailable(MimbotError):
    """Writing the audit record failed, so the action that needed it did not happen."""
