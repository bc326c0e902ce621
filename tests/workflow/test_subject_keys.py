"""Which keys detect a duplicate request (bot/workflow/subject_keys.py): only identifiers that name
one person. Two people of one domain, namesakes, and a request stored before the upgrade,
on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.audit import SubjectKeyer
from bot.errors import AlreadyOpen
from bot.workflow.events import RequestCreated
from bot.workflow.requests import Status, Subject
from bot.workflow.subject_keys import SubjectKeys, person_identifiers, subject_keys
from connectors.base import IdKind, ObjectRef, Query, QueryKind
from connectors.memory import MemoryConnector, Person
from tests.workflow.test_erasure import APPROVER, REQUESTER, make_world

KEYER = SubjectKeyer("test-subject-key-0123456789")  # the one make_world uses


def ad_person(n: int, *, display: str | None = None, account: str | None = None) -> Person:
    """A person as Active Directory answers: domain, DN and display name among the ids."""
    account = account or f"user{n}"
    return Person(
        f"g{n}",
        {
            IdKind.ACCOUNT: account,
            IdKind.DOMAIN: "CORP",
            IdKind.DISPLAY_NAME: display or f"Person {n}",
            IdKind.DN: f"CN={display or f'Person {n}'},OU=Staff,DC=corp,DC=example",
            IdKind.MAIL: f"{account}@corp.example",
            IdKind.OBJECT_GUID: f"00000000-0000-0000-0000-{n:012d}",
        },
    )


def by_account(account: str) -> Query:
    return Query(QueryKind.NAME, account)


def test_person_keys_never_hold_a_domain_a_display_name_or_a_dn():
    subject = Subject(
        "Jane Doe",
        "jdoe",
        {
            IdKind.ACCOUNT: "jdoe",
            IdKind.DOMAIN: "CORP",
            IdKind.DISPLAY_NAME: "Jane Doe",
            IdKind.DN: "CN=Jane Doe,DC=corp",
            IdKind.MAIL: "jane@corp.example",
            IdKind.EMPLOYEE_ID: "100010",
            IdKind.OBJECT_GUID: "g-1",
        },
        refs=(ObjectRef("ad", "g-1"), ObjectRef("hr", "100010")),
    )
    values = person_identifiers(subject)
    assert values == ["g-1", "100010", "CORP\\jdoe", "jane@corp.example", "ad:g-1", "hr:100010"]
    keys = subject_keys(KEYER, subject)
    for shared in ("CORP", "Jane Doe", "CN=Jane Doe,DC=corp"):
        assert KEYER.key(shared) not in keys.person
    # The audit key stays the account's: `audit subject jdoe` finds the request's events.
    assert keys.subject[0] == KEYER.key("jdoe")
    # An account without its domain is only unique within it: with one, it is qualified.
    assert KEYER.key("jdoe") not in keys.person


def test_two_people_of_one_domain_have_erasures_open_at_once(engine):
    ad = MemoryConnector("ad", "Active Directory", [ad_person(1), ad_person(2)])
    w = make_world(engine, ad)
    first = w.erasure.request(by_account("user1"), actor=REQUESTER, reason="left")
    second = w.erasure.request(by_account("user2"), actor=REQUESTER, reason="left too")
    assert first.id != second.id
    assert {w.store.get(r.id).status for r in (first, second)} == {Status.AWAITING_APPROVAL}
    # The same person twice is still refused, naming the open request.
    with pytest.raises(AlreadyOpen) as refused:
        w.erasure.request(by_account("user1"), actor=REQUESTER, reason="again")
    assert refused.value.request_id == first.id
    for request in (first, second):
        w.decisions.approve(request.id, actor=APPROVER)
    assert {w.store.get(r.id).status for r in (first, second)} == {Status.COMPLETED}
    assert ad.people == {}


def test_namesakes_do_not_block_each_other(engine):
    ad = MemoryConnector(
        "ad",
        "Active Directory",
        [ad_person(1, display="Sam Lee", account="slee"), ad_person(2, display="Sam Lee")],
    )
    w = make_world(engine, ad)
    w.erasure.request(by_account("slee"), actor=REQUESTER, reason="one")
    w.erasure.request(by_account("user2"), actor=REQUESTER, reason="the other")
    assert len(w.store.ids(statuses=[Status.AWAITING_APPROVAL])) == 2


def test_one_account_name_in_two_domains_is_two_people(engine):
    emea = Person(
        "e1",
        {IdKind.ACCOUNT: "asmith", IdKind.DOMAIN: "EMEA", IdKind.OBJECT_GUID: "e-guid"},
    )
    corp = Person(
        "c1",
        {IdKind.ACCOUNT: "asmith", IdKind.DOMAIN: "CORP", IdKind.OBJECT_GUID: "c-guid"},
    )
    w = make_world(
        engine,
        MemoryConnector("ad", "AD", [corp]),
        MemoryConnector("emea", "EMEA AD", [emea]),
    )
    keys = [
        subject_keys(w.erasure.keyer, Subject("A Smith", "asmith", p.identifiers)).person
        for p in (corp, emea)
    ]
    assert not set(keys[0]) & set(keys[1])


def _old_keys(subject: Subject) -> list[str]:
    """The subject keys as requests stored them before migration 0009: the account's
    first, then every identifier's (the domain's and display name's among them)."""
    first = KEYER.key(subject.account or subject.display_name)
    return [first, *sorted({KEYER.key(v) for v in subject.identifiers.values()} - {first})]


