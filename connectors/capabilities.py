"""Which optional capabilities a connector has: the one place bot/ asks.

Every connector is a `connectors.base.Connector` (search, read, plan and apply a
deletion, verify, health), and says in `capabilities` which of those its system allows.
What more it can do is an optional protocol declared here, next to how it is found:
by what the connector implements, never by its name:

    shows_lineage      ShowsLineage        the metaverse view of an object (MIM Sync)
    searches_records   SearchesRecords     finds and reads in one call (MIM Service, PAM,
                                           BHOLD, Certificate Management, AD)
    updates            Updates             corrects attributes (AD, BHOLD, MIM Service)
    reports_retention  RetentionReporter   how long residual copies stay (MIM Service)
    mim_telemetry      MimServerTelemetry  a MIM server's CEIP opt-out (MIM Service, PAM)
    management_agent   HasManagementAgent  its system's MA in the Sync Service
    self_checks        SelfChecks          checks its assumptions on a live estate (doctor)
    describes_data     DescribesData       what it holds, for the data map (datamap)
    maps_metaverse     MapsTheMetaverse    the Sync Service's flows and rules (MIM Sync)
    finds_stale        FindsStale          whom a retention rule would erase (sweeps)
    knows_holds        KnowsHolds          who is on hold, never to be erased (sweeps)

Each answers with the connector itself, typed as the protocol, or None (so
`if (u := updates(c)) is not None: u.plan_update(...)`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from connectors.base import (
    Capability,
    Change,
    Connector,
    HitRecord,
    IdKind,
    ObjectRef,
    Query,
    StepResult,
    UpdatePlan,
)
from connectors.datamap import SyncMap, SystemInventory
from connectors.doctor import Check
from connectors.lineage import MetaverseView
from connectors.sweeps import Candidate, HoldQuery, Population, StaleRule
from connectors.telemetry import CeipReading

__all__ = [
    "DescribesData",
    "FindsStale",
    "HasManagementAgent",
    "KnowsHolds",
    "MapsTheMetaverse",
    "MimServerTelemetry",
    "RetentionPeriod",
    "RetentionReporter",
    "SearchesRecords",
    "SelfChecks",
    "ShowsLineage",
    "Updates",
    "describes_data",
    "finds_stale",
    "knows_holds",
    "management_agent",
    "maps_metaverse",
    "mim_telemetry",
    "reports_retention",
    "searches_records",
    "self_checks",
    "shows_lineage",
    "updates",
]


@runtime_checkable
class ShowsLineage(Protocol):
    """A connector with a richer view of one object: lineage and source of authority
    per attribute, connected systems (the MIM Sync metaverse; connectors/lineage.py).
    `show` raises `NotFound` like `Connector.read`."""

    def show(self, ref: ObjectRef, *, timeout: float) -> MetaverseView: ...


@runtime_checkable
class SearchesRecords(Protocol):
    """A connector whose system can find objects and give their full records in one call (one
    WinRM script run; one SOAP conversation), so a caller that wants both (`show`, an export)
    asks a slow system once instead of a search then a read.

    `search_records(query, limit=)` -> the hits `search(query)` gives, in its order, each a
        `HitRecord` whose `record` is what `read(hit.ref)` would return, read in the same
        call when the search finds at most `limit` objects; with more (or `limit` 0), no
        record is read. A record the call could not read is None: that part failing never
        fails the search (the caller reads that hit, and its read reports the error as a
        read does). Raises as `search` does; values are data as they are for `search`.
    """

    def search_records(self, query: Query, *, limit: int, timeout: float) -> list[HitRecord]: ...


@runtime_checkable
class Updates(Protocol):
    """A connector that can correct attributes at its end (`Capability.UPDATE`).

    `plan_update(ref, changes)` -> `UpdatePlan`: `NotFound` as for `read`; `NotSupported`
        naming no value when an attribute cannot be written there (the plan is all or
        nothing). Values are data: escaped or bound for the system's wire.
    `apply_update(plan)` -> `StepResult`, idempotent (values already set: `done=True`),
        each change read back before `done=True`.
    """

    def plan_update(
        self, ref: ObjectRef, changes: tuple[Change, ...], *, timeout: float
    ) -> UpdatePlan: ...

    def apply_update(self, plan: UpdatePlan, *, timeout: float) -> StepResult: ...


@runtime_checkable
class HasManagementAgent(Protocol):
    """A connector of a system the Sync Service also reaches: `management_agent` is the name
    of that system's management agent there (None: it has none, or none is configured).
    Manual work the metaverse asks for in that MA is then not asked twice, and a correction
    the metaverse says this MA is authoritative for is planned through this connector."""

    management_agent: str | None


@dataclass(frozen=True)
class RetentionPeriod:
    """How many days a system keeps what it holds about a deleted object (the MIM
    Service's `RetentionPeriod` for Requests and SSPR data); `configured` False when the
    system has a documented default and no setting. A connector that cannot read the
    setting raises `Denied` instead (not seeing it is no proof that a default applies)."""

    days: int
    configured: bool


@runtime_checkable
class RetentionReporter(Protocol):
    """A connector that can say how long its system keeps residual copies after a deletion
    (the MIM Service). `retention_period()` -> `RetentionPeriod`; raises `ConnectorError`s
    as `Connector` methods do."""

    def retention_period(self, *, timeout: float) -> RetentionPeriod: ...


@runtime_checkable
class MimServerTelemetry(Protocol):
    """A connector that reaches a MIM server's registry (over WinRM: MIM Service, PAM) and
    so can read and opt out of its CEIP telemetry (connectors/_shared/ceip.py).

    `telemetry_endpoint()` -> the server's address (the WinRM URL): connectors that give
        the same one (compared case-insensitively) reach the same server.
    `read_ceip()` -> `CeipReading`: the `*CEIP` values as found, unclassified.
    `disable_ceip()` -> `CeipReading` read back after setting each of them to 0.
    Both raise `ConnectorError`s as `Connector` methods do.
    """

    def telemetry_endpoint(self) -> str: ...

    def read_ceip(self, *, timeout: float) -> CeipReading: ...

    def disable_ceip(self, *, timeout: float) -> CeipReading: ...


@runtime_checkable
class SelfChecks(Protocol):
    """A connector that checks, read-only, the assumptions it makes about its live system
    (`python -m bot doctor`; connectors/doctor.py). `doctor()` -> one `Check` per
    assumption; never raises for the system's errors (a check it cannot make is
    `CANNOT_TELL`), writes nothing, reads and reports no person's data."""

    def doctor(self, *, timeout: float) -> list[Check]: ...


