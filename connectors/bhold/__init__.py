"""BHOLD Core's script web service over SOAP (zeep): search, read, erase (connector),
users filters (search), corrections (update), what travels in its strings (soap_text)."""

from connectors.bhold.connector import BholdConnector, BholdSettings
from connectors.spec import ConnectorSpec, SystemWords

__all__ = ["SPEC", "BholdConnector", "BholdSettings"]

SPEC = ConnectorSpec(
    name="bhold",
    settings=BholdSettings,
    build=BholdConnector,
    words=SystemWords(
        purpose="Role-based access: which roles and permissions you hold.",
        source="Copied from your HR record; roles assigned by your manager or the access team.",
        authority="Your roles and permissions are decided here.",
        retention="Until you are removed from every organisational unit.",
    ),
    authority=5,
)
