"""The Certificate Management connector over requests' real transport, against the loopback CM
REST stand-in (demo/cm_stub.py) answering from fixture users, profiles and certificates."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors._shared.http import HttpSettings
from connectors._shared.names import is_account_name
from connectors.base import (
    Capability,
    Connector,
    DeletePlan,
    IdKind,
    ManualStep,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
    ResidualCopy,
)
from connectors.certmgmt.connector import (
    NOTE,
    SUMMARY,
    SUMMARY_BY_HAND,
    CertManagementConnector,
    CertManagementSettings,
)
from connectors.errors import (
    ConnectorError,
    Denied,
    NotFound,
    NotSupported,
    TimedOut,
    Unreachable,
)
from demo.cm_stub import API, BASIC_USER, NTLM_USER, CmProfile, CmStub, CmUser, seed_demo
from tests.support.clock import Clock
from tests.support.ports import closed_port
from tests.support.stalled import stalled_body_url

T = 5.0
CARD_EXPIRES = datetime(2027, 3, 31, 12, 0, tzinfo=UTC)
SOFT_EXPIRES = datetime(2027, 6, 30, 8, 30, tzinfo=UTC)
BEFORE = datetime(2026, 12, 1, tzinfo=UTC)
EXPIRED = datetime(2026, 6, 1, tzinfo=UTC)  # before BEFORE
CARD_COPY = ResidualCopy(
    "1 smart-card certificate (CM profile), kept until it expires", CARD_EXPIRES
)
SOFT_COPY = ResidualCopy("1 software certificate (CM profile), kept until it expires", SOFT_EXPIRES)
SECRET = "jane.o'doe-4711"
USERS = f"{API}/users"


@pytest.fixture
def stub() -> Iterator[CmStub]:
    with CmStub(hang_seconds=5.0) as s:
        yield s


@pytest.fixture
def jdoe(stub: CmStub) -> CmUser:
    user = stub.add_user("jdoe")
    stub.add_profile(user, smartcard=True, certificates=[("1B0000B010", CARD_EXPIRES)])
    stub.add_profile(user, smartcard=False, certificates=[("2700000113", SOFT_EXPIRES)])
    other = stub.add_user("jdoe", "OTHER")
    stub.add_profile(other, certificates=[("3300000001", SOFT_EXPIRES)])
    stub.add_profile(stub.add_user("jdoe2"), certificates=[("3300000002", SOFT_EXPIRES)])
    stub.add_profile(stub.add_user("asmith"))  # a smart card without a certificate
    stub.add_user("nprofile")  # a CM user without profiles
    return user


def basic(stub: CmStub, **kw: Any) -> CertManagementSettings:
    http = HttpSettings(
        url=stub.https_url,
        auth="basic",
        username=BASIC_USER[0],
        password=BASIC_USER[1],
        ca_file=Path(stub.ca_file),
    )
    return CertManagementSettings(http=http, domain="CORP", **kw)


@pytest.fixture
def clock() -> Clock:
    return Clock(BEFORE)


@pytest.fixture
def connector(stub: CmStub, jdoe: CmUser, clock: Clock) -> Iterator[CertManagementConnector]:
    c = CertManagementConnector(basic(stub, timeout=1.0), clock=clock)
    yield c
    c.close()


def users_calls(stub: CmStub, since: int = 0) -> list[dict[str, list[str]]]:
    return [s.params for s in stub.requests[since:] if s.path == USERS]


# -- shape, search ---------------------------------------------------------------------


def test_connector_satisfies_the_protocol_and_is_healthy(
    connector: CertManagementConnector, stub: CmStub
) -> None:
    assert isinstance(connector, Connector)
    assert (connector.name, connector.label) == ("certmgmt", "Certificate Management")
    assert connector.capabilities == {Capability.SEARCH, Capability.READ, Capability.VERIFY}
    health = connector.health(timeout=T)
    assert (health.system, health.ok) == ("certmgmt", True)
    assert stub.requests[-1].path == f"{API}/profiletemplates"
    assert (stub.requests[-1].auth, stub.requests[-1].tls) == ("basic", True)


def test_search_by_account_finds_that_user_with_profiles_and_certificates(
    connector: CertManagementConnector, stub: CmStub
) -> None:
    (hit,) = connector.search(Query(QueryKind.NAME, "JDoe"), timeout=T)

    assert hit.ref == ObjectRef("certmgmt", "CORP\\jdoe")
    assert dict(hit.identifiers) == {IdKind.ACCOUNT: "jdoe", IdKind.DOMAIN: "CORP"}
    assert hit.label.startswith("CORP\\jdoe (CM: 2 profiles, 2 certificates")
    profiles = hit.attributes["profiles"]
    assert sorted(p.split()[0] for p in profiles) == ["smart", "software"]
    certs = " ".join(hit.attributes["certificates"])
    assert "1B0000B010" in certs and "expires 2027-03-31T12:00:00+00:00" in certs
    assert "2700000113" in certs and "expires 2027-06-30T08:30:00+00:00" in certs
    assert users_calls(stub) == [{"domain": ["CORP"], "samaccountname": ["JDoe"]}]
    assert {s.method for s in stub.requests} == {"GET"}


@pytest.mark.parametrize(
    ("query", "ref_id"),
    [
        (Query(QueryKind.NAME, "CORP\\jdoe"), "CORP\\jdoe"),
        (Query(QueryKind.NAME, "corp\\JDOE"), "CORP\\jdoe"),
        (Query(QueryKind.NAME, "OTHER\\jdoe"), "OTHER\\jdoe"),
        (Query(QueryKind.ATTRIBUTE, "jdoe", attribute="sAMAccountName"), "CORP\\jdoe"),
        (Query(QueryKind.ATTRIBUTE, "jdoe", attribute="accountName"), "CORP\\jdoe"),
    ],
    ids=lambda v: v.value if isinstance(v, Query) else None,
)
def test_domain_forms_find_the_user_of_that_domain(
    connector: CertManagementConnector, query: Query, ref_id: str
) -> None:
    (hit,) = connector.search(query, timeout=T)
    assert hit.ref.id == ref_id


@pytest.mark.parametrize("value", ["jdo", "jdoe*", "jdoe ", "jdoe3", "nobody-4711", "BAD\\jdoe"])
def test_a_different_account_never_matches(connector: CertManagementConnector, value: str) -> None:
    assert connector.search(Query(QueryKind.NAME, value), timeout=T) == []


def test_a_sloppy_server_cannot_make_someone_else_match(
    connector: CertManagementConnector, stub: CmStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server matching loosely (every user) and ignoring `targetuser` (every profile)."""
    real = stub.dispatch

    def sloppy(path: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/users":
            return 200, [u.output() for u in stub.users.values()]
        if path in ("/profiles", "/smartcards"):
            smartcard = path == "/smartcards"
            return 200, [p.output() for p in stub.profiles.values() if p.smartcard == smartcard]
        return real(path, params)

    monkeypatch.setattr(stub, "dispatch", sloppy)
    (hit,) = connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    assert hit.ref.id == "CORP\\jdoe"
    assert len(hit.attributes["profiles"]) == 2  # not OTHER\jdoe's, jdoe2's or asmith's
    assert connector.search(Query(QueryKind.NAME, "jdo"), timeout=T) == []


@pytest.mark.parametrize(
    "query",
    [
        Query(QueryKind.MAIL_OR_UPN, "jane.doe@example.test"),
        Query(QueryKind.EMPLOYEE_ID, "4711"),
        Query(QueryKind.PREFIX, "jdo*"),
        Query(QueryKind.ATTRIBUTE, "jane.doe@example.test", attribute="mail"),
    ],
    ids=lambda q: q.kind.value,
)
def test_other_kinds_of_search_are_not_supported(
    connector: CertManagementConnector, stub: CmStub, query: Query
) -> None:
    with pytest.raises(NotSupported, match="searched by account name"):
        connector.search(query, timeout=T)
    assert stub.requests == []


@pytest.mark.parametrize("value", ["", "  ", "jdoe\x00", "x" * 300, "CO/RP\\jdoe", "CORP\\ "])
def test_a_value_that_names_no_account_finds_no_one_and_sends_nothing(
    connector: CertManagementConnector, stub: CmStub, value: str
) -> None:
    assert connector.search(Query(QueryKind.NAME, value), timeout=T) == []
    assert stub.requests == []


FRAGMENTS = [*"/?#&%=+;<>'\"\x00\n\r\t .é\u2019\u212a", "..", "%2F", "%00", "jdoe", "JDoe"]
HOSTILE = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(st.characters(exclude_characters="\\", exclude_categories=("Cs",)), max_size=3),
    ),
    max_size=8,
).map("".join)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=HOSTILE, qualified=st.booleans())
def test_hostile_accounts_reach_the_wire_only_as_one_query_parameter(
    connector: CertManagementConnector, stub: CmStub, value: str, qualified: bool
) -> None:
    since = len(stub.requests)
    term = f"CORP\\{value}" if qualified else value
    hits = connector.search(Query(QueryKind.NAME, term), timeout=T)

    for hit in hits:  # never anyone else
        assert hit.identifiers[IdKind.ACCOUNT].lower() == value.lower()
    seen = stub.requests[since:]
    sendable = is_account_name(value)  # else it names no account: unsent
    assert users_calls(stub, since) == (
        [{"domain": ["CORP"], "samaccountname": [value]}] if sendable else []
    )
    for s in seen:  # fixed paths: the value never moved into one
        assert s.path == USERS or s.path.startswith((f"{API}/profiles", f"{API}/smartcards"))
        if s.path != USERS:
            assert value.lower() in ("jdoe", "jdoe2", "asmith", "nprofile")


