"""The MIM Synchronization Service's database (SQLAlchemy, read only): the metaverse
(connector, schema, view), the server's exported configuration (server_config) and what
the data map is told of both (datamap: `sync_map`, `inventory`), and, for retention
sweeps, the persons no longer joined to a management agent (`finds_stale`,
Population.UNJOINED)."""

from connectors.mimsync.connector import MimSyncConnector
from connectors.mimsync.settings import MimSyncSettings
from connectors.spec import ConnectorSpec, SystemWords

__all__ = ["SPEC", "MimSyncConnector", "MimSyncSettings"]

SPEC = ConnectorSpec(
    name="mimsync",
    settings=MimSyncSettings,
    build=MimSyncConnector,
    words=SystemWords(
        purpose=(
            "The identity manager's joined view of you: it copies your details between the "
            "systems listed here."
        ),
        source="Each attribute comes from the system named as its source.",
        authority="None of its own: it follows the systems it copies from.",
        retention="Until you are removed from the systems it copies from.",
    ),
    authority=1,
)
