"""AD erasure (connectors/ad/erasure.py through AdConnector) against a real Samba AD DC."""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ldap3
import pytest

from connectors.ad.connector import AdConnector, AdSettings
from connectors.base import IdKind, ObjectRef, PlanAction
from connectors.errors import NotFound, NotSupported, Unreachable
from tests.support.samba import TestUser, seed_users

pytestmark = pytest.mark.samba

OU = "ErasureTests"
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
DIRECTORY_SERVICE = "CN=Directory Service,CN=Windows NT,CN=Services,CN=Configuration,{base}"
RECYCLE_BIN_GUID = "766ddcd8-acd0-445e-f3b9-a7f9b6744f2a"
# enableOptionalFeature on the rootDSE needs system rights in Samba (Administrator over
# LDAP gets unwillingToPerform), so the test enables the Recycle Bin through sam.ldb.
ENABLE_RECYCLE_BIN = """
import sys, ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
lp = LoadParm(); lp.load(sys.argv[1] + "/etc/smb.conf")
db = SamDB(url=sys.argv[1] + "/private/sam.ldb", session_info=system_session(), lp=lp)
m = ldb.Message(); m.dn = ldb.Dn(db, "")
value = "CN=Partitions,%s:%s" % (db.get_config_basedn(), sys.argv[2])
m["enableOptionalFeature"] = ldb.MessageElement(value, ldb.FLAG_MOD_ADD, "enableOptionalFeature")
db.modify(m)
"""


def settle(ad, action):
    """Run `action` (start or reset) on the DC; if its start fails, start again. With an
    AD_IP other than 127.0.0.1, samba-ad-up.sh's `ip addr show | grep -q` under pipefail
    fails at random (SIGPIPE) and the script then tries to add an address lo already has."""
    try:
        ad.run(action)
    except subprocess.CalledProcessError:
        for attempt in range(4):
            try:
                ad.run("start")
                return
            except subprocess.CalledProcessError:
                if attempt == 3:
                    raise


@pytest.fixture(scope="module")
def ad(samba):
    """The shared Samba DC, reset before and after: these tests change forest-wide
    settings (tombstoneLifetime, the irreversible Recycle Bin) other modules must not see."""
    settle(samba, "reset")
    conn = samba.admin()
    seed_users(conn, samba.base_dn, [], ou=OU)
    conn.add(f"OU=Quarantine,OU={OU},{samba.base_dn}", "organizationalUnit")
    conn.unbind()
    yield samba
    settle(samba, "reset")


@pytest.fixture(scope="module")
def settings(ad):
    return AdSettings(
        url=ad.uri,
        bind_dn=ad.bind_user,
        password=ad.password,
        base_dn=ad.base_dn,
        ca_file=Path(ad.ca_file),
        timeout=2.0,
        quarantine_ou=f"OU=Quarantine,OU={OU},{ad.base_dn}",
    )


@pytest.fixture
def connector(settings):
    c = AdConnector(settings, clock=lambda: NOW)
    yield c
    c.close()


@pytest.fixture
def admin(ad):
    conn = ad.admin()
    yield conn
    conn.unbind()


def make_user(admin, base_dn, account, **fields):
    """Create one user in the test OU; return (dn, objectGUID)."""
    user = TestUser(account, fields.pop("given", "Erin"), fields.pop("sn", account), **fields)
    ou_dn = seed_users(admin, base_dn, [user], ou=OU)
    dn = f"CN={ldap3.utils.dn.escape_rdn(user.display_name)},{ou_dn}"
    admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"])
    return dn, str(uuid.UUID(bytes_le=admin.response[0]["raw_attributes"]["objectGUID"][0]))


def ref(guid):
    return ObjectRef("ad", guid)


def ids_of(dn, guid, account):
    return {
        IdKind.OBJECT_GUID: guid,
        IdKind.ACCOUNT: account,
        IdKind.UPN: f"{account}@corp.example.test",
        IdKind.MAIL: f"{account}@example.test",
        IdKind.DN: dn,
    }


