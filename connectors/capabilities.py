"""Which optional capabilities a connector has: the one place bot/ asks.

A connector is a `connectors.base.Connector`; what more it can do is an optional protocol
declared next to it in connectors/base.py, and found here by what the connector
implements, never by its name.
"""

from __future__ import annotations

from connectors.base import Connector, HasManagementAgent

__all__ = ["management_agent"]


def management_agent(connector: Connector) -> str | None:
    """The name of the Sync Service management agent `connector`'s system is reached by;
    None when it has none (`HasManagementAgent`)."""
    return connector.management_agent if isinstance(connector, HasManagementAgent) else None
