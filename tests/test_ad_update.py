"""Rectification in AD (connectors/ad_update.py through AdConnector) against the real Samba
AD DC, and `/mim update` end to end: signed requests, approval, the change read back."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ad import AdConnector, AdSettings
from connectors.base import Change, ObjectRef, Query, QueryKind
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
        [TestUser("up-ann", "Ann", "Update", "8301"), TestUser("up-bob", "Bob", "Other", "8302")],
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


def json_text(body: dict) -> str:
    return json.dumps(body, ensure_ascii=False)