def test_plan_delete_lists_the_tombstone_until_the_configured_lifetime(ad, admin, connector):
    admin.search(
        DIRECTORY_SERVICE.format(base=ad.base_dn),
        "(objectClass=*)",
        ldap3.BASE,
        attributes=["tombstoneLifetime"],
    )
    days = int(admin.response[0]["raw_attributes"]["tombstoneLifetime"][0])
    _, guid = make_user(admin, ad.base_dn, "er-plan")

    plan = connector.plan_delete(ref(guid), timeout=2)

    assert plan.action is PlanAction.DELETE
    assert days == 180  # what Samba provisions, as Windows since 2003 SP1
    assert [r.expires for r in plan.residuals] == [NOW + timedelta(days=days)]
    assert "tombstone" in plan.residuals[0].description
    assert plan.manual == ()


def test_plan_follows_a_changed_tombstone_lifetime(ad, admin, settings):
    _, guid = make_user(admin, ad.base_dn, "er-tsl")
    ds = DIRECTORY_SERVICE.format(base=ad.base_dn)
    admin.modify(ds, {"tombstoneLifetime": [(ldap3.MODIFY_REPLACE, ["42"])]})
    try:
        connector = AdConnector(settings, clock=lambda: NOW)  # lifetimes are cached per eraser
        plan = connector.plan_delete(ref(guid), timeout=2)
        connector.close()
    finally:
        admin.modify(ds, {"tombstoneLifetime": [(ldap3.MODIFY_REPLACE, ["180"])]})
    assert [r.expires for r in plan.residuals] == [NOW + timedelta(days=42)]
    assert "42 days" in plan.residuals[0].description


def test_plan_for_an_unknown_guid_is_not_found(connector):
    with pytest.raises(NotFound):
        connector.plan_delete(ref(str(uuid.uuid4())), timeout=2)


def test_plan_warns_about_a_privileged_account(ad, admin, connector):
    dn, guid = make_user(admin, ad.base_dn, "er-admin")
    admin.modify(f"CN=Domain Admins,CN=Users,{ad.base_dn}", {"member": [(ldap3.MODIFY_ADD, [dn])]})
    plan = connector.plan_delete(ref(guid), timeout=2)
    assert any("privileged account" in m.detail for m in plan.manual)  # found through tokenGroups


def test_plan_warns_about_an_account_marked_with_admin_count(ad, admin, connector):
    admin.search(
        f"CN=Administrator,CN=Users,{ad.base_dn}",
        "(objectClass=*)",
        ldap3.BASE,
        attributes=["objectGUID", "adminCount"],
    )
    raw = admin.response[0]["raw_attributes"]
    assert raw["adminCount"] == [b"1"]
    plan = connector.plan_delete(ref(str(uuid.UUID(bytes_le=raw["objectGUID"][0]))), timeout=2)
    assert any("privileged account" in m.detail for m in plan.manual)


def test_apply_deletes_and_a_second_apply_is_already_absent(ad, admin, connector):
    _, guid = make_user(admin, ad.base_dn, "er-del")
    plan = connector.plan_delete(ref(guid), timeout=2)

    t0 = time.perf_counter()
    first = connector.apply_delete(plan, timeout=2)
    elapsed = time.perf_counter() - t0
    second = connector.apply_delete(plan, timeout=2)

    assert (first.done, first.already_absent) == (True, False)
    assert (second.done, second.already_absent) == (True, True)
    assert elapsed < 1.0
    admin.search(ad.base_dn, "(sAMAccountName=er-del)", ldap3.SUBTREE)
    assert [e for e in admin.response if e["type"] == "searchResEntry"] == []