# -- read, plan, apply -------------------------------------------------------------------


def test_read_gives_the_profiles_and_each_certificates_expiry(
    connector: CertManagementConnector, jdoe: CmUser
) -> None:
    record = connector.read(ObjectRef("certmgmt", "CORP\\jdoe"), timeout=T)
    values = {k: v.values for k, v in record.attributes.items()}
    assert values["Domain"] == ("CORP",) and values["SamAccountName"] == ("jdoe",)
    assert values["CmUserUuid"] == (jdoe.uuid,)
    assert len(values["Profiles"]) == 2
    (card,) = [c for c in values["Certificates"] if "1B0000B010" in c]
    assert "expires 2027-03-31T12:00:00+00:00" in card
    assert all(v.source == "certmgmt" for v in record.attributes.values())


@pytest.mark.parametrize(
    "ref",
    [
        ObjectRef("certmgmt", "jdoe"),  # no domain: not one of our refs
        ObjectRef("certmgmt", ""),
        ObjectRef("certmgmt", "CO/RP\\jdoe"),
        ObjectRef("ad", "CORP\\jdoe"),
    ],
    ids=repr,
)
def test_a_ref_that_cannot_be_a_cm_user_is_not_found_without_a_call(
    connector: CertManagementConnector, stub: CmStub, ref: ObjectRef
) -> None:
    with pytest.raises(NotFound):
        connector.read(ref, timeout=T)
    with pytest.raises(NotFound):
        connector.plan_delete(ref, timeout=T)
    assert stub.requests == []


