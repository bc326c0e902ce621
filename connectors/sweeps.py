"""What a retention sweep asks of a connector: the people of a population whose data has
outlived its purpose (leavers past the retention period, accounts disabled for months,
metaverse objects left behind), and the people on hold who must not be erased (GDPR Art.
17(3)). A connector that can answer declares it as `connectors.capabilities.FindsStale`
or `KnowsHolds`; app.yaml's `retention.rules:` naming a system that cannot answer its
population is refused at start-up.

Every value reaches the system as data (a bound SQL parameter, an escaped LDAP value);
results are paged, each page within the caller's deadline.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.base import IdKind, ObjectRef

__all__ = ["Candidate", "HoldQuery", "Population", "StaleRule"]


class Population(enum.StrEnum):
    """Whom a retention rule looks for."""

    ENDED = "ended"  # HR: the employment's end date is older than the age (`column`)
    DISABLED = "disabled"  # AD: disabled, and unchanged since, for longer than the age
    INACTIVE = "inactive"  # AD: not signed in (lastLogonTimestamp) for longer than the age
    UNJOINED = "unjoined"  # metaverse: no longer joined to `agent` for longer than the age


@dataclass(frozen=True)
class StaleRule:
    """One rule of `retention.rules:`. `system` is the connector's name; `age` how old the
    population's date must be; `column` the HR column holding the end date (ENDED);
    `agent` the management agent a person is no longer joined to (UNJOINED)."""

    name: str
    system: str
    population: Population
    age: timedelta
    column: str | None = None
    agent: str | None = None

    def cutoff(self, now: datetime) -> datetime:
        """The newest date that is old enough."""
        return now - self.age


@dataclass(frozen=True)
class Candidate:
    """A person a rule found: the system's object, the identifiers it holds (to resolve the
    person across the estate, as `/mim delete` does), a label for approvers (personal data:
    private answers only, never a log line), and the date that made them stale."""

    ref: ObjectRef
    identifiers: Mapping[IdKind, str] = field(default_factory=dict)
    label: str = ""
    since: datetime | None = None


@dataclass(frozen=True)
class HoldQuery:
    """Where holds live in a system: AD group members (`group`, a DN), or HR rows whose
    `column` is set (true, yes, 1, or a non-empty reason)."""

    group: str | None = None
    column: str | None = None