def test_verify_is_false_before_delete_and_true_after_with_the_tombstone(ad, admin, connector):
    dn, guid = make_user(admin, ad.base_dn, "er-ver")
    ids = ids_of(dn, guid, "er-ver")

    before = connector.verify_absent(ids, timeout=2)
    connector.apply_delete(connector.plan_delete(ref(guid), timeout=2), timeout=2)
    t0 = time.perf_counter()
    after = connector.verify_absent(ids, timeout=2)
    elapsed = time.perf_counter() - t0

    assert (before.absent, before.remaining) == (False, (ref(guid),))
    assert (after.absent, after.remaining) == (True, ())
    assert elapsed < 1.0
    stone = connector.eraser.tombstone(guid, timeout=2)
    assert stone is not None and stone.is_deleted
    assert "\\0ADEL:" in stone.dn
    assert stone.last_known_parent == f"OU={OU},{ad.base_dn}"
    assert stone.expires == stone.deleted_at + timedelta(days=180)
    assert abs(stone.deleted_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert [r.expires for r in after.residuals] == [stone.expires]
    assert after.residuals[0].description.startswith("AD tombstone (")
    assert stone.expires.strftime("%Y-%m-%d") in after.detail
    for text in (after.detail, after.residuals[0].description):  # reach Slack and the audit
        assert "er-ver" not in text and "Erin" not in text and guid not in text


def test_tombstone_of_a_live_or_unknown_object_is_none(ad, admin, connector):
    _, guid = make_user(admin, ad.base_dn, "er-live")
    assert connector.eraser.tombstone(guid, timeout=2) is None
    assert connector.eraser.tombstone(str(uuid.uuid4()), timeout=2) is None


@pytest.fixture(scope="module")
def mail_user(ad):
    """A user with a mail alias in proxyAddresses, shared by the read-only verify tests."""
    conn = ad.admin()
    dn, guid = make_user(conn, ad.base_dn, "er-mail", employee_id="E-9001")
    alias = [(ldap3.MODIFY_ADD, ["smtp:er-mail-alias@example.test"])]
    conn.modify(dn, {"proxyAddresses": alias})
    conn.unbind()
    return dn, guid


@pytest.fixture(scope="module")
def nasty_user(ad):
    """A user whose values are full of filter metacharacters and non-ASCII."""
    conn = ad.admin()
    made = make_user(conn, ad.base_dn, "er-nasty", given="Zoë (x)", sn="Sl\\ash*",
                     employee_id="E\\(1)*", mail="zoe(x)*@example.test")  # fmt: skip
    conn.unbind()
    return made


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (IdKind.MAIL, "er-mail-alias@example.test"),
        (IdKind.MAIL, "ER-MAIL@example.test"),
        (IdKind.EMPLOYEE_ID, "E-9001"),
        (IdKind.ACCOUNT, "er-mail"),
        (IdKind.UPN, "er-mail@corp.example.test"),
    ],
)
def test_verify_by_one_identifier_alone_finds_a_remaining_object(mail_user, connector, kind, value):
    result = connector.verify_absent({kind: value}, timeout=2)
    assert (result.absent, result.remaining) == (False, (ref(mail_user[1]),))


@pytest.mark.parametrize(
    "identifiers",
    [
        {IdKind.MAIL: "*"},
        {IdKind.MAIL: "*)(objectClass=*"},
        {IdKind.ACCOUNT: "*)(|(sAMAccountName=*"},
        {IdKind.EMPLOYEE_ID: "E\\*"},
        {IdKind.EMPLOYEE_ID: "E\\28*"},
        {IdKind.UPN: "*@corp.example.test"},
        {IdKind.DN: "*"},
        {IdKind.DN: f"OU={OU},DC=corp,DC=example,DC=test)(objectClass=*"},
        {IdKind.OBJECT_GUID: "*", IdKind.MAIL: "*"},  # the non-GUID is skipped
        {IdKind.MAIL: "zoë(x)*@example.test"},
        {IdKind.ACCOUNT: "er-nasty\x00", IdKind.UPN: "er-nasty"},  # Samba stops at NUL
    ],
)
def test_injection_shaped_identifiers_match_no_one(nasty_user, mail_user, connector, identifiers):
    result = connector.verify_absent(identifiers, timeout=2)
    assert (result.absent, result.remaining) == (True, ())