def test_a_missing_user_is_not_found(connector: CertManagementConnector) -> None:
    with pytest.raises(NotFound):
        connector.read(ObjectRef("certmgmt", "CORP\\nobody"), timeout=T)


def test_the_plan_erases_nothing_and_keeps_each_valid_certificate_until_it_expires(
    connector: CertManagementConnector, stub: CmStub
) -> None:
    ref = ObjectRef("certmgmt", "CORP\\jdoe")
    plan = connector.plan_delete(ref, timeout=T)
    assert (plan.ref, plan.action, plan.summary) == (ref, PlanAction.NONE, SUMMARY)
    assert plan.summary == "Nothing to erase in Certificate Management: it reflects AD"
    assert plan.notes == (NOTE,) and "not supported" in NOTE
    assert plan.manual == ()  # every profile holds a valid certificate: nothing for a person
    assert plan.residuals == (CARD_COPY, SOFT_COPY)
    assert {s.method for s in stub.requests} == {"GET"}


def private(stub: CmStub) -> set[str]:
    """Every identifier the stub holds: accounts, domains, ids, serials, thumbprints."""
    found = {u.account for u in stub.users.values()} | {u.domain for u in stub.users.values()}
    found |= {u.uuid for u in stub.users.values()} | set(stub.profiles)
    for p in stub.profiles.values():
        found |= {c.serial for c in p.certificates} | {c.thumbprint for c in p.certificates}
    return {v.lower() for v in found}


