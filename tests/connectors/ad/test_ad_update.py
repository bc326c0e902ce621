"""Rectification in AD (connectors/ad/update.py through AdConnector) against the real Samba
AD DC, and `/mim update` end to end: signed requests, approval, the change read back."""

from __future__ import annotations

import json
import ssl
import uuid

import ldap3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ad.connector import AdConnector, AdSettings
from connectors.ad.schema import read_rules, schema_nc
from connectors.ad.update import DEFAULT_WRITABLE
from connectors.base import Change, ObjectRef, Query, QueryKind, UpdatePlan
from connectors.errors import NotFound, NotSupported
from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import start_bot

pytestmark = pytest.mark.samba

T = 5.0
OU = "UpdateTests"


@pytest.fixture(scope="module")
def seeded(samba):
    conn = samba.admin()
    seed_users(
        conn,
        samba.base_dn,
        [
            TestUser("up-ann", "Ann", "Update", "8301"),
            TestUser("up-bob", "Bob", "Other", "8302"),
            TestUser("up-eve", "Eve", "Escalate", "8303"),
        ],
        ou=OU,
    )
    conn.unbind()
    return samba


@pytest.fixture(scope="module")
def ad(seeded):
    c = AdConnector(
        AdSettings(
            url=seeded.uri,
            bind_dn=seeded.bind_user,
            password=seeded.password,
            base_dn=seeded.base_dn,
            ca_file=seeded.ca_file,
            attributes=("sAMAccountName", "displayName", "telephoneNumber", "title"),
        )
    )
    yield c
    c.close()


def ref_of(ad: AdConnector, account: str) -> ObjectRef:
    (hit,) = ad.search(Query(QueryKind.NAME, account), timeout=T)
    return hit.ref


def values(ad: AdConnector, ref: ObjectRef, attribute: str) -> tuple[str, ...]:
    attr = ad.read(ref, timeout=T).attributes.get(attribute)
    return attr.values if attr else ()


def test_a_change_is_written_and_read_back(ad):
    ref = ref_of(ad, "up-ann")
    plan = ad.plan_update(ref, (Change("TelephoneNumber", "+44 20 7946 0101"),), timeout=T)
    assert plan.changes == (Change("telephoneNumber", "+44 20 7946 0101"),)
    assert "+44" not in plan.summary  # the summary names attributes, never values
    result = ad.apply_update(plan, timeout=T)
    assert result.done and result.detail == "updated telephoneNumber"
    assert values(ad, ref, "telephoneNumber") == ("+44 20 7946 0101",)
    again = ad.apply_update(plan, timeout=T)
    assert again.done and again.detail == "already set"
    cleared = ad.plan_update(ref, (Change("telephoneNumber", None),), timeout=T)
    assert ad.apply_update(cleared, timeout=T).done
    assert values(ad, ref, "telephoneNumber") == ()
    bob = values(ad, ref_of(ad, "up-bob"), "telephoneNumber")
    assert bob == ("+44 20 7946 0000",)  # as seeded: no one else touched


def test_what_names_or_keys_the_account_is_not_a_correction(ad):
    ref = ref_of(ad, "up-ann")
    for attribute in ("sAMAccountName", "mail", "manager", "unicodePwd"):
        with pytest.raises(NotSupported) as caught:
            ad.plan_update(ref, (Change(attribute, "evil-value"),), timeout=T)
        assert "evil-value" not in str(caught.value)
    with pytest.raises(NotSupported):
        ad.plan_update(ref, (Change("title", "a\x00b"),), timeout=T)
    with pytest.raises(NotFound):
        ad.plan_update(ObjectRef("ad", str(uuid.uuid4())), (Change("title", "x"),), timeout=T)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(
        alphabet=st.sampled_from([*"ab*()\\<>&'\"=,;+#é\u2019 ", "\u00e9", "\U0001f600"]),
        min_size=1,
        max_size=24,
    ).filter(lambda v: v.strip() == v and v)
)
def test_any_value_is_stored_exactly_as_data(ad, value):
    ref = ref_of(ad, "up-ann")
    plan = ad.plan_update(ref, (Change("title", value),), timeout=T)
    assert ad.apply_update(plan, timeout=T).done
    assert values(ad, ref, "title") == (value,)


