"""The one interface every connected system implements.

A connector owns its protocol, its escaping and its error mapping; policy
(fan-out, deadlines, merging, outcomes, audit) lives above it in `bot/`.
Everything crossing this boundary is a frozen dataclass from this module.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "RANK_AGGREGATE",
    "RANK_SOURCE",
    "RANK_TARGET",
    "AttributeValue",
    "Capability",
    "Change",
    "Connector",
    "DeletePlan",
    "Health",
    "Hit",
    "HitRecord",
    "IdKind",
    "ManualStep",
    "ManualTask",
    "ObjectRef",
    "PlanAction",
    "Query",
    "QueryKind",
    "Record",
    "ResidualCopy",
    "StepResult",
    "UpdatePlan",
    "Verification",
]


class Capability(enum.Enum):
    SEARCH = "search"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    VERIFY = "verify"


class QueryKind(enum.Enum):
    """What the user typed, as detected by the command parser."""

    MAIL_OR_UPN = "mail_or_upn"  # contains "@"
    EMPLOYEE_ID = "employee_id"  # digits only
    PREFIX = "prefix"  # trailing "*": display-name or account prefix
    NAME = "name"  # account name or exact display name
    ATTRIBUTE = "attribute"  # explicit `<attribute>=<value>`


@dataclass(frozen=True)
class Query:
    """A search term. `value` is raw user input: each connector escapes it for its own wire."""

    kind: QueryKind
    value: str
    attribute: str | None = None  # only for QueryKind.ATTRIBUTE


class IdKind(enum.Enum):
    """Identifiers a system may hold for a person; the currency of subject resolution."""

    ACCOUNT = "account"  # sAMAccountName / accountName
    DOMAIN = "domain"
    UPN = "upn"
    MAIL = "mail"
    EMPLOYEE_ID = "employee_id"
    DISPLAY_NAME = "display_name"
    OBJECT_GUID = "object_guid"
    MV_OBJECT_ID = "mv_object_id"
    MIM_OBJECT_ID = "mim_object_id"
    DN = "dn"


@dataclass(frozen=True)
class ObjectRef:
    """A stable reference to one object in one system (objectGUID, MV object_id, ...)."""

    system: str
    id: str


@dataclass(frozen=True)
class Hit:
    """One object a search found."""

    ref: ObjectRef
    label: str  # display label, e.g. "Jane Doe (jdoe)"
    identifiers: Mapping[IdKind, str] = field(default_factory=dict)
    modified: datetime | None = None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    location: str | None = None  # DN, rdn or container, for the reader's orientation


@dataclass(frozen=True)
class AttributeValue:
    values: tuple[str, ...]
    source: str | None = None  # authoritative system, where known
    modified: datetime | None = None


@dataclass(frozen=True)
class Record:
    """All personal-data attributes of one object, with per-attribute metadata."""

    ref: ObjectRef
    attributes: Mapping[str, AttributeValue]
    modified: datetime | None = None


@dataclass(frozen=True)
class HitRecord:
    """A hit with its object's record, when the search read it in the same call
    (`connectors.capabilities.SearchesRecords`): `record` is what `read(hit.ref)` would
    return. None: not read with the search (more hits than asked for, or that part of the
    call failed); `read(hit.ref)` gives it, or says why not."""

    hit: Hit
    record: Record | None = None


class PlanAction(enum.Enum):
    DELETE = "delete"
    DISABLE_AND_SCRUB = "disable_and_scrub"  # pseudonymisation, not erasure
    WAIT = "wait"  # e.g. the metaverse deletion rule
    UPDATE = "update"  # rectification: an UpdatePlan, not a DeletePlan
    MANUAL = "manual"  # no API can do it; a person does it and presses Done
    NONE = "none"


class ManualTask(enum.Enum):
    """Work no API does, which a person does and then marks Done. The role that may mark
    each kind Done is policy (`policy.manual_step_roles`), not the connector's choice."""

    ERASE_AT_SOURCE = "erase_at_source"  # in the source of authority (HR), before the rest
    CONFIRM_PRIVILEGED = "confirm_privileged"  # a privileged account: its owner agrees first
    CONFIRM_SYNC = "confirm_sync"  # the sync will not delete by itself: an engineer checks
    ERASE_BY_HAND = "erase_by_hand"  # a system whose connector cannot delete
    CORRECT_AT_SOURCE = "correct_at_source"  # rectify where the bot cannot write (HR)


@dataclass(frozen=True)
class ManualStep:
    """One piece of manual work a plan needs. `detail` says what makes it needed, in plain
    words (no personal data): it is shown to the person who does it."""

    task: ManualTask
    detail: str = ""
    about: str = ""  # the management agent (Sync Service MA) the work is in: a connector
    # of that system (its `management_agent`) that plans its own step makes this redundant


