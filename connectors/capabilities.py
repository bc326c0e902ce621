"""Which optional capabilities a connector has: the one place bot/ asks.

Every connector is a `connectors.base.Connector` (search, read, plan and apply a
deletion, verify, health), and says in `capabilities` which of those its system allows.
What more it can do is an optional protocol declared next to `Connector` in
connectors/base.py, found here by what the connector implements, never by its name:

    shows_lineage      ShowsLineage        the metaverse view of an object (MIM Sync)
    updates            Updates             corrects attributes (AD, BHOLD, MIM Service)
    reports_retention  RetentionReporter   how long residual copies stay (MIM Service)
    mim_telemetry      MimServerTelemetry  a MIM server's CEIP opt-out (MIM Service, PAM)
    management_agent   HasManagementAgent  its system's MA in the Sync Service

Each answers with the connector itself, typed as the protocol, or None (so
`if (u := updates(c)) is not None: u.plan_update(...)`).
"""

from __future__ import annotations

from connectors.base import (
    Capability,
    Connector,
    HasManagementAgent,
    MimServerTelemetry,
    RetentionReporter,
    ShowsLineage,
    Updates,
)

__all__ = [
    "management_agent",
    "mim_telemetry",
    "reports_retention",
    "shows_lineage",
    "updates",
]


def shows_lineage(connector: Connector) -> ShowsLineage | None:
    """`connector` when it shows the metaverse view of an object (`show`), else None."""
    return connector if isinstance(connector, ShowsLineage) else None


def updates(connector: Connector) -> Updates | None:
    """`connector` when it corrects attributes, else None.

    `Capability.UPDATE` in `capabilities` is the answer: a connector that declares it
    implements `Updates` (tests/test_capabilities.py pins this for every connector), and
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
