"""Two people at once, end to end: two requesters ask to erase two different people of
the same AD domain, both requests open together; an approver approves both (one by the
button, one by `/mim approve`, at once); both erasures run on the real Samba AD DC and
leave a tombstone each. Signed Slack requests in, Slack's Web API as the recording stub.

The two asks are sent at the same moment, and also one after the other while the first
still awaits approval: a duplicate check that takes a shared attribute (the domain) for
the person fails the second order for certain, while the first may slip between two
checks made before either request is stored."""

from __future__ import annotations

import threading
import time

import ldap3
import pytest
from ldap3.utils.conv import escape_bytes

from bot.render.requests import ACTION_APPROVE
from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import start_bot

pytestmark = pytest.mark.samba
OU = "TwoPeople"
SHOW_DELETED = ("1.2.840.113556.1.4.417", True, None)  # LDAP_SERVER_SHOW_DELETED_OID
REQUESTERS = ("UREQ", "UREQ2")
PEOPLE = {  # how the two asks are sent -> requester -> the person they ask to erase
    "at_once": {
        "UREQ": TestUser("tp-alice", "Alice", "Twofold", "7101"),
        "UREQ2": TestUser("tp-bob", "Bob", "Twofold", "7102"),
    },
    "one_after_the_other": {
        "UREQ": TestUser("tp-carol", "Carol", "Twofold", "7103"),
        "UREQ2": TestUser("tp-dave", "Dave", "Twofold", "7104"),
    },
}


@pytest.fixture(scope="module")
def ad(samba):
    conn = samba.admin()
    try:
        seed_users(conn, samba.base_dn, [p for two in PEOPLE.values() for p in two.values()],
                   ou=OU)  # fmt: skip
    finally:
        conn.unbind()
    return samba


@pytest.fixture
def stub():
    mock = MockSlack(usergroups={"SIAM": []}).start()
    yield mock
    mock.stop()


@pytest.fixture
def bot(tmp_path, stub, ad):
    b = start_bot(tmp_path, stub, ad, roles__requester={"users": list(REQUESTERS)})
    yield b
    b.stop()


def object_guids(samba) -> dict[str, bytes]:
    """Each live test user's objectGUID (raw), by account, read as the administrator."""
    conn = samba.admin()
    try:
        conn.search(f"OU={OU},{samba.base_dn}", "(objectClass=user)",
                    attributes=["sAMAccountName", "objectGUID"])  # fmt: skip
        return {
            e["attributes"]["sAMAccountName"]: e["raw_attributes"]["objectGUID"][0]
            for e in conn.response
            if e["type"] == "searchResEntry"
        }
    finally:
        conn.unbind()


def tombstone(samba, guid: bytes) -> dict | None:
    """The deleted object with this objectGUID under CN=Deleted Objects, which only the
    show-deleted control reveals; None when there is none."""
    conn = samba.admin()
    try:
        conn.search(
            f"CN=Deleted Objects,{samba.base_dn}",
            f"(&(isDeleted=TRUE)(objectGUID={escape_bytes(guid)}))",
            search_scope=ldap3.LEVEL,
            attributes=["isDeleted", "sAMAccountName", "lastKnownParent"],
            controls=[SHOW_DELETED],
        )
        found = [e for e in conn.response if e["type"] == "searchResEntry"]
    finally:
        conn.unbind()
    assert len(found) <= 1
    return found[0] if found else None


def direct_messages(stub, user: str, awaited: str, timeout: float = 5.0) -> list[str]:
    """The texts posted to `user`'s DM, once one says `awaited` (the completion notice is
    sent in the background, after the request's status is final)."""
    deadline = time.monotonic() + timeout
    while True:
        texts = [r.body["text"] for r in stub.calls("chat.postMessage")
                 if r.body.get("channel") == f"D{user}"]  # fmt: skip
        if any(awaited in t for t in texts):
            return texts
        assert time.monotonic() < deadline, f"no {awaited!r} in {user}'s DM: {texts}"
        time.sleep(0.05)


def at_once(*calls) -> list:
    """Run each call on a thread of its own, released together; their results in order."""
    go = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        go.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.parametrize("order", list(PEOPLE))
def test_two_requesters_erase_two_people_of_one_domain_together(bot, stub, ad, order):
    people = PEOPLE[order]
    guids = {a: g for a, g in object_guids(ad).items() if a in {p.account for p in people.values()}}
    assert len(guids) == 2
    assert all(tombstone(ad, g) is None for g in guids.values())

    asks = [
        lambda user=user, person=person: bot.slash(
            f"delete {person.account} left the company", user, name=f"delete-{user}"
        )
        for user, person in people.items()
    ]
    if order == "at_once":
        acks = at_once(*asks)
    else:  # the second is sent once the first is stored and awaits approval
        acks = []
        for user, ask in zip(people, asks, strict=True):
            acks.append(ask())
            bot.answer(f"delete-{user}", timeout=10)
    assert [status for status, _, _ in acks] == [200, 200]
    assert all(seconds < 3 for _, _, seconds in acks), acks
    answers = {user: bot.answer(f"delete-{user}", timeout=10)["text"] for user in people}
    for user, text in answers.items():
        assert text.startswith("Erasure request REQ-"), f"{user}: {text}"
    ids = {user: text.split()[2] for user, text in answers.items()}
    assert len(set(ids.values())) == 2
    for user, request_id in ids.items():
        request = bot.services.requests.get(request_id)
        assert (request.requester, request.status.value) == (user, "awaiting_approval")
        assert people[user].account in str(request.subject)
    stub.wait_for("chat.postMessage", count=2)

    # One approver decides both at once: one by the button, one by the command.
    first, second = ids["UREQ"], ids["UREQ2"]
    at_once(
        lambda: bot.click(ACTION_APPROVE, first, "UAPP", name="approve-click"),
        lambda: bot.slash(f"approve {second}", "UAPP", name="approve-slash"),
    )
    assert bot.answer("approve-click", timeout=10)["text"] == f"You approved {first}."
    assert bot.answer("approve-slash", timeout=10)["text"] == f"You approved {second}."

    done = {
        user: bot.wait_status(request_id, "completed", "completed_with_residuals", "failed")
        for user, request_id in ids.items()
    }
    for user, request in done.items():
        assert request.status.value == "completed_with_residuals", (user, request.report)
        assert request.subject is None  # scrubbed once it ended
        assert any("tombstone" in r.description for r in request.residuals)

    conn = ad.admin()
    try:
        for person in people.values():
            conn.search(ad.base_dn, f"(sAMAccountName={person.account})", attributes=["cn"])
            assert not [e for e in conn.response if e["type"] == "searchResEntry"], person
    finally:
        conn.unbind()
    for account, guid in guids.items():
        stone = tombstone(ad, guid)
        assert stone is not None, f"no tombstone for {account}"
        assert stone["attributes"]["sAMAccountName"] == account
        assert stone["attributes"]["lastKnownParent"].lower() == f"ou={OU},{ad.base_dn}".lower()

    # Each requester hears of their own request only, in their DM.
    for user, request_id in ids.items():
        other = next(i for u, i in ids.items() if u != user)
        dm = direct_messages(stub, user, f"Erasure {request_id} completed")
        assert not any(other in text for text in dm), dm
    assert bot.services.audit.verify().ok