def assert_no_identifier(stub: CmStub, *texts: str) -> None:
    for text in texts:
        words = {w.strip("().,;:").lower() for w in text.split()}
        assert not words & private(stub), text
        assert not any(v in text.lower() for v in private(stub) if len(v) > 6), text


def when_expired(stub: CmStub, account: str) -> CmUser:
    """A user whose smart card's only certificate expired before the clock's now."""
    user = stub.add_user(account)
    stub.add_profile(user, certificates=[("5500000001", EXPIRED)])
    return user


# (profiles: (smart card?, [expiry or None]) each, what the plan's manual step says)
NO_VALID = "with no valid certificate (expired, none, or no expiry date)"
BY_HAND = {
    "no profile": (
        [],
        "CM keeps a user record with no profile; remove it in the CM portal",
    ),
    "no certificate": (
        [(True, [])],
        f"CM keeps a user record and a profile {NO_VALID}; remove them in the CM portal",
    ),
    "all expired": (
        [(True, [EXPIRED]), (False, [EXPIRED, EXPIRED])],
        f"CM keeps a user record and 2 profiles {NO_VALID}; remove them in the CM portal",
    ),
    "unknown expiry": (
        [(True, [None])],
        f"CM keeps a user record and a profile {NO_VALID}; remove them in the CM portal",
    ),
    "one expired, one valid": (
        [(True, [EXPIRED]), (True, [EXPIRED, CARD_EXPIRES])],
        f"CM keeps a profile {NO_VALID}; remove it in the CM portal, and leave the profiles "
        "holding a valid certificate: they stay until it expires",
    ),
    "two without, one valid": (
        [(True, [None]), (False, []), (False, [SOFT_EXPIRES])],
        f"CM keeps 2 profiles {NO_VALID}; remove them in the CM portal, and leave the profiles "
        "holding a valid certificate: they stay until it expires",
    ),
}


def add_person(stub: CmStub, profiles: list[tuple[bool, list[datetime | None]]]) -> CmUser:
    user = stub.add_user("gone")
    for n, (card, expiries) in enumerate(profiles):
        certs = [(f"77{n:02d}{i:04d}", e) for i, e in enumerate(expiries)]
        stub.add_profile(user, smartcard=card, certificates=certs)
    return user


def without_valid(stub: CmStub, user: CmUser) -> list[CmProfile]:
    return [
        p
        for p in stub.profiles.values()
        if p.user_uuid == user.uuid
        and not any(c.not_after and c.not_after > BEFORE for c in p.certificates)
    ]


@pytest.mark.parametrize("case", list(BY_HAND))
def test_what_cm_keeps_without_a_valid_certificate_is_a_manual_step_and_verify_agrees(
    connector: CertManagementConnector, stub: CmStub, case: str
) -> None:
    """The plan asks a person for exactly what verification finds remaining; once it is
    removed in the portal, verification finds only the residual copies the plan showed."""
    profiles, detail = BY_HAND[case]
    user = add_person(stub, profiles)
    ref = ObjectRef("certmgmt", "CORP\\gone")
    plan = connector.plan_delete(ref, timeout=T)
    assert (plan.action, plan.summary, plan.notes) == (PlanAction.NONE, SUMMARY_BY_HAND, (NOTE,))
    assert plan.manual == (ManualStep(ManualTask.ERASE_BY_HAND, detail),)
    assert_no_identifier(stub, plan.summary, *plan.notes, detail)

    for ids in ({IdKind.ACCOUNT: "gone"}, {IdKind.ACCOUNT: ref.id}):
        before = connector.verify_absent(ids, timeout=T)
        assert (before.absent, before.remaining) == (False, (ref,))  # the step is not done
        assert before.residuals == plan.residuals

    # The person does the step: the profiles without a valid certificate go, and the user
    # record too when nothing valid is left.
    stale = without_valid(stub, user)
    kept = len(stale) < len([p for p in stub.profiles.values() if p.user_uuid == user.uuid])
    for profile in stale:
        stub.remove(profile)
    if not kept:
        stub.remove(user)
    for ids in ({IdKind.ACCOUNT: "gone"}, {IdKind.ACCOUNT: ref.id}):
        after = connector.verify_absent(ids, timeout=T)
        assert (after.absent, after.remaining, after.residuals) == (True, (), plan.residuals)
    assert bool(plan.residuals) is kept


