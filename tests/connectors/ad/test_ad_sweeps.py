"""Retention sweeps in AD against the real Samba DC: the disabled and the inactive users a
rule finds (paged), and the members of a hold group, nested ones included, by any DN."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import ldap3
import pytest
from ldap3.utils.dn import escape_rdn

from connectors.ad.connector import AdConnector, AdSettings
from connectors.ad.sweeps import filetime, generalized, stale_filter
from connectors.base import IdKind
from connectors.capabilities import finds_stale, knows_holds
from connectors.errors import NotFound, NotSupported
from connectors.sweeps import HoldQuery, Population, StaleRule
from tests.support.samba import TestUser, seed_users

pytestmark = pytest.mark.samba

T = 5.0
YEAR = timedelta(days=365)
ENABLED = 0x200 | 0x20  # NORMAL_ACCOUNT | PASSWD_NOTREQD: enabled without a password
HOSTILE_CN = "Hold*)(\\ legal"  # a real group's name with filter metacharacters in it


def _users(prefix: str, n: int, first: int) -> list[TestUser]:
    return [TestUser(f"{prefix}{i}", "Sweep", f"{prefix} {i}", str(first + i)) for i in range(n)]


def _dn(ou: str, user: TestUser) -> str:
    return f"CN={escape_rdn(user.display_name)},{ou}"


def _enable(conn: ldap3.Connection, dn: str) -> None:
    conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(ENABLED)])]})


def _group(conn: ldap3.Connection, dn: str, account: str, members: list[str]) -> None:
    conn.add(dn, ["top", "group"], {"sAMAccountName": account})
    if members:
        conn.modify(dn, {"member": [(ldap3.MODIFY_ADD, members)]})


DISABLED = _users("sw-dis", 3, 8100)
ENABLED_USERS = _users("sw-en", 2, 8110)
OLD, RECENT, NEVER = _users("sw-in", 3, 8120)
PAGED = _users("sw-pg", 7, 8130)
H_DIRECT, H_NESTED, H_DEEP, H_OUT, H_HOSTILE = _users("sw-h", 5, 8140)
LONG_AGO = datetime(2012, 12, 14, 23, 6, 40, tzinfo=UTC)


@pytest.fixture(scope="module")
def estate(samba):
    """One OU per case, so each connector's base_dn holds exactly its users."""
    conn = samba.admin()
    ous = {}
    ous["disabled"] = seed_users(conn, samba.base_dn, DISABLED + ENABLED_USERS, ou="SweepDis")
    for u in ENABLED_USERS:
        _enable(conn, _dn(ous["disabled"], u))
    ous["inactive"] = seed_users(conn, samba.base_dn, [OLD, RECENT, NEVER], ou="SweepInact")
    now_ft = filetime(datetime.now(UTC))
    for user, value in ((OLD, filetime(LONG_AGO)), (RECENT, now_ft)):
        conn.modify(
            _dn(ous["inactive"], user),
            {"lastLogonTimestamp": [(ldap3.MODIFY_REPLACE, [str(value)])]},
        )
    ous["paged"] = seed_users(conn, samba.base_dn, PAGED, ou="SweepPaged")
    holds = seed_users(conn, samba.base_dn, [H_DIRECT, H_NESTED, H_DEEP, H_OUT], ou="SweepHolds")
    elsewhere = seed_users(conn, samba.base_dn, [H_HOSTILE], ou="SweepHoldsElsewhere")
    ous["holds"] = holds
    deep, nested, top = (f"CN={n},{holds}" for n in ("Hold deep", "Hold nested", "Legal hold"))
    _group(conn, deep, "sw-g-deep", [_dn(holds, H_DEEP)])
    _group(conn, nested, "sw-g-nested", [_dn(holds, H_NESTED), deep])
    _group(conn, top, "sw-g-top", [_dn(holds, H_DIRECT), nested])
    _group(conn, f"CN=Other,{holds}", "sw-g-other", [_dn(holds, H_OUT)])
    hostile = f"CN={escape_rdn(HOSTILE_CN)},{holds}"
    _group(conn, hostile, "sw-g-hostile", [_dn(elsewhere, H_HOSTILE)])
    conn.unbind()
    settings = AdSettings(
        url=samba.uri,
        bind_dn=samba.bind_user,
        password=samba.password,
        base_dn=samba.base_dn,
        ca_file=samba.ca_file,
        timeout=T,
    )
    return settings, ous, {"top": top, "nested": nested, "hostile": hostile}


