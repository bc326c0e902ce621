"""MIM Certificate Management's REST API: smart cards and certificates (read only)."""

from connectors.certmgmt.connector import CertManagementConnector, CertManagementSettings
from connectors.spec import ConnectorSpec, SystemWords

__all__ = ["SPEC", "CertManagementConnector", "CertManagementSettings"]

SPEC = ConnectorSpec(
    name="certmgmt",
    settings=CertManagementSettings,
    build=CertManagementConnector,
    words=SystemWords(
        purpose="Smart cards and certificates issued to you.",
        source="Issued when you enrolled a smart card or certificate.",
        authority="None for your details: it reflects your user account.",
        retention="Certificates you enrolled are kept until they expire.",
    ),
    authority=6,
)
