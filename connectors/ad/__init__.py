"""Active Directory over LDAP (ldap3): search and read (connector), erase (erasure),
correct (update, checked against the directory's schema in schema), and, for retention
sweeps, find the disabled and the inactive users (`finds_stale`) and the members of a
hold group (`knows_holds`) (sweeps)."""

from connectors.ad.connector import AdConnector
from connectors.ad.settings import TOLD_RETENTION_DAYS, AdSettings
from connectors.spec import ConnectorSpec, SystemWords

__all__ = ["SPEC", "AdConnector", "AdSettings"]

SPEC = ConnectorSpec(
    name="ad",
    settings=AdSettings,
    build=AdConnector,
    words=SystemWords(
        purpose="Your user account: signing in, e-mail, your entry in the address book.",
        source=(
            "Created automatically from your HR record; some details (telephone, office) may "
            "be entered by IT."
        ),
        authority="Account name, mail address and password are decided here.",
        retention=(
            "Until your account is deleted; then a stripped copy (tombstone) for up to"
            f" {TOLD_RETENTION_DAYS} days."
        ),
    ),
    authority=2,
)