def test_a_request_stored_before_the_upgrade_still_blocks_its_own_person_only(engine):
    ad = MemoryConnector("ad", "Active Directory", [ad_person(1), ad_person(2)])
    w = make_world(engine, ad)
    old = Subject("Person 1", "user1", ad_person(1).identifiers)
    legacy = _old_keys(old)
    now = w.clock()
    with engine.begin() as conn:  # a row as 0008 wrote it: no person keys
        conn.execute(
            sa.text(
                "INSERT INTO requests (id, kind, status, version, requester, received_at, "
                "due_at, expires_at, subject_keys, plan, approvals_needed, updated_at, "
                "open_key) VALUES ('REQ-2026-0900', 'erasure', 'awaiting_approval', 1, "
                "'UREQ', :now, :now, :now, :keys, '[]', 1, :now, :open)"
            ).bindparams(sa.bindparam("keys", type_=sa.JSON), now=now, keys=legacy, open=legacy[0])
        )
    with pytest.raises(AlreadyOpen) as refused:
        w.erasure.request(by_account("user1"), actor=REQUESTER, reason="again")
    assert refused.value.request_id == "REQ-2026-0900"
    # The old row holds the domain's key, which no longer blocks anyone else of CORP.
    assert KEYER.key("CORP") in legacy
    other = w.erasure.request(by_account("user2"), actor=REQUESTER, reason="someone else")
    assert other.status is Status.AWAITING_APPROVAL


def _keys(*person: str) -> SubjectKeys:
    return SubjectKeys(subject=(person[0],), person=person)


def test_the_database_refuses_a_second_request_sharing_any_person_key(engine, monkeypatch):
    """Two replicas resolve one person at the same moment, one of them without the key the
    other holds first (say the objectGUID): both pass the check before storing, and the
    database's claim on every person key lets only one be created."""
    w = make_world(engine, MemoryConnector("ad", "AD", [ad_person(1)]))
    store = w.store
    subject = Subject("Person 1", "user1", ad_person(1).identifiers)
    first = _create(store, subject, _keys("guid-1", "mail-1"))
    with monkeypatch.context() as m:
        # The other replica's check ran before this one stored: it saw nothing open.
        m.setattr(store, "open_for", lambda keys, kind="erasure": None)
        with pytest.raises(sa.exc.IntegrityError):
            _create(store, subject, _keys("mail-1", "upn-1"))
    with pytest.raises(AlreadyOpen) as refused:
        _create(store, subject, _keys("upn-1", "mail-1"))
    assert refused.value.request_id == first.id
    # Once the first ends, its keys are released: the person may be asked about again.
    w.decisions.cancel(first.id, actor=REQUESTER, note="withdrawn")
    assert _create(store, subject, _keys("mail-1", "upn-1")).status is Status.PLANNED


def _create(store, subject: Subject, keys: SubjectKeys):
    now = store.clock()
    return store.create(
        requester=REQUESTER.user_id,
        reason=None,
        subject=subject,
        keys=keys,
        steps=[],
        approvals_needed=1,
        due_at=now,
        expires_at=now,
        event=RequestCreated(actor=REQUESTER.user_id, kind="erasure", steps=()),
    )