def test_a_profile_emptied_in_the_portal_leaves_the_user_record_remaining(
    connector: CertManagementConnector, stub: CmStub
) -> None:
    """Only the whole step (user record and profile) makes the person absent."""
    user = when_expired(stub, "gone")
    (profile,) = without_valid(stub, user)
    stub.remove(profile)
    result = connector.verify_absent({IdKind.ACCOUNT: "CORP\\gone"}, timeout=T)
    assert (result.absent, result.remaining) == (False, (ObjectRef("certmgmt", "CORP\\gone"),))


def test_residual_copies_count_certificates_per_expiry_day_and_name_none(
    connector: CertManagementConnector, stub: CmStub
) -> None:
    day = datetime(2027, 9, 1, 6, 0, tzinfo=UTC)
    later = day + timedelta(hours=15)  # the same day, later
    user = stub.add_user("many")
    stub.add_profile(user, certificates=[("8800000001", day), ("8800000002", later)])
    stub.add_profile(user, certificates=[("8800000003", day)])
    stub.add_profile(user, smartcard=False, certificates=[("8800000004", later)])
    stub.add_profile(user, smartcard=False, certificates=[("8800000005", CARD_EXPIRES)])
    stub.add_profile(user, smartcard=False, certificates=[("8800000006", SOFT_EXPIRES)])
    stub.add_profile(user, smartcard=False, certificates=[("8800000007", SOFT_EXPIRES)])
    stub.add_profile(user, certificates=[("8800000008", SOFT_EXPIRES - timedelta(days=1))])
    plan = connector.plan_delete(ObjectRef("certmgmt", "CORP\\many"), timeout=T)
    assert plan.residuals == (
        ResidualCopy("1 software certificate (CM profile), kept until it expires", CARD_EXPIRES),
        ResidualCopy(
            "1 smart-card certificate (CM profile), kept until it expires",
            SOFT_EXPIRES - timedelta(days=1),
        ),
        ResidualCopy("2 software certificates (CM profiles), kept until they expire", SOFT_EXPIRES),
        ResidualCopy(
            "4 certificates, 3 smart-card and 1 software (CM profiles), kept until they expire",
            later,  # the day's last: a re-check after it finds them all gone
        ),
    )
    assert plan.manual == ()
    verified = connector.verify_absent({IdKind.ACCOUNT: "many"}, timeout=T)
    assert (verified.absent, verified.residuals) == (True, plan.residuals)
    assert_no_identifier(stub, *(r.description for r in plan.residuals), verified.detail)


def test_two_certificates_on_one_profile_are_one_profiles_copy(
    connector: CertManagementConnector, stub: CmStub
) -> None:
    user = stub.add_user("two")
    stub.add_profile(user, certificates=[("9900000001", CARD_EXPIRES), ("9900000002", EXPIRED)])
    stub.add_profile(user, certificates=[("9900000003", CARD_EXPIRES)])
    certs = [("9900000004", CARD_EXPIRES), ("9900000005", CARD_EXPIRES)]
    stub.add_profile(stub.add_user("three"), certificates=certs)
    (two,) = connector.plan_delete(ObjectRef("certmgmt", "CORP\\two"), timeout=T).residuals
    (three,) = connector.plan_delete(ObjectRef("certmgmt", "CORP\\three"), timeout=T).residuals
    assert two.description == "2 smart-card certificates (CM profiles), kept until they expire"
    assert three.description == "2 smart-card certificates (CM profile), kept until they expire"


def test_the_plan_and_the_residual_recheck_name_no_certificate_profile_or_account(
    connector: CertManagementConnector, stub: CmStub, clock: Clock
) -> None:
    plan = connector.plan_delete(ObjectRef("certmgmt", "CORP\\jdoe"), timeout=T)
    texts = [plan.summary, *plan.notes, *(r.description for r in plan.residuals)]
    for now in (BEFORE, CARD_EXPIRES + timedelta(seconds=1)):
        clock.now = now
        v = connector.verify_absent({IdKind.ACCOUNT: "CORP\\jdoe"}, timeout=T)
        texts += [v.detail, *(r.description for r in v.residuals)]
    assert_no_identifier(stub, *texts)
    # ... while find and show, private to the caller, still give the serials
    (hit,) = connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    assert any("1B0000B010" in c for c in hit.attributes["certificates"])