@pytest.fixture
def connect(estate):
    settings, _, _ = estate
    made: list[AdConnector] = []

    def make(base_dn: str | None = None, **changes: object) -> AdConnector:
        ad = AdConnector(replace(settings, base_dn=base_dn or settings.base_dn, **changes))
        made.append(ad)
        return ad

    yield make
    for ad in made:
        ad.close()


def rule(population: Population, age: timedelta = YEAR) -> StaleRule:
    return StaleRule("r", "ad", population, age)


def accounts(candidates) -> list[str]:
    return sorted(c.identifiers[IdKind.ACCOUNT] for c in candidates)


def test_it_finds_stale_and_knows_holds(connect):
    ad = connect()
    assert finds_stale(ad) is ad and knows_holds(ad) is ad
    assert ad.populations == {Population.DISABLED, Population.INACTIVE}


def test_disabled_users_are_found_and_enabled_ones_are_not(connect, estate):
    ad = connect(estate[1]["disabled"])
    # A cutoff past "now" holds the users just created (and just disabled) ...
    later = datetime.now(UTC) + YEAR + timedelta(days=2)
    found = list(ad.stale(rule(Population.DISABLED), now=later, timeout=T))
    assert accounts(found) == [u.account for u in DISABLED]
    one = found[0]
    assert one.ref.system == "ad" and one.ref.id == one.identifiers[IdKind.OBJECT_GUID]
    assert one.identifiers[IdKind.DOMAIN] == "CORP"
    assert {IdKind.UPN, IdKind.MAIL, IdKind.EMPLOYEE_ID} <= set(one.identifiers)
    assert one.label.startswith("Sweep sw-dis") and one.label.endswith(")")
    assert one.since is not None and abs(one.since - datetime.now(UTC)) < timedelta(hours=1)
    # ... a cutoff in the past none of them: they changed today.
    assert list(ad.stale(rule(Population.DISABLED), now=datetime.now(UTC), timeout=T)) == []


def test_inactive_users_by_last_sign_in_or_by_creation_when_never_signed_in(connect, estate):
    ad = connect(estate[1]["inactive"])
    now = datetime.now(UTC)
    sweep = ad.stale(rule(Population.INACTIVE), now=now, timeout=T)
    found = {c.identifiers[IdKind.ACCOUNT]: c for c in sweep}
    assert sorted(found) == [OLD.account]  # signed in 2012; the others today or never
    assert found[OLD.account].since == LONG_AGO
    later = now + YEAR + timedelta(days=2)
    found = {
        c.identifiers[IdKind.ACCOUNT]: c
        for c in ad.stale(rule(Population.INACTIVE), now=later, timeout=T)
    }
    assert sorted(found) == sorted(u.account for u in (OLD, RECENT, NEVER))
    # Never signed in: the date is the account's creation.
    never = found[NEVER.account].since
    assert never is not None and abs(never - now) < timedelta(hours=1)


def test_an_inactive_rule_younger_than_the_logon_sync_interval_is_refused(connect):
    ad = connect()
    with pytest.raises(NotSupported, match="14 days"):
        ad.stale(rule(Population.INACTIVE, timedelta(days=13)), now=datetime.now(UTC), timeout=T)
    list(ad.stale(rule(Population.INACTIVE, timedelta(days=14)), now=datetime.now(UTC), timeout=T))
    # The disabled population has no such lag.
    list(ad.stale(rule(Population.DISABLED, timedelta(days=1)), now=datetime.now(UTC), timeout=T))


def test_a_population_ad_does_not_hold_is_refused(connect):
    ad = connect()
    for population in (Population.ENDED, Population.UNJOINED):
        with pytest.raises(NotSupported):
            ad.stale(rule(population), now=datetime.now(UTC), timeout=T)  # at the call