@pytest.mark.parametrize(
    "identifiers",
    [
        {IdKind.MAIL: "zoe(x)*@example.test"},
        {IdKind.EMPLOYEE_ID: "E\\(1)*"},
        {IdKind.EMPLOYEE_ID: "e\\(1)*"},
    ],
)
def test_identifiers_with_filter_characters_match_exactly_their_owner(
    nasty_user, mail_user, connector, identifiers
):
    result = connector.verify_absent(identifiers, timeout=2)
    assert result.remaining == (ref(nasty_user[1]),)


def test_verify_by_a_dn_with_escaped_characters_finds_its_owner(nasty_user, connector):
    dn, guid = nasty_user
    assert "\\\\" in dn  # the backslash in the CN, escaped in the DN
    result = connector.verify_absent({IdKind.DN: dn}, timeout=2)
    assert result.remaining == (ref(guid),)


def test_verify_without_a_searchable_identifier_is_not_supported(connector):
    with pytest.raises(NotSupported):
        connector.verify_absent({IdKind.DISPLAY_NAME: "Erin Mail"}, timeout=2)


def test_disable_and_scrub_pseudonymises_and_a_repeat_is_a_no_op(ad, admin, settings):
    dn, guid = make_user(admin, ad.base_dn, "er-scrub", employee_id="E-7")
    admin.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, ["544"])]})  # enabled
    connector = AdConnector(replace(settings, delete_mode="disable_and_scrub"), clock=lambda: NOW)
    try:
        plan = connector.plan_delete(ref(guid), timeout=2)
        first = connector.apply_delete(plan, timeout=2)
        second = connector.apply_delete(plan, timeout=2)
        check = connector.verify_absent(
            {IdKind.MAIL: "er-scrub@example.test", IdKind.EMPLOYEE_ID: "E-7"}, timeout=2
        )
        by_guid = connector.verify_absent({IdKind.OBJECT_GUID: guid}, timeout=2)
    finally:
        connector.close()

    assert plan.action is PlanAction.DISABLE_AND_SCRUB
    assert "pseudonymisation, not erasure" in plan.summary.lower()
    assert (first.done, first.already_absent) == (True, False)
    assert (second.done, second.already_absent) == (True, True)
    assert check.absent  # nothing answers to the scrubbed identifiers any more
    # The account is still there, pseudonymised, not erased: a residual copy, named.
    assert by_guid.absent and not by_guid.remaining
    (kept,) = by_guid.residuals
    assert "pseudonymised account in the quarantine OU" in kept.description
    assert guid not in kept.description  # no identifier in what Slack and the audit keep
    admin.search(
        f"<GUID={guid}>", "(objectClass=*)", ldap3.BASE, attributes=["*", "userAccountControl"]
    )
    entry = admin.response[0]
    attrs = entry["raw_attributes"]
    assert entry["dn"] == f"CN=pseudonymised-{guid},{settings.quarantine_ou}"
    assert int(attrs["userAccountControl"][0]) & 0x2
    for name in (
        "givenName",
        "sn",
        "displayName",
        "mail",
        "proxyAddresses",
        "employeeID",
        "telephoneNumber",
        "department",
        "userPrincipalName",
    ):
        assert name not in attrs or attrs[name] == [], name
    assert attrs["sAMAccountName"] == [b"er-scrub"]  # mandatory: the plan says it stays
    # Personal data written back onto the quarantined account makes it live again.
    admin.modify(
        f"CN=pseudonymised-{guid},{settings.quarantine_ou}",
        {"telephoneNumber": [(ldap3.MODIFY_REPLACE, ["+44 20 7946 0999"])]},
    )
    connector = AdConnector(replace(settings, delete_mode="disable_and_scrub"), clock=lambda: NOW)
    try:
        again = connector.verify_absent({IdKind.OBJECT_GUID: guid}, timeout=2)
    finally:
        connector.close()
    assert not again.absent and not again.residuals