def test_apply_delete_is_refused_and_sends_nothing(
    connector: CertManagementConnector, stub: CmStub
) -> None:
    plan = DeletePlan(ObjectRef("certmgmt", "CORP\\jdoe"), PlanAction.NONE, SUMMARY)
    with pytest.raises(NotSupported, match="read-only"):
        connector.apply_delete(plan, timeout=T)
    assert stub.requests == []


# -- verify ------------------------------------------------------------------------------


def test_verify_keeps_profiles_until_their_certificates_expire(
    connector: CertManagementConnector, clock: Clock
) -> None:
    ids = {IdKind.ACCOUNT: "jdoe", IdKind.DOMAIN: "CORP"}
    before = connector.verify_absent(ids, timeout=T)
    assert (before.absent, before.remaining) == (True, ())
    assert before.residuals == (CARD_COPY, SOFT_COPY)

    clock.now = CARD_EXPIRES + timedelta(seconds=1)  # the card's certificate has expired
    between = connector.verify_absent(ids, timeout=T)
    assert (between.absent, between.remaining) == (False, (ObjectRef("certmgmt", "CORP\\jdoe"),))
    assert between.residuals == (SOFT_COPY,)

    clock.now = SOFT_EXPIRES + timedelta(days=1)
    after = connector.verify_absent(ids, timeout=T)
    assert (after.absent, after.residuals) == (False, ())


def test_the_residual_recheck_by_ref_id_finds_the_copy_gone_once_cm_drops_it(
    connector: CertManagementConnector, stub: CmStub, jdoe: CmUser, clock: Clock
) -> None:
    """The lead's re-check after the last residual date: `absent and not residuals`."""
    ref = connector.plan_delete(ObjectRef("certmgmt", "CORP\\jdoe"), timeout=T).ref
    clock.now = SOFT_EXPIRES + timedelta(days=1)
    stub.remove(jdoe)  # CM keeps the profiles no longer
    result = connector.verify_absent({IdKind.ACCOUNT: ref.id}, timeout=T)
    assert result.absent and not result.residuals and result.remaining == ()


@pytest.mark.parametrize(
    ("ids", "absent"),
    [
        ({IdKind.ACCOUNT: "nobody-4711"}, True),
        ({IdKind.ACCOUNT: "asmith"}, False),  # a profile without a certificate
        ({IdKind.ACCOUNT: "nprofile"}, False),  # a user without profiles
        ({IdKind.ACCOUNT: "jdoe", IdKind.DOMAIN: "OTHER"}, True),  # kept for its certificate
        ({IdKind.ACCOUNT: "jdoe\x00"}, True),
        ({IdKind.ACCOUNT: "*"}, True),
        ({IdKind.ACCOUNT: "CORP\\asmith"}, False),  # the ref id, as the residual re-check has it
        ({IdKind.ACCOUNT: "corp\\ASMITH"}, False),
        ({IdKind.ACCOUNT: "OTHER\\asmith"}, True),
        ({IdKind.ACCOUNT: "CORP\\nobody-4711"}, True),
        ({IdKind.ACCOUNT: "CORP\\asmith", IdKind.DOMAIN: "OTHER"}, False),  # the ref's domain
    ],
    ids=repr,
)
def test_verify_by_account(
    connector: CertManagementConnector, ids: dict[IdKind, str], absent: bool
) -> None:
    result = connector.verify_absent(ids, timeout=T)
    assert (result.system, result.absent) == ("certmgmt", absent)
    assert bool(result.remaining) is not absent


@pytest.mark.parametrize(
    "ids",
    [
        {IdKind.ACCOUNT: "jdoe", IdKind.DOMAIN: "CORP"},
        {IdKind.ACCOUNT: "jdoe"},  # settings.domain
        {IdKind.ACCOUNT: "CORP\\jdoe"},
        {IdKind.ACCOUNT: "CORP\\jdoe", IdKind.DOMAIN: "CORP"},
    ],
    ids=repr,
)
def test_verify_finds_the_same_user_by_each_form_of_account(
    connector: CertManagementConnector, stub: CmStub, ids: dict[IdKind, str]
) -> None:
    result = connector.verify_absent(ids, timeout=T)
    assert (result.absent, result.residuals) == (True, (CARD_COPY, SOFT_COPY))
    assert users_calls(stub) == [{"domain": ["CORP"], "samaccountname": ["jdoe"]}]


