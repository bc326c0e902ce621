"""`inventory` for Active Directory: what the directory holds about persons, for the data map
(connectors/datamap.py). From the configuration, the domain head, the configuration
partition and a count: no user's attribute is read (the count asks for none, `1.1`).

Sources: the domain's functional level is msDS-Behavior-Version on the domain NC root
(MS-ADTS 6.1.4.3, "msDS-Behavior-Version: Domain NC Functional Level"; absent means 0);
the lifetimes and the Recycle Bin state as the eraser reads them (connectors/ad/erasure.py,
MS-ADTS 3.1.1.1.15 and 6.1.1.2.4.1.1); a tombstone keeps objectGUID, objectSid,
sAMAccountName and the RDN attribute, a user's cn, among a few others (MS-ADTS
3.1.1.5.5.6.1, "Transformation into a Tombstone"; Samba's keep the cn as
"<name>\nDEL:<objectGUID>", seen on the test DC).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

import ldap3

from connectors._shared.ldap import ldap_errors, seconds
from connectors.ad.doctor import attributes_used
from connectors.ad.erasure import TOMBSTONE_KEEPS, AdEraser, Lifetimes, _read, _text
from connectors.datamap import KeptCopy, SystemInventory, held
from connectors.errors import ConnectorError, TimedOut, Unreachable

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from connectors.ad.settings import AdSettings

__all__ = ["BOOKKEEPING", "PERSONS_FILTER", "functional_level", "run_inventory"]

# Every user object: objectCategory is indexed (a count stays cheap) and, unlike
# objectClass=user alone, leaves computers out (their category is computer).
PERSONS_FILTER = "(&(objectCategory=person)(objectClass=user))"
# Read by the eraser about deleted copies or the object's own bookkeeping, not about the
# person: whether a copy is deleted or recycled, the container it was deleted from (an OU,
# not a person's value) and when the object last changed. distinguishedName stays in:
# its CN is usually the person's name (the scrub renames it for that reason).
BOOKKEEPING = frozenset({"isdeleted", "isrecycled", "lastknownparent", "whenchanged"})
# Read by the erasure plan beside attributes_used (connectors/ad/erasure.py, `plan`):
# whether the account is privileged, and its transitive group memberships.
_PLAN_READS = ("adminCount", "tokenGroups")
_FEW = TOMBSTONE_KEEPS  # what a tombstone or a recycled object keeps of the person
# MS-ADTS 6.1.4.3: the domain functional levels and the first Windows Server of each.
_LEVELS = {
    0: "Windows 2000",
    1: "Windows Server 2003 interim",
    2: "Windows Server 2003",
    3: "Windows Server 2008",
    4: "Windows Server 2008 R2",
    5: "Windows Server 2012",
    6: "Windows Server 2012 R2",
    7: "Windows Server 2016",
    10: "Windows Server 2025",
}
_T = TypeVar("_T")


class AdConnector(Protocol):
    """What the inventory uses of the connector (connectors/ad/connector.py)."""

    name: str
    label: str
    settings: AdSettings
    identity_attributes: tuple[str, ...]
    eraser: AdEraser  # reads the deleted-object lifetimes (cached an hour)

    def _connection(self, *, fresh: bool = False) -> AbstractContextManager[ldap3.Connection]: ...


def functional_level(value: str) -> str:
    """msDS-Behavior-Version as text: "domain functional level 7 (Windows Server 2016)"."""
    level = int(value) if value.strip().isdigit() else 0  # absent: 0 (MS-ADTS 6.1.4.3)
    known = _LEVELS.get(level)
    return f"domain functional level {level}" + (f" ({known})" if known else "")


def technology(settings: AdSettings) -> str:
    """What the connector reaches the directory with, as its URL says."""
    if settings.url.lower().startswith("ldaps://"):
        return "LDAP over TLS (ldap3)"
    return "LDAP (plain)"


def attributes(connector: AdConnector) -> list[str]:
    """Every personal attribute the connector reads, searches, writes or clears."""
    used = [*attributes_used(connector), *_PLAN_READS]
    return [a for a in used if a.lower() not in BOOKKEEPING]


def run_inventory(connector: AdConnector, *, timeout: float) -> SystemInventory:
    """The directory's inventory. A bind that fails raises (Denied, Unreachable, ...); a
    part that cannot be read (the domain head, the lifetimes, a count past the timeout)
    is left unknown with a note saying so, and the other parts still answer."""
    deadline = time.monotonic() + timeout
    s = connector.settings
    notes: list[str] = []

    def part(what: str, read: Callable[[float], _T]) -> _T | None:
        left = deadline - time.monotonic()
        if left <= 0:
            notes.append(f"{what}: not read, no time left within {timeout:g} s")
            return None
        try:
            return read(left)
        except Unreachable:
            raise  # the directory is gone: nothing else will answer either
        except ConnectorError as exc:  # ldap_errors' texts name the result, never a value
            notes.append(f"{what}: not read ({type(exc).__name__}: {exc})")
            return None

    domain_nc = _domain_nc(s.base_dn)
    # Bound, and the search base is there: otherwise this raises, as other methods do
    # (Denied, Unreachable, a base DN that does not exist), rather than notes every part.
    try:
        _base(connector, timeout, fresh=False)
    except Unreachable:
        _base(connector, timeout, fresh=True)  # a pooled connection dies with its DC
    version = part("the domain functional level", lambda t: _version(connector, domain_nc, t))
    kept: tuple[KeptCopy, ...]
    if s.delete_mode == "disable_and_scrub":
        kept = (_quarantined(s),)
    else:
        lifetimes = connector.eraser.lifetimes
        kept = _deleted(part("the deleted-object lifetimes", lambda t: lifetimes(timeout=t)))
    persons = part("the count of user objects", lambda t: _count(connector, deadline, t))
    return SystemInventory(
        system=connector.name,
        label=connector.label,
        technology=technology(s),
        attributes=held(attributes(connector)),
        persons=persons,
        version=version,
        kept=kept,
        notes=tuple(notes),
    )


def _base(connector: AdConnector, timeout: float, *, fresh: bool) -> None:
    with connector._connection(fresh=fresh) as conn, ldap_errors():
        _read(conn, connector.settings.base_dn, [ldap3.NO_ATTRIBUTES], timeout)


def _version(connector: AdConnector, domain_nc: str, timeout: float) -> str | None:
    if not domain_nc:
        return None
    with connector._connection() as conn, ldap_errors():
        head = _read(conn, domain_nc, ["msDS-Behavior-Version"], timeout)
    return functional_level(_text(head, "msDS-Behavior-Version"))


def _count(connector: AdConnector, deadline: float, timeout: float) -> int:
    """User objects under base_dn, page by page, with no attribute asked for."""
    s = connector.settings
    with connector._connection() as conn, ldap_errors():
        entries = conn.extend.standard.paged_search(
            s.base_dn,
            PERSONS_FILTER,
            ldap3.SUBTREE,
            attributes=[ldap3.NO_ATTRIBUTES],
            paged_size=s.page_size,
            time_limit=seconds(timeout),
            generator=True,
        )
        count = 0
        for entry in entries:
            if time.monotonic() > deadline:
                # Raised inside the borrow: the connection, mid-search, is discarded.
                raise TimedOut("the count did not finish in time")
            if entry.get("type") == "searchResEntry":  # a referral is not a user
                count += 1
    return count


def _deleted(lt: Lifetimes | None) -> tuple[KeptCopy, ...]:
    """What a deleted user leaves behind (the eraser's `_residuals`, as undated rows)."""
    if lt is None:
        return (
            KeptCopy(
                f"deleted user: tombstone ({_FEW})",
                "unknown: the directory's lifetimes could not be read",
                "deleted by the erasure; the tombstone stays until garbage collection",
            ),
        )
    tsl = lt.tombstone.days
    if not lt.recycle_bin:
        return (
            KeptCopy(
                f"deleted user: tombstone ({_FEW})",
                f"{tsl} days",
                f"deleted by the erasure; the tombstone stays until garbage collection after"
                f" {tsl} days",
                days=tsl,
            ),
        )
    dol = lt.deleted_object.days
    return (
        KeptCopy(
            "deleted user: deleted object with all its attributes (Recycle Bin)",
            f"{dol} days",
            f"deleted by the erasure; restorable from the Recycle Bin for {dol} days"
            " (msDS-DeletedObjectLifetime)",
            days=dol,
        ),
        KeptCopy(
            f"deleted user: recycled object ({_FEW})",
            f"{dol + tsl} days after the deletion ({dol} deleted, then {tsl} recycled)",
            f"deleted by the erasure; the recycled object stays until garbage collection"
            f" {dol + tsl} days after the deletion",
            days=dol + tsl,
        ),
    )


def _quarantined(s: AdSettings) -> KeptCopy:
    where = s.quarantine_ou or "the quarantine OU"
    return KeptCopy(
        # Renamed to its objectGUID by the scrub: the cn no longer holds the name.
        "erased user: the disabled account (objectGUID, objectSid, sAMAccountName, group"
        " memberships)",
        "no date",
        f"disabled and scrubbed, kept in {where} with no date",
    )


def _domain_nc(base_dn: str) -> str:
    parts = (p.strip() for p in base_dn.split(","))
    return ",".join(p for p in parts if p.upper().startswith("DC="))
