"""One module per connected system, all behind `connectors.base.Connector`."""

from connectors.base import (
    AttributeValue,
    Capability,
    Connector,
    DeletePlan,
    Health,
    Hit,
    IdKind,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
    Record,
    ResidualCopy,
    StepResult,
    Verification,
)
from connectors.errors import ConnectorError, Denied, NotSupported, TimedOut, Unreachable

__all__ = [
    "AttributeValue",
    "Capability",
    "Connector",
    "ConnectorError",
    "DeletePlan",
    "Denied",
    "Health",
    "Hit",
    "IdKind",
    "NotSupported",
    "ObjectRef",
    "PlanAction",
    "Query",
    "QueryKind",
    "Record",
    "ResidualCopy",
    "StepResult",
    "TimedOut",
    "Unreachable",
    "Verification",
]