@dataclass(frozen=True)
class ResidualCopy:
    """A copy that outlives the erasure (tombstone, recycle bin, retention) and when it goes."""

    description: str
    expires: datetime | None = None


# Erasure order (DeletePlan.authority_rank; lower runs first): sources of authority before
# the systems they provision, and the metaverse, which follows its sources, last.
RANK_SOURCE = 10
RANK_TARGET = 100
RANK_AGGREGATE = 200


@dataclass(frozen=True)
class DeletePlan:
    ref: ObjectRef
    action: PlanAction
    summary: str
    residuals: tuple[ResidualCopy, ...] = ()
    manual: tuple[ManualStep, ...] = ()  # each needs a person to act: becomes a manual step
    authority_rank: int = RANK_TARGET
    notes: tuple[str, ...] = ()  # what the approver should know; nothing to do


@dataclass(frozen=True)
class Change:
    """Set one attribute to `value` (rectification); `None` clears it."""

    attribute: str
    value: str | None


@dataclass(frozen=True)
class UpdatePlan:
    """What an update will do to one object: the changes in the system's own attribute
    names, and what the approver should know. Never holds the old values."""

    ref: ObjectRef
    changes: tuple[Change, ...]
    summary: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepResult:
    """What an idempotent apply did: `already_absent` when there was nothing left to do."""

    ref: ObjectRef
    done: bool
    already_absent: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Verification:
    system: str
    absent: bool
    remaining: tuple[ObjectRef, ...] = ()
    residuals: tuple[ResidualCopy, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class Health:
    system: str
    ok: bool
    detail: str


@runtime_checkable
class Connector(Protocol):
    """A connected system. Its methods raise `connectors.errors.ConnectorError` subclasses
    only: no library exception leaves a connector.

    Every method takes `timeout` (seconds) and raises `TimedOut` when the system does
    not answer within it (enforced where the driver allows: see each connector),
    `Unreachable` when no connection can be made, `Denied` when the system refuses
    the bot's credentials or the operation, and a plain `ConnectorError` for any
    other error the system answers with. `health` alone reports these instead.

    `search(query)` -> `list[Hit]`, each with `ref.system == name`, the identifiers
        the object holds and a non-empty `label`. No match is `[]`, never an
        exception. `Query.value` is data: escaped for LDAP, bound in SQL, passed as
        a PowerShell parameter, so no input changes what is searched; an empty
        value, or one holding NUL, matches nothing. `NotSupported` when the
        connector cannot search that way (an attribute it does not search by).
    `read(ref)` -> `Record` of the object's personal-data attributes. `NotFound`
        when no object has `ref.id` (also when `ref.id` cannot be an id of this
        system, e.g. not a GUID). `show(ref)` (`ShowsLineage`) likewise.
    `plan_delete(ref)` -> `DeletePlan` for the object (`DELETE`, `DISABLE_AND_SCRUB`,
        or `WAIT` for another system to remove it). `NotFound` as for `read`;
        `NotSupported` for an object it will not erase (not a user, out of scope).
    `apply_delete(plan)` -> `StepResult`. Idempotent: an object already gone is
        success (`done=True, already_absent=True`), so a resumed run may repeat
        it. A `WAIT` plan only checks: `done=False` while the object is still there.
    `verify_absent(identifiers)` -> `Verification`: `absent` when no live object
        matching any identifier remains (`remaining` lists those that do);
        copies kept by design (tombstones, run history) are `residuals`. With no
        identifier the system can search by: `NotSupported` (AD) or `absent=False`
        with a detail (metaverse); either way the check proves nothing.
    `health()` -> `Health`; never raises for the system's errors (`ok=False`).
    `close()` releases connections; the connector is not used afterwards.

    Optional capabilities are the protocols in connectors/capabilities.py (`ShowsLineage`,
    `SearchesRecords`, `Updates`, `HasManagementAgent`, `RetentionReporter`,
    `MimServerTelemetry`, ...); bot/ asks that module which of them a connector has.
    """

    name: str
    label: str
    capabilities: frozenset[Capability]

    def search(self, query: Query, *, timeout: float) -> list[Hit]: ...

    def read(self, ref: ObjectRef, *, timeout: float) -> Record: ...

    def plan_delete(self, ref: ObjectRef, *, timeout: float) -> DeletePlan: ...

    def apply_delete(self, plan: DeletePlan, *, timeout: float) -> StepResult: ...

    def verify_absent(
        self, identifiers: Mapping[IdKind, str], *, timeout: float
    ) -> Verification: ...

    def health(self, *, timeout: float) -> Health: ...

    def close(self) -> None: ...