def test_update_end_to_end_through_slack(tmp_path, seeded):
    stub = MockSlack().start()
    bot = start_bot(tmp_path, stub, seeded)
    try:
        bot.slash('update up-bob title="Head of Payroll" promoted', "UBOTH")
        created = bot.answer()["text"]
        assert created.startswith("Rectification request REQ-")
        request_id = created.split()[2]
        (posted,) = stub.wait_for("chat.postMessage")
        assert posted.body["channel"] == "CAPPROVALS"
        assert "Head of Payroll" in json_text(posted.body)  # the approver sees the new value
        bot.slash(f"approve {request_id}", "UBOTH", name="r2")  # four eyes
        assert "another approver" in bot.answer("r2")["text"]
        bot.slash(f"approve {request_id}", "UAPP", name="r3")
        done = bot.wait_status(request_id, "completed")
        assert done.subject is None
        ad = AdConnector(
            AdSettings(
                url=seeded.uri,
                bind_dn=seeded.bind_user,
                password=seeded.password,
                base_dn=seeded.base_dn,
                ca_file=seeded.ca_file,
                attributes=("title",),
            )
        )
        try:
            assert values(ad, ref_of(ad, "up-bob"), "title") == ("Head of Payroll",)
        finally:
            ad.close()
        chain = str([e.detail for e in bot.services.audit.events()])
        assert "Head of Payroll" not in chain and "promoted" not in chain
    finally:
        bot.stop()
        stub.stop()


# The review's attributes (F1): each was written through `/mim update` before.
REVIEW_ATTACK = {
    "userAccountControl": "66048",
    "servicePrincipalName": "HTTP/kerberoast.corp.example.test",
    "altSecurityIdentities": "X509:<I>CN=Evil CA<S>CN=up-eve",
    "msDS-AllowedToDelegateTo": "cifs/dc1.corp.example.test",
    "adminCount": "1",
    "unicodePwd": '"Takeover1!"',
    "member": "CN=Administrator,CN=Users,DC=corp,DC=example,DC=test",
}


def raw_state(samba, account: str) -> dict[str, list[bytes]]:
    """The user as the directory holds it, read with the administrator's own connection:
    uSNChanged moves on any write, so an unchanged one means nothing reached AD."""
    conn = samba.admin()
    try:
        conn.search(
            samba.base_dn,
            f"(sAMAccountName={account})",
            attributes=["uSNChanged", *(a for a in REVIEW_ATTACK if a != "unicodePwd")],
        )
        (entry,) = (e for e in conn.response if e["type"] == "searchResEntry")
        return dict(entry["raw_attributes"])
    finally:
        conn.unbind()


def forced(seeded, writable: tuple[str, ...]) -> AdConnector:
    """A connector whose settings name what they refuse: forced past their own check
    (as a settings object changed after it was made, or one from an older release),
    so the check at plan and apply is seen on its own."""
    settings = AdSettings(
        url=seeded.uri,
        bind_dn=seeded.bind_user,
        password=seeded.password,
        base_dn=seeded.base_dn,
        ca_file=seeded.ca_file,
        attributes=("sAMAccountName", "department"),
    )
    object.__setattr__(settings, "writable", writable)
    return AdConnector(settings)


def test_the_settings_themselves_refuse_a_security_attribute(seeded):
    with pytest.raises(ValueError, match="never writable by a correction: userAccountControl"):
        AdSettings(
            url=seeded.uri,
            bind_dn=seeded.bind_user,
            password=seeded.password,
            base_dn=seeded.base_dn,
            writable=("department", "userAccountControl"),
        )