def test_the_filters_carry_dates_made_by_code():
    cutoff = datetime(2024, 3, 1, 12, 30, 5, tzinfo=UTC)
    now = cutoff + YEAR
    assert stale_filter(rule(Population.DISABLED), now) == (
        "(&(objectCategory=person)(objectClass=user)"
        "(userAccountControl:1.2.840.113556.1.4.803:=2)(whenChanged<=20240301123005.0Z))"
    )
    assert generalized(cutoff) == "20240301123005.0Z"
    # Unix time in 100-ns ticks plus 1601-01-01..1970-01-01 (11644473600 s): a FILETIME.
    assert filetime(cutoff) == 1709296205 * 10**7 + 116444736000000000
    inactive = stale_filter(rule(Population.INACTIVE), now)
    assert f"(lastLogonTimestamp<={filetime(cutoff)})" in inactive
    assert "(&(!(lastLogonTimestamp=*))(whenCreated<=20240301123005.0Z))" in inactive


def test_every_page_is_read_and_a_sweep_may_stop_early(connect, estate):
    ad = connect(estate[1]["paged"], page_size=2)
    later = datetime.now(UTC) + YEAR + timedelta(days=2)
    found = list(ad.stale(rule(Population.DISABLED), now=later, timeout=T))
    assert accounts(found) == sorted(u.account for u in PAGED)  # 7 users, pages of 2
    assert len({c.ref.id for c in found}) == len(PAGED)
    sweep = ad.stale(rule(Population.DISABLED), now=later, timeout=T)
    next(sweep)
    sweep.close()  # mid-search: its connection is dropped, the next call gets a good one
    assert len(list(ad.stale(rule(Population.DISABLED), now=later, timeout=T))) == len(PAGED)


def test_a_hold_group_lists_its_members_nested_ones_included(connect, estate):
    _, ous, groups = estate
    ad = connect(ous["holds"])
    held = list(ad.on_hold(HoldQuery(group=groups["top"]), timeout=T))
    assert sorted(i[IdKind.ACCOUNT] for i in held) == sorted(
        u.account for u in (H_DIRECT, H_NESTED, H_DEEP)
    )  # users only: the nested groups themselves are not listed
    assert all(IdKind.OBJECT_GUID in i and i[IdKind.DOMAIN] == "CORP" for i in held)
    nested = ad.on_hold(HoldQuery(group=groups["nested"]), timeout=T)
    assert sorted(i[IdKind.ACCOUNT] for i in nested) == [H_NESTED.account, H_DEEP.account]
    # The DN as a person types it (another case) names the same group.
    typed = ad.on_hold(HoldQuery(group=groups["top"].lower()), timeout=T)
    assert len(list(typed)) == 3


def test_a_group_with_filter_characters_in_its_name_holds_its_member_only(connect, estate):
    _, ous, groups = estate
    ad = connect(ous["holds"])  # its member lives outside base_dn: held all the same
    held = list(ad.on_hold(HoldQuery(group=groups["hostile"]), timeout=T))
    assert [i[IdKind.ACCOUNT] for i in held] == [H_HOSTILE.account]


@pytest.mark.parametrize(
    "dn",
    [
        "*",
        "CN=*,OU=SweepHolds,{base}",
        "CN=Legal hold)(objectClass=*,OU=SweepHolds,{base}",
        "CN=Legal hold\\,OU=SweepHolds,{base}",
        "CN=No such group,OU=SweepHolds,{base}",
        "CN=Legal hold,OU=NoSuchOu,{base}",
        "",
        "CN=Legal\x00hold,OU=SweepHolds,{base}",
    ],
)
def test_a_dn_that_names_no_group_is_not_found_never_everyone(connect, estate, dn):
    settings, ous, _ = estate
    ad = connect(ous["holds"])
    with pytest.raises(NotFound, match="hold group does not exist"):
        list(ad.on_hold(HoldQuery(group=dn.format(base=settings.base_dn)), timeout=T))


def test_a_dn_of_a_user_is_not_a_hold_group_and_a_column_is_refused(connect, estate):
    _, ous, _ = estate
    ad = connect(ous["holds"])
    with pytest.raises(NotFound, match="not a group"):
        list(ad.on_hold(HoldQuery(group=_dn(ous["holds"], H_DIRECT)), timeout=T))
    with pytest.raises(NotSupported):
        list(ad.on_hold(HoldQuery(column="legal_hold"), timeout=T))
