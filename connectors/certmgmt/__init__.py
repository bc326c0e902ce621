"""MIM Certificate Management over WinRM (its provisioning API on the CM server): smart cards,
profiles and certificates, read only."""

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
        retention="Retired smart cards and revoked certificates stay in its records.",
    ),
    authority=6,
)
