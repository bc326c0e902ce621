"""mimbot: GDPR data-subject requests on a MIM 2016 estate, answered from Slack.

The domain lives in this package's modules; `bot/render/` writes Slack markup,
`bot/frontends/` serves Slack, the console and the CLI (see the README's Layout).
The value types the other layers share are named here; the composition root is
`bot.services.build_services`.
"""

from bot.errors import MimbotError
from bot.lookup.calls import Outcome
from bot.permissions.roles import Actor, Role
from bot.workflow.events import Event
from bot.workflow.requests import Request, Status, Step, StepState

__all__ = [
    "Actor",
    "Event",
    "MimbotError",
    "Outcome",
    "Request",
    "Role",
    "Status",
    "Step",
    "StepState",
]
