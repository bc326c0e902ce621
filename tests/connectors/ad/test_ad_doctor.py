"""`doctor` of the AD connector against the real Samba AD DC on loopback: every check OK on
the provisioned directory; each fault (a configured attribute the schema lacks, a writable
one the schema makes multi-valued, a base DN that does not exist, a refused bind, a longer
tombstone lifetime put into the directory) named by the check it breaks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

import ldap3
import pytest

from connectors.ad.connector import AdConnector, AdSettings
from connectors.ad.doctor import BASE, RECYCLE_BIN, RETENTION, SCHEMA, WRITABLE, attributes_used
from connectors.doctor import Check, Verdict
from tests.support.ports import closed_port
from tests.support.samba import SambaAd

pytestmark = pytest.mark.samba

T = 5.0


@pytest.fixture(scope="module")
def settings(samba: SambaAd) -> AdSettings:
    return AdSettings(
        url=samba.uri,
        bind_dn=samba.bind_user,
        password=samba.password,
        base_dn=samba.base_dn,
        ca_file=samba.ca_file,
        timeout=2.0,
    )


def doctor(settings: AdSettings) -> list[Check]:
    ad = AdConnector(settings)
    try:
        return ad.doctor(timeout=T)
    finally:
        ad.close()


def not_ok(checks: list[Check]) -> dict[str, Check]:
    bad = {c.name: c for c in checks if c.verdict is not Verdict.OK}
    assert all(c.fix for c in bad.values())
    return bad


def test_every_check_is_ok_on_the_provisioned_directory(settings: AdSettings) -> None:
    checks = doctor(settings)
    assert [c.name for c in checks] == [BASE, SCHEMA, WRITABLE, RETENTION, RECYCLE_BIN]
    assert not not_ok(checks), checks
    by_name = {c.name: c for c in checks}
    assert by_name[RETENTION].detail == "tombstoneLifetime 180 days: at most 180 days"  # Samba's
    assert by_name[RECYCLE_BIN].detail.startswith("not enabled")


def test_the_attributes_checked_are_every_one_the_connector_uses(settings: AdSettings) -> None:
    used = {a.lower() for a in attributes_used(AdConnector(settings))}
    for attribute in (*settings.attributes, *settings.writable, *settings.scrub_attributes):
        assert attribute.lower() in used
    assert {"objectguid", "samaccountname", "useraccountcontrol"} <= used


def test_a_configured_attribute_the_schema_lacks_is_named(settings: AdSettings) -> None:
    broken = replace(settings, attributes=("displayName", "mail", "favouriteColour"))
    bad = not_ok(doctor(broken))
    assert list(bad) == [SCHEMA]
    assert bad[SCHEMA].verdict is Verdict.WRONG
    assert bad[SCHEMA].detail == "not in the schema: favouriteColour"


def test_a_writable_attribute_the_schema_makes_multi_valued_is_named(
    settings: AdSettings,
) -> None:
    broken = replace(settings, writable=("givenName", "otherTelephone"))
    bad = not_ok(doctor(broken))
    assert list(bad) == [WRITABLE]
    assert bad[WRITABLE].detail == "otherTelephone is multi-valued in the directory's schema"


def test_a_base_dn_that_does_not_exist_is_named(settings: AdSettings, samba: SambaAd) -> None:
    (check,) = doctor(replace(settings, base_dn=f"OU=No Such Unit,{samba.base_dn}"))
    assert check.name == BASE and check.verdict is Verdict.WRONG
    assert check.detail == "no such entry"


def test_a_refused_bind_is_named(settings: AdSettings) -> None:
    (check,) = doctor(replace(settings, password="not-the-password"))
    assert check.name == BASE and check.verdict is Verdict.WRONG
    assert "Denied" in check.detail and "not-the-password" not in check.detail


def test_an_unreachable_directory_cannot_tell(settings: AdSettings) -> None:
    (check,) = doctor(replace(settings, url=f"ldaps://127.0.0.1:{closed_port()}"))
    assert check.name == BASE and check.verdict is Verdict.CANNOT_TELL


@pytest.fixture
def longer_tombstones(samba: SambaAd) -> Iterator[None]:
    """The directory keeps tombstones 365 days (put back to Samba's 180 afterwards)."""
    conn = samba.admin()
    # The lab is a single-domain forest: its configuration NC sits under the domain's.
    dn = f"CN=Directory Service,CN=Windows NT,CN=Services,CN=Configuration,{samba.base_dn}"
    conn.modify(dn, {"tombstoneLifetime": [(ldap3.MODIFY_REPLACE, ["365"])]})
    try:
        yield
    finally:
        with contextlib.suppress(ldap3.core.exceptions.LDAPException):
            conn.modify(dn, {"tombstoneLifetime": [(ldap3.MODIFY_REPLACE, ["180"])]})
        conn.unbind()


@pytest.mark.usefixtures("longer_tombstones")
def test_tombstones_kept_longer_than_people_are_told_are_named(settings: AdSettings) -> None:
    bad = not_ok(doctor(settings))
    assert list(bad) == [RETENTION]
    assert bad[RETENTION].verdict is Verdict.WRONG
    assert "stays 365 days" in bad[RETENTION].detail