def test_security_attributes_are_refused_at_plan_and_apply_even_when_settings_name_them(seeded):
    c = forced(seeded, (*REVIEW_ATTACK, "department"))
    try:
        ref = ref_of(c, "up-eve")
        before = raw_state(seeded, "up-eve")
        for attribute, value in REVIEW_ATTACK.items():
            for spelled in (attribute, attribute.upper()):
                with pytest.raises(NotSupported) as caught:
                    c.plan_update(ref, (Change(spelled, value),), timeout=T)
                assert "never changed in AD" in str(caught.value)
                assert value not in str(caught.value)
            # A stored plan (made before this check existed, or tampered with) is refused too.
            plan = UpdatePlan(ref, (Change(attribute, value),), "stored")
            with pytest.raises(NotSupported):
                c.apply_update(plan, timeout=T)
        # One refused change refuses the whole plan: the legitimate one is not written either.
        with pytest.raises(NotSupported):
            c.plan_update(
                ref, (Change("department", "Legal"), Change("adminCount", "1")), timeout=T
            )
        assert raw_state(seeded, "up-eve") == before  # no write reached AD
        # A personal-data attribute still writes and reads back.
        plan = c.plan_update(ref, (Change("department", "Legal"),), timeout=T)
        assert c.apply_update(plan, timeout=T).done
        assert values(c, ref, "department") == ("Legal",)
        after = raw_state(seeded, "up-eve")
        assert after["uSNChanged"] != before["uSNChanged"]
        assert {k: v for k, v in after.items() if k != "uSNChanged"} == {
            k: v for k, v in before.items() if k != "uSNChanged"
        }
    finally:
        c.close()


def test_the_schema_alone_refuses_the_reviews_attributes(seeded):
    """The second line: were a security attribute's name missed by the deny-list, the
    schema check still refuses it (none is a single-valued Unicode string)."""
    # As the connector connects: without ldap3's own schema, which rejects rootDSE names.
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=seeded.ca_file)
    server = ldap3.Server(seeded.host, port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, seeded.bind_dn, seeded.password, auto_bind=True)
    try:
        nc = schema_nc(conn, "DC=wrong", T)  # the rootDSE says where, not the fallback
        assert nc == f"CN=Schema,CN=Configuration,{seeded.base_dn}"
        rules = read_rules(conn, nc, [*REVIEW_ATTACK, "telephoneNumber"], T)
    finally:
        conn.unbind()
    for attribute in REVIEW_ATTACK:
        assert rules[attribute.lower()].refusal() is not None, attribute
    assert rules["telephonenumber"].refusal() is None


def test_an_attribute_the_schema_does_not_define_as_a_single_valued_string_is_refused(seeded):
    odd = {
        "description": "multi-valued",  # a user holds one, but the schema allows several
        "countryCode": "not a Unicode string",  # an integer
        "displayNamePrintable": "not a Unicode string",  # a printable string
        "treeName": "maintained by the directory itself",  # systemOnly
        "noSuchAttributeX": "not in the directory's schema",
    }
    c = forced(seeded, (*odd, "initials", "telephoneNumber"))
    try:
        ref = ref_of(c, "up-eve")
        before = raw_state(seeded, "up-eve")
        for attribute, why in odd.items():
            with pytest.raises(NotSupported, match=why) as caught:
                c.plan_update(ref, (Change(attribute, "7"),), timeout=T)
            assert attribute.lower() in str(caught.value).lower()
        with pytest.raises(NotSupported, match=r"longer than AD allows \(6 characters\)"):
            c.plan_update(ref, (Change("initials", "ABCDEFG"),), timeout=T)  # rangeUpper 6
        assert raw_state(seeded, "up-eve") == before
        # The schema is read once per connector, then answered from its cache.
        assert {"description", "initials", "treename"} <= c.updater.schema.cached()
    finally:
        c.close()


def test_every_default_writable_attribute_is_a_single_valued_string_in_ads_schema(seeded):
    c = forced(seeded, DEFAULT_WRITABLE)
    try:
        ref = ref_of(c, "up-eve")
        changes = tuple(Change(a, "X") for a in DEFAULT_WRITABLE)
        plan = c.plan_update(ref, changes, timeout=T)
        assert [ch.attribute for ch in plan.changes] == list(DEFAULT_WRITABLE)
    finally:
        c.close()


def json_text(body: dict) -> str:
    return json.dumps(body, ensure_ascii=False)
