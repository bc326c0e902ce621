import json
import time
from pathlib import Path

import pytest

from bot.audit import AuditLog, SubjectKeyer
from bot.database import create_engine, migrate
from bot.errors import AuditUnavailable
from bot.lookup.calls import Outcome
from bot.lookup.search import SearchService
from bot.permissions.roles import Actor, Role
from connectors.base import IdKind, Query, QueryKind
from connectors.errors import Denied, NotSupported, TimedOut, Unreachable
from connectors.memory import MemoryConnector, Person
from tests.support.keys import CHAIN_KEY

ACTOR = Actor("UVIEW", frozenset({Role.VIEWER}))
JANE = Person(
    "1", {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe", IdKind.MAIL: "jane@example.test"}
)


@pytest.fixture
def audit(tmp_path: Path):
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    yield AuditLog(engine, chain_key=CHAIN_KEY)
    engine.dispose()


def service(audit, *connectors, timeout=1.0):
    return SearchService(
        list(connectors), audit=audit, keyer=SubjectKeyer("k" * 20), timeout=timeout
    )


def test_each_system_reports_its_own_outcome(audit):
    hr = MemoryConnector("hr", "HR", [JANE])
    ad = MemoryConnector("ad", "AD", [])
    down = MemoryConnector("pam", "PAM")
    down.fail["search"] = Unreachable("connection refused")
    slow = MemoryConnector("cm", "CM")
    slow.fail["search"] = TimedOut("no answer in time")
    denied = MemoryConnector("bhold", "BHOLD")
    denied.fail["search"] = Denied("insufficientAccessRights")
    result = service(audit, hr, ad, down, slow, denied).find(
        Query(QueryKind.NAME, "jdoe"), actor=ACTOR
    )
    outcomes = {r.system: r.outcome for r in result.systems}
    assert outcomes == {
        "hr": Outcome.FOUND,
        "ad": Outcome.NOT_FOUND,
        "pam": Outcome.UNREACHABLE,
        "cm": Outcome.TIMED_OUT,
        "bhold": Outcome.DENIED,
    }
    assert result.hit_count == 1


def test_a_hanging_system_times_out_without_delaying_the_others(audit):
    hr = MemoryConnector("hr", "HR", [JANE])
    hang = MemoryConnector("slow", "Slow", [JANE], delay=2.0)
    t0 = time.monotonic()
    result = service(audit, hr, hang, timeout=0.3).find(Query(QueryKind.NAME, "jdoe"), actor=ACTOR)
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0
    assert [r.outcome for r in result.systems] == [Outcome.FOUND, Outcome.TIMED_OUT]


def test_a_connector_bug_is_an_error_for_that_system_only(audit):
    class Broken(MemoryConnector):
        def search(self, query, *, timeout):
            raise KeyError("bug")

    result = service(audit, Broken("x", "X"), MemoryConnector("hr", "HR", [JANE])).find(
        Query(QueryKind.NAME, "jdoe"), actor=ACTOR
    )
    assert [r.outcome for r in result.systems] == [Outcome.ERROR, Outcome.FOUND]


def test_systems_are_asked_in_parallel(audit):
    conns = [MemoryConnector(f"s{i}", f"S{i}", [JANE], delay=0.3) for i in range(4)]
    t0 = time.monotonic()
    service(audit, *conns, timeout=2).find(Query(QueryKind.NAME, "jdoe"), actor=ACTOR)
    assert time.monotonic() - t0 < 0.9


def test_search_is_audited_without_personal_data(audit):
    svc = service(audit, MemoryConnector("hr", "HR", [JANE]))
    svc.find(Query(QueryKind.MAIL_OR_UPN, "jane@example.test"), actor=ACTOR)
    (event,) = audit.events()
    assert (event.actor, event.roles, event.action) == ("UVIEW", ("viewer",), "find")
    assert event.detail["systems"] == {"hr": {"outcome": "found", "hits": 1}}
    assert event.subject_key == svc.keyer.key("jane@example.test")
    stored = json.dumps(event.detail) + event.subject_key
    assert "jane" not in stored.lower() and "doe" not in stored.lower()


def test_no_answer_without_an_audit_record(audit, tmp_path):
    svc = service(audit, MemoryConnector("hr", "HR", [JANE]))
    with audit._engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE audit_events")
    with pytest.raises(AuditUnavailable):
        svc.find(Query(QueryKind.NAME, "jdoe"), actor=ACTOR)


def test_an_attribute_name_no_system_knows_stays_out_of_the_audit_chain(audit):
    class KnowsDepartment(MemoryConnector):
        def search(self, query, *, timeout):
            if query.attribute != "department":
                from connectors.errors import NotSupported

                raise NotSupported("no such attribute")
            return super().search(query, timeout=timeout)

    svc = service(audit, KnowsDepartment("ad", "AD", [JANE]))
    svc.find(Query(QueryKind.ATTRIBUTE, "x", attribute="jdoe"), actor=ACTOR)  # a typo'd value
    svc.find(Query(QueryKind.ATTRIBUTE, "Sales", attribute="department"), actor=ACTOR)
    typed, known = (e.detail["attribute"] for e in audit.events())
    assert (typed, known) == ("unknown", "department")
    assert "jdoe" not in json.dumps([e.detail for e in audit.events()])


def test_a_hung_system_does_not_starve_the_healthy_ones_under_load(audit):
    import threading

    release = threading.Event()

    class Hung(MemoryConnector):
        def search(self, query, *, timeout):
            release.wait(5)  # stalled until its socket timeout
            return []

    svc = SearchService(
        [Hung("ad", "AD"), MemoryConnector("mv", "MV", [JANE])],
        audit=audit,
        keyer=SubjectKeyer("k" * 20),
        timeout=0.4,  # room for a loaded CI machine; the hung system takes 5 s
    )
    try:
        outcomes = [
            {r.system: r.outcome for r in svc.find(Query(QueryKind.NAME, "jdoe"), actor=ACTOR)
             .systems}
            for _ in range(12)  # more searches than the hung system has threads (8)
        ]  # fmt: skip
    finally:
        release.set()
        svc.close()
    assert all(o == {"ad": Outcome.TIMED_OUT, "mv": Outcome.FOUND} for o in outcomes)


def test_a_result_at_the_cap_says_there_may_be_more(audit):
    from bot import render

    many = [Person(str(i), {IdKind.ACCOUNT: f"bulk{i}"}) for i in range(5)]
    svc = SearchService(
        [MemoryConnector("ad", "AD", many), MemoryConnector("hr", "HR", many[:2])],
        audit=audit,
        keyer=SubjectKeyer("k" * 20),
        max_hits_per_system=5,
    )
    try:
        result = svc.find(Query(QueryKind.PREFIX, "bulk"), actor=ACTOR)
    finally:
        svc.close()
    ad, hr = result.systems
    assert (ad.capped, hr.capped) == (True, False)
    text = render.find_result(result).text
    assert "AD: found 5+ (the most one search returns)" in text
    assert "HR: found 2" in text and "HR: found 2+" not in text


class AccountOnly(MemoryConnector):
    """As PAM and Certificate Management answer: searched by account name only."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: list[Query] = []

    def search(self, query, *, timeout):
        if query.kind is not QueryKind.NAME:
            raise NotSupported("searched by account name")
        self.asked.append(query)
        return super().search(query, timeout=timeout)


def people(n: int) -> list[Person]:
    return [
        Person(f"p{i}", {IdKind.ACCOUNT: f"user{i}", IdKind.EMPLOYEE_ID: "100", IdKind.MAIL: "x"})
        for i in range(n)
    ]


def test_an_account_only_system_is_asked_again_by_the_account_the_others_found(audit):
    hr = MemoryConnector("hr", "HR", [JANE])
    pam = AccountOnly("pam", "PAM", [JANE])
    result = service(audit, hr, pam).find(
        Query(QueryKind.MAIL_OR_UPN, "jane@example.test"), actor=ACTOR
    )
    by = {r.system: r for r in result.systems}
    assert by["pam"].outcome is Outcome.FOUND and [h.ref.id for h in by["pam"].hits] == ["1"]
    assert by["pam"].asked_by == (("jdoe", "HR"),)
    from bot import render

    assert "PAM: found 1, by the account jdoe that HR returned" in render.find_result(result).text
    assert pam.calls == ["search"]  # the first ask was refused before the memory was read
    (event,) = audit.events()
    assert event.detail["systems"]["pam"] == {"outcome": "found", "hits": 1}


def test_the_second_hop_says_not_found_or_why_it_could_not_ask(audit):
    hr = MemoryConnector("hr", "HR", [JANE])
    pam = AccountOnly("pam", "PAM", [])
    found = service(audit, hr, pam).find(Query(QueryKind.EMPLOYEE_ID, "1"), actor=ACTOR)
    assert {r.system: r.outcome for r in found.systems}["pam"] is Outcome.SKIPPED  # no hit
    jane = service(audit, hr, pam).find(
        Query(QueryKind.MAIL_OR_UPN, "jane@example.test"), actor=ACTOR
    )
    assert {r.system: r.outcome for r in jane.systems}["pam"] is Outcome.NOT_FOUND
    pam.fail["search"] = Unreachable("connection refused")
    down = service(audit, hr, AccountOnly("pam2", "PAM", [JANE]), pam).find(
        Query(QueryKind.MAIL_OR_UPN, "jane@example.test"), actor=ACTOR
    )
    # The second ask failed: it says so, never "not found".
    assert {r.system: r.outcome for r in down.systems}["pam"] is Outcome.UNREACHABLE


def test_a_term_naming_many_people_asks_no_second_time(audit):
    hr = MemoryConnector("hr", "HR", people(6))
    pam = AccountOnly("pam", "PAM", people(6))
    result = service(audit, hr, pam).find(Query(QueryKind.EMPLOYEE_ID, "100"), actor=ACTOR)
    assert {r.system: r.outcome for r in result.systems}["pam"] is Outcome.SKIPPED
    few = service(audit, MemoryConnector("hr", "HR", people(5)), pam).find(
        Query(QueryKind.EMPLOYEE_ID, "100"), actor=ACTOR
    )
    pam_result = {r.system: r for r in few.systems}["pam"]
    assert pam_result.outcome is Outcome.FOUND and len(pam_result.hits) == 5


def test_a_hostile_account_one_system_returns_reaches_the_next_as_data_and_is_escaped(audit):
    from bot import render

    hostile = "<!channel>*)(cn=*'; Remove-Item C:\\ #"
    odd = Person("9", {IdKind.ACCOUNT: hostile, IdKind.MAIL: "odd@example.test"})
    hr = MemoryConnector("hr", "HR", [odd])
    pam = AccountOnly("pam", "PAM", [])
    result = service(audit, hr, pam).find(
        Query(QueryKind.MAIL_OR_UPN, "odd@example.test"), actor=ACTOR
    )
    # Handed on as a value of its own kind (each connector escapes or binds a NAME value;
    # its own tests fuzz that), never pasted into another term.
    assert pam.asked == [Query(QueryKind.NAME, hostile)]
    text = render.find_result(result).text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
