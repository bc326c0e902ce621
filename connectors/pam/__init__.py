"""MIM Privileged Access Management over PowerShell on the MIM server (scripts/)."""

from connectors.pam.connector import PamConnector, PamSettings
from connectors.spec import ConnectorSpec, SystemWords

__all__ = ["SPEC", "PamConnector", "PamSettings"]

SPEC = ConnectorSpec(
    name="pam",
    settings=PamSettings,
    build=PamConnector,
    words=SystemWords(
        purpose="Privileged access: an administrative account you may use for a limited time.",
        source="Created by the IT security team for your administrative role.",
        authority="Your privileged roles are decided here.",
        retention="Until your privileged account is removed.",
    ),
    authority=4,
)
