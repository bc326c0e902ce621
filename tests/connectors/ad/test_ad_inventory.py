"""`inventory` of the AD connector against the real Samba AD DC on loopback: the user objects
under the base DN counted across pages (computers and contacts left out), the lifetimes and
the functional level read from the directory, every attribute the connector uses and none
of its bookkeeping, and no value of any seeded person anywhere in the answer."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import timedelta

import ldap3
import pytest

from connectors.ad.connector import AdConnector, AdSettings
from connectors.ad.erasure import Lifetimes
from connectors.ad.inventory import BOOKKEEPING, _deleted, functional_level
from connectors.capabilities import describes_data
from connectors.datamap import SystemInventory, category_of
from connectors.errors import ConnectorError, Denied, Unreachable
from tests.support.ports import closed_port
from tests.support.samba import SambaAd, TestUser, seed_users

pytestmark = pytest.mark.samba

T = 5.0
OU = "InventoryTests"
USERS = [
    TestUser("inv-ingrid", "Ingrid", "Inventoria", "730417", "ingrid.inventoria@example.test"),
    TestUser("inv-quentin", "Quentin", "Quillfeather", "730418"),
    TestUser("inv-rosalind", "Rosalind", "Ravensworth", "730419"),
    TestUser("inv-ulrich", "Ulrich", "Umbertide", "730420"),
    TestUser("inv-wilhelmina", "Wilhelmina", "Wexcombe", "730421"),
    TestUser("inv-xanthe", "Xanthe", "Yarborough", "730422"),
    TestUser("inv-zebedee", "Zebedee", "Zeffirelli", "730423"),
]
DOOMED = TestUser("inv-tomasz", "Tomasz", "Tombstonewicz", "730499")


@pytest.fixture(scope="module")
def ou_dn(samba: SambaAd) -> str:
    conn = samba.admin()
    try:
        dn = seed_users(conn, samba.base_dn, USERS, ou=OU)
        # Not persons: a computer (objectClass user, objectCategory computer) and a contact
        # (objectCategory person, objectClass contact) in the same OU.
        conn.add(f"CN=INVPC01,{dn}", ["top", "person", "organizationalPerson", "user",
                                      "computer"], {"sAMAccountName": "INVPC01$"})  # fmt: skip
        conn.add(f"CN=Inventory Contact,{dn}", ["top", "person", "organizationalPerson",
                                                "contact"], {"sn": "Contactless"})  # fmt: skip
    finally:
        conn.unbind()
    return dn


@pytest.fixture(scope="module")
def settings(samba: SambaAd, ou_dn: str) -> AdSettings:
    return AdSettings(
        url=samba.uri,
        bind_dn=samba.bind_user,
        password=samba.password,
        base_dn=ou_dn,
        ca_file=samba.ca_file,
        search_attributes=("departmentNumber",),
        page_size=3,  # seven users: three pages, so the count follows the cookie
        timeout=2.0,
    )


def inventory(settings: AdSettings, timeout: float = T) -> SystemInventory:
    ad = AdConnector(settings)
    try:
        return ad.inventory(timeout=timeout)
    finally:
        ad.close()


def admin_read(samba: SambaAd, dn: str, attribute: str) -> str:
    conn = samba.admin()
    try:
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[attribute])
        values = conn.response[0]["raw_attributes"].get(attribute) or [b""]
        return values[0].decode()
    finally:
        conn.unbind()


def test_counts_the_user_objects_under_the_base_dn_across_pages(settings: AdSettings) -> None:
    inv = inventory(settings)
    assert inv.persons == len(USERS)  # not the computer, not the contact
    assert inv.notes == ()


def test_a_page_size_above_the_count_counts_the_same(settings: AdSettings) -> None:
    assert inventory(replace(settings, page_size=1000)).persons == len(USERS)


def test_the_functional_level_is_read_from_the_domain_head(
    settings: AdSettings, samba: SambaAd
) -> None:
    level = admin_read(samba, samba.base_dn, "msDS-Behavior-Version")
    assert level.isdigit()
    inv = inventory(settings)
    assert inv.version == functional_level(level)
    assert inv.version.startswith(f"domain functional level {level} (Windows")


def test_functional_levels_are_named_as_ms_adts_does() -> None:
    assert functional_level("7") == "domain functional level 7 (Windows Server 2016)"
    assert functional_level("4") == "domain functional level 4 (Windows Server 2008 R2)"
    assert functional_level("") == "domain functional level 0 (Windows 2000)"  # absent: 0
    assert functional_level("42") == "domain functional level 42"


def test_the_tombstone_lifetime_is_read_from_the_directory(
    settings: AdSettings, samba: SambaAd
) -> None:
    config = f"CN=Directory Service,CN=Windows NT,CN=Services,CN=Configuration,{samba.base_dn}"
    days = int(admin_read(samba, config, "tombstoneLifetime"))
    (kept,) = inventory(settings).kept
    assert kept.days == days
    assert kept.period == f"{days} days"
    assert kept.what.startswith("deleted user: tombstone (")
    assert kept.erasure == (
        f"deleted by the erasure; the tombstone stays until garbage collection after {days} days"
    )


@pytest.fixture
def shorter_tombstones(samba: SambaAd) -> Iterator[None]:
    """The directory keeps tombstones 42 days (put back to Samba's 180 afterwards)."""
    conn = samba.admin()
    dn = f"CN=Directory Service,CN=Windows NT,CN=Services,CN=Configuration,{samba.base_dn}"
    conn.modify(dn, {"tombstoneLifetime": [(ldap3.MODIFY_REPLACE, ["42"])]})
    try:
        yield
    finally:
        with contextlib.suppress(ldap3.core.exceptions.LDAPException):
            conn.modify(dn, {"tombstoneLifetime": [(ldap3.MODIFY_REPLACE, ["180"])]})
        conn.unbind()


@pytest.mark.usefixtures("shorter_tombstones")
def test_a_changed_tombstone_lifetime_is_what_the_inventory_says(settings: AdSettings) -> None:
    (kept,) = inventory(settings).kept
    assert kept.days == 42 and "after 42 days" in kept.erasure


def test_what_the_tombstone_keeps_is_named(samba: SambaAd, ou_dn: str) -> None:
    """Delete a user and read its tombstone: every attribute left holding the person's name
    or account is one the inventory's text names (the cn's name, with its RDN copies)."""
    conn = samba.admin()
    try:
        seed_users(conn, samba.base_dn, [DOOMED], ou=f"{OU}Deleted")
        dn = f"CN={DOOMED.display_name},OU={OU}Deleted,{samba.base_dn}"
        conn.delete(dn)
        conn.search(
            f"CN=Deleted Objects,{samba.base_dn}",
            f"(&(isDeleted=TRUE)(sAMAccountName={DOOMED.account}))",
            attributes=["*"],
            controls=[("1.2.840.113556.1.4.417", True, None)],
        )
        (stone,) = [e for e in conn.response if e.get("type") == "searchResEntry"]
    finally:
        conn.unbind()
    holding = {
        name
        for name, values in stone["raw_attributes"].items()
        if any(DOOMED.sn.encode() in v or DOOMED.account.encode() in v for v in values)
    }
    assert holding == {"sAMAccountName", "cn", "name", "distinguishedName"}
    what = _deleted(Lifetimes(timedelta(days=180), timedelta(days=180), False))[0].what
    assert "sAMAccountName" in what and "cn" in what  # name and DN are the cn's copies


def test_with_the_recycle_bin_a_deleted_object_then_a_recycled_one() -> None:
    # The Recycle Bin cannot be turned off again: the lab DC of the other modules never
    # has it, so its two copies are checked on the lifetimes the eraser would read.
    deleted, recycled = _deleted(Lifetimes(timedelta(days=180), timedelta(days=30), True))
    assert deleted.days == 30 and "all its attributes" in deleted.what
    assert recycled.days == 210 and recycled.period.startswith("210 days after the deletion")
    assert "garbage collection 210 days after the deletion" in recycled.erasure


def test_disable_and_scrub_keeps_the_quarantined_account_with_no_date(
    settings: AdSettings, samba: SambaAd
) -> None:
    quarantine = f"OU=Quarantine,{samba.base_dn}"
    (kept,) = inventory(
        replace(settings, delete_mode="disable_and_scrub", quarantine_ou=quarantine)
    ).kept
    assert kept.days is None and kept.period == "no date"
    assert kept.erasure == f"disabled and scrubbed, kept in {quarantine} with no date"


def test_the_attributes_are_every_one_the_connector_uses_and_no_bookkeeping(
    settings: AdSettings,
) -> None:
    inv = inventory(settings)
    names = {a.name.lower() for a in inv.attributes}
    for a in (*settings.attributes, *settings.search_attributes, *settings.writable,
              *settings.scrub_attributes, "objectGUID", "objectSid", "userAccountControl",
              "distinguishedName", "tokenGroups", "adminCount"):  # fmt: skip
        assert a.lower() in names, a
    assert not names & BOOKKEEPING
    assert all(a.category is category_of(a.name) for a in inv.attributes)
    assert len(names) == len(inv.attributes)  # once each


def test_no_value_of_any_seeded_person_is_in_the_inventory(settings: AdSettings) -> None:
    text = repr(asdict(inventory(settings))).casefold()
    for u in USERS:
        for value in (u.account, u.given, u.sn, u.display_name, u.employee_id, u.mail):
            if value:
                assert value.casefold() not in text, value


def test_plain_ldap_is_named_as_such(settings: AdSettings, samba: SambaAd) -> None:
    plain = replace(
        settings, url=samba.uri.replace("ldaps://", "ldap://").replace(":636", ":389"),
        allow_plain_ldap=True, ca_file=None,
    )  # fmt: skip
    inv = inventory(plain)
    assert inv.technology == "LDAP (plain)"
    assert inventory(settings).technology == "LDAP over TLS (ldap3)"
    assert inv.persons == len(USERS)


def test_the_connector_describes_its_data(settings: AdSettings) -> None:
    assert describes_data(AdConnector(settings)) is not None


def test_no_time_left_leaves_the_parts_unknown_and_says_so(settings: AdSettings) -> None:
    started = time.monotonic()
    inv = inventory(settings, timeout=0.000_1)
    assert time.monotonic() - started < 3  # the bind and the base read, no more
    assert inv.persons is None and inv.version is None
    assert [k.days for k in inv.kept] == [None]
    assert any("count of user objects" in n for n in inv.notes)


def test_a_refused_bind_raises(settings: AdSettings) -> None:
    with pytest.raises(Denied) as caught:
        inventory(replace(settings, password="not-the-password"))
    assert "not-the-password" not in str(caught.value)


def test_an_unreachable_directory_raises(settings: AdSettings) -> None:
    with pytest.raises(Unreachable):
        inventory(replace(settings, url=f"ldaps://127.0.0.1:{closed_port()}"))


def test_a_base_dn_that_does_not_exist_raises(settings: AdSettings, samba: SambaAd) -> None:
    with pytest.raises(ConnectorError):
        inventory(replace(settings, base_dn=f"OU=No Such Unit,{samba.base_dn}"))
