"""A retention sweep over the real Samba AD, as the bot runs it: the disabled users of an
OU are proposed, the member of a legal-hold group (nested) is kept out, found by the
group, and a delete of that member is refused; the answer names them privately only."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from ldap3.utils.dn import escape_rdn

from bot.config import parse_config
from bot.errors import HeldElsewhere
from bot.frontends.console import ConsoleNotifier
from bot.permissions.roles import Actor, Role
from bot.services import build_services
from bot.workflow.sweeps import MemberState
from connectors.base import Query, QueryKind
from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import ENV, bot_config

pytestmark = pytest.mark.samba

USERS = [
    TestUser(f"sw-e2e{i}", "Sweep", f"E2E {i}", str(8700 + i)) for i in range(3)
]  # employee IDs no other test uses
ACTOR = Actor("UREQ", frozenset({Role.REQUESTER}))


def test_a_sweep_over_the_real_ad_proposes_the_disabled_and_keeps_the_held(tmp_path, samba):
    conn = samba.admin()
    ou = seed_users(conn, samba.base_dn, USERS, ou="SweepE2E")  # created disabled
    inner, group = f"CN=E2E hold team,{ou}", f"CN=E2E legal hold,{ou}"
    held = f"CN={escape_rdn(USERS[2].display_name)},{ou}"
    conn.add(inner, ["top", "group"], {"sAMAccountName": "sw-e2e-team", "member": [held]})
    conn.add(group, ["top", "group"], {"sAMAccountName": "sw-e2e-hold", "member": [inner]})
    conn.unbind()
    stub = MockSlack().start()
    raw = bot_config(
        tmp_path, stub, samba,
        connectors__ad__base_dn=ou,
        retention={
            "rules": [{"name": "disabled", "system": "ad", "population": "disabled",
                       "older_than_days": 30}],
            "holds": {"ad_group": group},
        },
    )  # fmt: skip
    config = parse_config(raw, environ={**ENV, "ADPW": samba.password})
    later = datetime.now(UTC) + timedelta(days=31)  # the users were disabled "a month ago"
    services = build_services(
        config, notifier=ConsoleNotifier(io.StringIO(), config.roles), clock=lambda: later
    )
    try:
        sweep = services.sweeps.sweep(actor=ACTOR)
        (outcome,) = sweep.rules
        assert (outcome.found, outcome.error) == (3, None)
        by_account = {m.label.split("(")[-1].rstrip(")"): m for m in sweep.members}
        proposed = sorted(m.label for m in sweep.of(MemberState.PROPOSED))
        assert len(proposed) == 2 and all("E2E" in label for label in proposed)
        (kept,) = sweep.of(MemberState.HELD)
        assert kept.note == "on hold in Active Directory" and "E2E 2" in kept.label
        assert by_account  # labels carry the account for approvers
        with pytest.raises(HeldElsewhere, match="on hold in Active Directory"):
            services.erasure.request(
                Query(QueryKind.NAME, USERS[2].account), actor=ACTOR, reason="left"
            )
        assert not stub.calls("chat.postMessage")  # a sweep posts nowhere
    finally:
        services.close()
        stub.stop()
