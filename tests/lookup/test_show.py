"""`/mim show` over in-memory connectors: resolution, per-system records, audit, rendering."""

from __future__ import annotations

import json

import pytest
from slack_sdk.models.blocks import Block

from bot.audit import AuditLog, SubjectKeyer
from bot.errors import NotFound
from bot.lookup.calls import Outcome
from bot.lookup.search import SearchService
from bot.lookup.show import ShowService
from bot.lookup.subjects import AmbiguousSubject, SystemsUnavailable
from bot.permissions.roles import Actor, Role
from bot.render.show import person_view
from connectors.base import IdKind, Query, QueryKind
from connectors.errors import Unreachable
from connectors.memory import MemoryConnector, Person
from tests.support.keys import CHAIN_KEY

VIEWER = Actor("UVIEW", frozenset({Role.VIEWER}))


def jane(pid: str, **attrs: str) -> Person:
    return Person(
        pid,
        {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe", IdKind.MAIL: "jane@example.test"},
        {k: (v,) for k, v in attrs.items()},
    )


def service(engine, *connectors):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    search = SearchService(list(connectors), audit=audit, keyer=SubjectKeyer("k" * 20))
    return ShowService(search=search, connectors={c.name: c for c in connectors}, audit=audit)


def test_show_reads_every_system_holding_the_person(engine):
    hr = MemoryConnector("hr", "HR", [jane("e1", givenName="Jane", costCentre="CC-17")])
    ad = MemoryConnector("ad", "AD", [jane("g1", telephoneNumber="+44 20 7946 0000")])
    view = service(engine, hr, ad).show(Query(QueryKind.NAME, "jdoe"), actor=VIEWER)
    assert view.subject.display_name == "Jane Doe"
    records = {s.system: s.record for s in view.systems}
    assert records["hr"].attributes["costCentre"].values == ("CC-17",)
    assert records["ad"].attributes["telephoneNumber"].values == ("+44 20 7946 0000",)
    reply = person_view(view)
    assert reply.private
    text = json.dumps(reply.blocks)
    assert "CC-17" in text and "+44 20 7946 0000" in text
    for block in reply.blocks:
        Block.parse(block).to_dict()


def test_show_is_audited_twice_search_and_read(engine):
    svc = service(engine, MemoryConnector("ad", "AD", [jane("g1")]))
    svc.show(Query(QueryKind.NAME, "jdoe"), actor=VIEWER)
    actions = [e.action for e in svc.audit.events()]
    assert actions == ["show", "read"]
    assert "Jane" not in json.dumps([e.detail for e in svc.audit.events()])


def test_an_unreachable_system_is_listed_not_hidden(engine):
    down = MemoryConnector("hr", "HR")
    down.fail["search"] = Unreachable("connection refused")
    view = service(engine, MemoryConnector("ad", "AD", [jane("g1")]), down).show(
        Query(QueryKind.NAME, "jdoe"), actor=VIEWER
    )
    outcomes = {s.system: s.outcome for s in view.systems}
    assert outcomes == {"ad": Outcome.FOUND, "hr": Outcome.UNREACHABLE}
    assert "HR" in person_view(view).text


def test_show_needs_exactly_one_person(engine):
    two = MemoryConnector(
        "ad",
        "AD",
        [jane("g1"), Person("g2", {IdKind.ACCOUNT: "jdoe2", IdKind.DISPLAY_NAME: "jdoe"})],
    )
    with pytest.raises(AmbiguousSubject):
        service(engine, two).show(Query(QueryKind.NAME, "jdoe"), actor=VIEWER)
    with pytest.raises(NotFound):
        service(engine, MemoryConnector("ad", "AD")).show(Query(QueryKind.NAME, "x"), actor=VIEWER)


def test_nobody_found_while_a_system_is_down_is_not_reported_as_no_data(engine):
    down = MemoryConnector("hr", "HR")
    down.fail["search"] = Unreachable("connection refused")
    with pytest.raises(SystemsUnavailable, match="HR did not answer"):
        service(engine, MemoryConnector("ad", "AD"), down).show(
            Query(QueryKind.NAME, "jdoe"), actor=VIEWER
        )


def anna_in_the_metaverse(extra: dict[IdKind, str] | None = None) -> MemoryConnector:
    """EMEA\\asmith, Anna Smith, with any `extra` identifiers."""
    ids = {IdKind.ACCOUNT: "asmith", IdKind.DOMAIN: "EMEA", IdKind.DISPLAY_NAME: "Anna Smith"}
    return MemoryConnector("mimsync", "Metaverse", [Person("mv1", {**ids, **(extra or {})})])


def test_namesakes_in_two_systems_are_two_people_not_one(engine):
    mv = anna_in_the_metaverse({IdKind.MAIL: "anna.smith@example.test"})
    ad = MemoryConnector(
        "ad",
        "AD",
        [
            Person(
                "g1",
                {
                    IdKind.ACCOUNT: "asmith",
                    IdKind.DISPLAY_NAME: "Alan Smith",
                    IdKind.MAIL: "alan.smith@example.test",
                },
            )
        ],
    )
    with pytest.raises(AmbiguousSubject) as info:
        service(engine, mv, ad).show(Query(QueryKind.NAME, "asmith"), actor=VIEWER)
    assert len(info.value.matches) == 2
    # The same account with agreeing identifiers is still one person.
    ad.people["g1"] = Person(
        "g1", {IdKind.ACCOUNT: "asmith", IdKind.MAIL: "Anna.Smith@example.test"}
    )
    view = service(engine, mv, ad).show(Query(QueryKind.NAME, "asmith"), actor=VIEWER)
    assert {s.system for s in view.systems} == {"mimsync", "ad"}


def test_a_long_view_cut_at_slacks_limit_still_says_which_system_did_not_answer(engine):
    wide = {f"attr{i:03d}": "&" * 300 for i in range(120)}
    down = MemoryConnector("ad", "AD")
    down.fail["search"] = Unreachable("connection refused")
    view = service(engine, MemoryConnector("hr", "HR", [jane("e1", **wide)]), down).show(
        Query(QueryKind.NAME, "jdoe"), actor=VIEWER
    )
    reply = person_view(view)
    assert len(reply.blocks) <= 50
    assert "AD: unreachable" in reply.blocks[1]["text"]["text"]
    for block in reply.blocks:
        Block.parse(block).to_dict()


def test_a_connector_bug_while_reading_is_that_systems_error_and_is_audited(engine):
    class Broken(MemoryConnector):
        def read(self, ref, *, timeout):
            raise KeyError("a bug")

    svc = service(
        engine, Broken("hr", "HR", [jane("e1")]), MemoryConnector("ad", "AD", [jane("g1")])
    )
    view = svc.show(Query(QueryKind.NAME, "jdoe"), actor=VIEWER)
    outcomes = {s.system: s.outcome for s in view.systems}
    assert outcomes == {"hr": Outcome.ERROR, "ad": Outcome.FOUND}
    assert [e.action for e in svc.audit.events()] == ["show", "read"]


def test_a_system_that_hangs_while_reading_is_timed_out_and_the_others_answer(engine):
    import threading
    import time

    release = threading.Event()

    class Hangs(MemoryConnector):
        def read(self, ref, *, timeout):
            release.wait(5)
            return super().read(ref, timeout=timeout)

    hr, ad = Hangs("hr", "HR", [jane("e1")]), MemoryConnector("ad", "AD", [jane("g1")])
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    search = SearchService([hr, ad], audit=audit, keyer=SubjectKeyer("k" * 20))
    svc = ShowService(search=search, connectors={"hr": hr, "ad": ad}, audit=audit, timeout=0.3)
    t0 = time.monotonic()
    try:
        view = svc.show(Query(QueryKind.NAME, "jdoe"), actor=VIEWER)
    finally:
        release.set()
    assert time.monotonic() - t0 < 2
    outcomes = {s.system: s.outcome for s in view.systems}
    assert outcomes == {"hr": Outcome.TIMED_OUT, "ad": Outcome.FOUND}


def test_an_account_name_without_a_domain_on_one_side_joins_nothing(engine):
    mv = anna_in_the_metaverse()
    ad = MemoryConnector("ad", "AD", [Person("g1", {IdKind.ACCOUNT: "asmith"})])  # domain unknown
    with pytest.raises(AmbiguousSubject):
        service(engine, mv, ad).show(Query(QueryKind.NAME, "asmith"), actor=VIEWER)