@pytest.mark.parametrize(
    "ids",
    [
        {},
        {IdKind.MAIL: "jane.doe@example.test"},
        {IdKind.DOMAIN: "CORP"},
        {IdKind.ACCOUNT: "jdoe", IdKind.DOMAIN: "corp.example.test"},
        {IdKind.ACCOUNT: "corp.example.test\\jdoe"},
        {IdKind.ACCOUNT: "\\jdoe"},
    ],
    ids=repr,
)
def test_verify_without_an_account_is_not_supported(
    connector: CertManagementConnector, ids: dict[IdKind, str]
) -> None:
    with pytest.raises(NotSupported):
        connector.verify_absent(ids, timeout=T)


# -- errors ------------------------------------------------------------------------------


def calls(c: CertManagementConnector) -> dict[str, Callable[[], object]]:
    ref = ObjectRef("certmgmt", f"CORP\\{SECRET}")
    return {
        "search": lambda: c.search(Query(QueryKind.NAME, SECRET), timeout=T),
        "read": lambda: c.read(ref, timeout=T),
        "plan_delete": lambda: c.plan_delete(ref, timeout=T),
        "verify_absent": lambda: c.verify_absent({IdKind.ACCOUNT: SECRET}, timeout=T),
    }


def assert_clean(exc: BaseException) -> None:
    """No term in the message, and no library exception (whose text holds the URL) chained."""
    for text in (str(exc), repr(exc)):
        assert SECRET not in text and "o%27doe" not in text
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


@pytest.mark.parametrize(
    ("kind", "error", "match"),
    [
        ("http500", ConnectorError, "HTTP 500"),
        ("auth", Denied, "HTTP 401"),
        ("not_json", ConnectorError, "not JSON"),
        ("hang", TimedOut, "in time"),
    ],
)
def test_each_fault_is_its_error_without_the_term(
    connector: CertManagementConnector, stub: CmStub, kind: str, error: type, match: str
) -> None:
    for name, call in calls(connector).items():
        stub.fail(kind)
        started = time.monotonic()
        with pytest.raises(error, match=match) as info:
            call()
            pytest.fail(f"{name} answered")
        assert type(info.value) is error, name
        assert time.monotonic() - started < 2.0  # settings.timeout (1 s) caps the caller's 5 s
        assert_clean(info.value)


def test_a_slow_answer_within_the_deadline_is_fine_and_beyond_it_times_out(
    connector: CertManagementConnector, stub: CmStub
) -> None:
    stub.fail("slow", seconds=0.3)
    assert connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    stub.fail("slow", seconds=1.5)
    with pytest.raises(TimedOut):
        connector.search(Query(QueryKind.NAME, "jdoe"), timeout=1.0)  # the caller's, shorter
    assert connector.health(timeout=T).ok  # the session recovers


def test_wrong_credentials_are_denied(stub: CmStub, jdoe: CmUser) -> None:
    base = basic(stub)
    c = CertManagementConnector(replace(base, http=replace(base.http, password="wrong")))
    try:
        with pytest.raises(Denied) as info:
            c.search(Query(QueryKind.NAME, SECRET), timeout=T)
        assert_clean(info.value)
        health = c.health(timeout=T)
    finally:
        c.close()
    assert not health.ok and "401" in health.detail


def test_a_disabled_api_is_an_error_not_nobody(
    connector: CertManagementConnector, stub: CmStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stub, "dispatch", lambda path, params: (404, {"Message": "off"}))
    with pytest.raises(ConnectorError, match=r"Clm\.WebApi\.Enabled"):
        connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    with pytest.raises(ConnectorError):
        connector.verify_absent({IdKind.ACCOUNT: "jdoe"}, timeout=T)


