"""The MIM Service over PowerShell on the MIM server (connector, update; scripts/)."""

from connectors.mimservice.connector import MimServiceConnector, MimServiceSettings
from connectors.spec import ConnectorSpec, SystemWords

__all__ = ["SPEC", "MimServiceConnector", "MimServiceSettings"]

SPEC = ConnectorSpec(
    name="mimservice",
    settings=MimServiceSettings,
    build=MimServiceConnector,
    words=SystemWords(
        purpose="The identity portal: self-service password reset and requests about your access.",
        source=(
            "Copied from your HR record and your account; password-reset details you "
            "registered yourself."
        ),
        authority="Your password-reset registration is decided here.",
        retention="Requests about you are kept for the portal's retention period after they end.",
    ),
    authority=3,
)