def test_disable_and_scrub_without_a_quarantine_ou_is_refused(settings):
    with pytest.raises(ValueError, match="quarantine_ou"):
        AdConnector(replace(settings, delete_mode="disable_and_scrub", quarantine_ou=None))


def test_a_user_with_a_child_object_is_tree_deleted(ad, admin, connector):
    dn, guid = make_user(admin, ad.base_dn, "er-tree")
    # classStore is one of the few classes AD's schema allows under a user.
    admin.add(f"CN=Device store,{dn}", "classStore")

    plan = connector.plan_delete(ref(guid), timeout=2)
    result = connector.apply_delete(plan, timeout=2)

    assert any("child object" in n for n in plan.notes)
    assert (result.done, result.already_absent) == (True, False)
    assert connector.verify_absent({IdKind.OBJECT_GUID: guid}, timeout=2).absent
    admin.search(f"OU={OU},{ad.base_dn}", "(cn=Device store)", ldap3.SUBTREE)
    assert [e for e in admin.response if e["type"] == "searchResEntry"] == []


def test_apply_with_samba_stopped_raises_unreachable_quickly(ad, admin, settings):
    _, guid = make_user(admin, ad.base_dn, "er-down")
    connector = AdConnector(replace(settings, timeout=1.0), clock=lambda: NOW)
    plan = connector.plan_delete(ref(guid), timeout=1)  # leaves a pooled connection behind
    ad.run("stop")
    try:
        for _ in range(2):  # once on the dead pooled connection, once connecting afresh
            t0 = time.perf_counter()
            with pytest.raises(Unreachable):
                connector.apply_delete(plan, timeout=1)
            assert time.perf_counter() - t0 < 1.5
    finally:
        connector.close()
        settle(ad, "start")
    # ldap3 shuns a Server address for a few seconds after it failed: use a new connector.
    connector = AdConnector(settings, clock=lambda: NOW)
    assert connector.apply_delete(plan, timeout=2).done
    connector.close()


def test_with_the_recycle_bin_the_plan_lists_deleted_then_recycled_object(ad, admin, settings):
    """Last on purpose: the Recycle Bin cannot be switched off (the fixture resets the DC)."""
    subprocess.run(
        ["/usr/bin/python3", "-c", ENABLE_RECYCLE_BIN, ad.env["AD_DIR"], RECYCLE_BIN_GUID],
        check=True,
        capture_output=True,
        timeout=60,
    )
    _, guid = make_user(admin, ad.base_dn, "er-rb", employee_id="E-RB")
    connector = AdConnector(settings, clock=lambda: NOW)
    unset = connector.plan_delete(ref(guid), timeout=2)  # msDS-DeletedObjectLifetime unset
    connector.close()
    ds = DIRECTORY_SERVICE.format(base=ad.base_dn)
    admin.modify(ds, {"msDS-DeletedObjectLifetime": [(ldap3.MODIFY_REPLACE, ["30"])]})
    connector = AdConnector(settings, clock=lambda: NOW)
    try:
        plan = connector.plan_delete(ref(guid), timeout=2)
        connector.apply_delete(plan, timeout=2)
        check = connector.verify_absent({IdKind.EMPLOYEE_ID: "E-RB"}, timeout=2)
        stone = connector.eraser.tombstone(guid, timeout=2)
    finally:
        connector.close()

    assert [r.expires for r in unset.residuals] == [
        NOW + timedelta(days=180),
        NOW + timedelta(days=180 + 180),
    ]
    assert [r.expires for r in plan.residuals] == [
        NOW + timedelta(days=30),
        NOW + timedelta(days=30 + 180),
    ]
    assert "Recycle Bin" in plan.residuals[0].description
    # The deleted object still holds employeeID: found as a residual, not as a live object.
    assert check.absent
    assert stone is not None and not stone.is_recycled
    assert stone.expires == stone.deleted_at + timedelta(days=30 + 180)
    assert [r.expires for r in check.residuals] == [
        stone.deleted_at + timedelta(days=30),
        stone.expires,
    ]