def test_a_profile_id_that_is_not_a_guid_never_reaches_a_path(
    connector: CertManagementConnector, stub: CmStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = stub.dispatch

    def evil(path: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/smartcards":
            return 200, [{"Uuid": "../../users", "AssignedUserUuid": params["targetuser"][0]}]
        return real(path, params)

    monkeypatch.setattr(stub, "dispatch", evil)
    with pytest.raises(ConnectorError, match="unexpected answer"):
        connector.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    assert not any(".." in s.path or "%2F" in s.path for s in stub.requests)


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:{port}/CertificateManagement", "https://cm.invalid/CM"]
)
def test_an_unreachable_server_is_unreachable_from_every_call(stub: CmStub, url: str) -> None:
    base = basic(stub)
    http = replace(base.http, url=url.format(port=closed_port()))
    c = CertManagementConnector(replace(base, http=http))
    try:
        for name, call in calls(c).items():
            with pytest.raises(Unreachable) as info:
                call()
                pytest.fail(f"{name} answered")
            assert_clean(info.value)
        health = c.health(timeout=2)
    finally:
        c.close()
    assert (health.system, health.ok) == ("certmgmt", False)


def test_an_untrusted_certificate_is_unreachable(stub: CmStub, jdoe: CmUser) -> None:
    base = basic(stub)
    c = CertManagementConnector(replace(base, http=replace(base.http, ca_file=None)))
    try:
        with pytest.raises(Unreachable, match="TLS"):
            c.search(Query(QueryKind.NAME, "jdoe"), timeout=T)
    finally:
        c.close()


def test_an_answer_that_stops_midway_times_out_from_every_call() -> None:
    """requests raises a read timeout in the body as a ConnectionError: still TimedOut."""
    with stalled_body_url("/CertificateManagement/api/v1.0") as url:
        http = HttpSettings(
            url=url.removesuffix("/api/v1.0"),
            auth="ntlm",
            username=NTLM_USER[0],
            password=NTLM_USER[1],
            allow_plain_http=True,
        )
        c = CertManagementConnector(CertManagementSettings(http=http, domain="CORP", timeout=0.5))
        try:
            for name, call in calls(c).items():
                started = time.monotonic()
                with pytest.raises(ConnectorError) as info:
                    call()
                    pytest.fail(f"{name} answered")
                assert type(info.value) is TimedOut, name
                assert time.monotonic() - started < 2, name
                wrapped = info.value.__context__  # what requests raised: this test's case
                assert isinstance(wrapped, requests.ConnectionError), name
                assert not isinstance(wrapped, requests.Timeout), name
                assert_clean(info.value)
        finally:
            c.close()


# -- NTLM, the demo seed, settings --------------------------------------------------------


def test_ntlm_over_http_and_the_demo_seed(stub: CmStub) -> None:
    expires = datetime(2027, 1, 15, tzinfo=UTC)
    seed_demo(stub, ["alice", "bob"], expires=expires)
    http = HttpSettings(
        url=stub.url,
        auth="ntlm",
        username=NTLM_USER[0],
        password=NTLM_USER[1],
        allow_plain_http=True,
    )
    c = CertManagementConnector(CertManagementSettings(http=http, domain="CORP"))
    try:
        (hit,) = c.search(Query(QueryKind.NAME, "bob"), timeout=T)
        plan = c.plan_delete(hit.ref, timeout=T)
    finally:
        c.close()
    assert hit.attributes["profiles"][0].startswith("smart card ")
    # what the demo shows (tests/frontends/test_cli.py): one copy, no serial
    assert plan.residuals == (
        ResidualCopy("1 smart-card certificate (CM profile), kept until it expires", expires),
    )
    assert (plan.summary, plan.manual) == (SUMMARY, ())
    assert {s.auth for s in stub.requests} == {"ntlm"}


@pytest.mark.parametrize(
    "change",
    [
        {"domain": ""},
        {"domain": "  "},
        {"domain": "corp.example.test"},
        {"domain": "A" * 16},
        {"timeout": 0},
    ],
    ids=repr,
)
def test_settings_refuse_what_cannot_work(stub: CmStub, change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(basic(stub), **change)


def test_plain_http_is_refused_unless_said_explicitly() -> None:
    # NTLM neither encrypts nor signs an HTTP body: personal data would travel in clear.
    with pytest.raises(ValueError, match="allow_plain_http"):
        HttpSettings(
            url="http://cm01.corp.example/CertificateManagement", username="u", password="p"
        )
    assert HttpSettings(url="http://cm01/x", username="u", password="p", allow_plain_http=True)
    assert HttpSettings(url="https://cm01/x", username="u", password="p")