@runtime_checkable
class DescribesData(Protocol):
    """A connector that says, from configuration, schema and counts alone, what its system
    holds about persons (connectors/datamap.py). `inventory()` -> `SystemInventory`; reads
    no person's data; raises `ConnectorError`s as `Connector` methods do."""

    def inventory(self, *, timeout: float) -> SystemInventory: ...


@runtime_checkable
class MapsTheMetaverse(Protocol):
    """The MIM Sync connector: the Sync Service's MAs, import precedence, export flows and
    deletion rule for persons (connectors/datamap.py). `sync_map()` -> `SyncMap`; raises
    `ConnectorError`s as `Connector` methods do."""

    def sync_map(self, *, timeout: float) -> SyncMap: ...


@runtime_checkable
class FindsStale(Protocol):
    """A connector that finds a retention rule's population (connectors/sweeps.py).

    `populations` are the kinds it can answer. `stale(rule, now=)` yields each `Candidate`
    whose date is older than `rule.cutoff(now)`, paging the query (each page within
    `timeout`); values are bound or escaped; `NotSupported` for a population it cannot
    answer or a rule it cannot run (an unknown column); `ConnectorError`s otherwise."""

    populations: frozenset[Population]

    def stale(self, rule: StaleRule, *, now: datetime, timeout: float) -> Iterator[Candidate]: ...


@runtime_checkable
class KnowsHolds(Protocol):
    """A connector that knows who is on hold (an AD group, an HR column): `on_hold(query)`
    yields the identifiers of each person held; `NotSupported` when the query names
    nothing it holds (a group for HR)."""

    def on_hold(self, query: HoldQuery, *, timeout: float) -> Iterator[Mapping[IdKind, str]]: ...


def shows_lineage(connector: Connector) -> ShowsLineage | None:
    """`connector` when it shows the metaverse view of an object (`show`), else None."""
    return connector if isinstance(connector, ShowsLineage) else None


def searches_records(connector: Connector) -> SearchesRecords | None:
    """`connector` when it finds and reads in one call, else None. It must also declare
    `Capability.SEARCH` and `Capability.READ`: a record is a read's, and a connector that
    may not read gives none."""
    wanted = {Capability.SEARCH, Capability.READ}
    if wanted <= connector.capabilities and isinstance(connector, SearchesRecords):
        return connector
    return None


def updates(connector: Connector) -> Updates | None:
    """`connector` when it corrects attributes, else None.

    `Capability.UPDATE` in `capabilities` is the answer: a connector that declares it
    implements `Updates` (tests/connectors/test_capabilities.py pins this for every connector), and
    one that has the methods without declaring it does not update (a read-only system's
    stand-in in tests). The `isinstance` only types the answer.
    """
    if Capability.UPDATE in connector.capabilities and isinstance(connector, Updates):
        return connector
    return None


def reports_retention(connector: Connector) -> RetentionReporter | None:
    """`connector` when it says how long its system keeps residual copies, else None."""
    return connector if isinstance(connector, RetentionReporter) else None


def mim_telemetry(connector: Connector) -> MimServerTelemetry | None:
    """`connector` when it reaches a MIM server's CEIP telemetry settings, else None."""
    return connector if isinstance(connector, MimServerTelemetry) else None


def management_agent(connector: Connector) -> str | None:
    """The name of the Sync Service management agent `connector`'s system is reached by;
    None when it has none (`HasManagementAgent`)."""
    return connector.management_agent if isinstance(connector, HasManagementAgent) else None


def self_checks(connector: Connector) -> SelfChecks | None:
    """`connector` when it can check its assumptions about its system, else None."""
    return connector if isinstance(connector, SelfChecks) else None


def describes_data(connector: Connector) -> DescribesData | None:
    """`connector` when it can describe what its system holds, else None."""
    return connector if isinstance(connector, DescribesData) else None


def maps_metaverse(connector: Connector) -> MapsTheMetaverse | None:
    """`connector` when it maps the metaverse's flows and rules, else None."""
    return connector if isinstance(connector, MapsTheMetaverse) else None


def finds_stale(connector: Connector) -> FindsStale | None:
    """`connector` when it can find a retention rule's population, else None."""
    return connector if isinstance(connector, FindsStale) else None


def knows_holds(connector: Connector) -> KnowsHolds | None:
    """`connector` when it knows who is on hold, else None."""
    return connector if isinstance(connector, KnowsHolds) else None
