"""One contract, every connector: `connectors.base.Connector` as its docstring states it.

Each test runs against the in-memory connector, AD on the real Samba DC, and the
MIM Sync metaverse on SQLite and on the real PostgreSQL. A `World` holds one
connector, a seeded subject, and the few things only a test of that system can
do (create a person, run the metaverse deletion rule, point at a dead server).

A world also declares what its system cannot do (`searches_by`, `holds`, `verifies_by`,
`finds_display_name`, `skips`; `Capability.DELETE` from the connector itself): the tests
then assert the documented refusal instead (`NotSupported`, a plan with nothing to run),
and skip only with the reason the world states.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa

from connectors.ad.connector import AdConnector, AdSettings
from connectors.base import (
    AttributeValue,
    Capability,
    Connector,
    DeletePlan,
    Health,
    Hit,
    HitRecord,
    IdKind,
    ManualStep,
    ObjectRef,
    PlanAction,
    Query,
    QueryKind,
    Record,
    StepResult,
    Verification,
)
from connectors.capabilities import SearchesRecords, ShowsLineage, searches_records
from connectors.errors import ConnectorError, NotFound, NotSupported, TimedOut, Unreachable
from connectors.memory import MemoryConnector, Person, RecordsMemoryConnector
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings
from demo import sample_sync as gen
from tests.support.ports import closed_port, silent_port
from tests.support.postgres import fresh_database
from tests.support.samba import TestUser, seed_users

T = 5.0  # per-call timeout, seconds
OU = "ContractTests"


@dataclass(frozen=True)
class Subject:
    """The seeded person every world holds, with the values each kind of search uses."""

    account: str
    mail: str
    employee_id: str
    display: str
    prefix: str


# Every kind of search the tests use.
ALL_SEARCHES = frozenset(QueryKind)
# The subject's identifiers the search test checks on a hit (its account always).
ALL_HELD = frozenset({IdKind.MAIL, IdKind.EMPLOYEE_ID, IdKind.DISPLAY_NAME})
# The identifiers the verify tests give alone.
ALL_VERIFIED = frozenset({IdKind.ACCOUNT, IdKind.MAIL, IdKind.UPN, IdKind.EMPLOYEE_ID})


@dataclass
class World:
    connector: Connector
    subject: Subject
    missing: ObjectRef  # a well-formed reference to nothing
    fresh: Callable[[], Hit]  # a new person of its own, for a test that deletes it
    # What completes a WAIT plan; for a connector without Capability.DELETE, what the
    # person doing the plan's manual step does (the object is then gone from the system).
    vanish: Callable[[Hit], None] | None = None
    unreachable: Callable[[], Connector] | None = None
    # (connector, timeout) whose search exceeds its deadline, while the context lasts
    too_slow: Callable[[], AbstractContextManager[tuple[Connector, float]]] | None = None
    # The kinds of search the system answers; any other kind is `NotSupported`
    # (QueryKind.ATTRIBUTE: by the `mail` attribute, the one the tests search).
    searches_by: frozenset[QueryKind] = ALL_SEARCHES
    # Which of the subject's mail, employee id and display name a hit carries; the others
    # the system does not hold, and a hit must not carry them.
    holds: frozenset[IdKind] = ALL_HELD
    # The identifiers `verify_absent` searches by; given only others, the check proves
    # nothing (`NotSupported`, or `absent=False`).
    verifies_by: frozenset[IdKind] = ALL_VERIFIED
    # Whether a NAME search matches the exact display name too (else it finds no one).
    finds_display_name: bool = True
    # Why a world has no `unreachable`, `too_slow` (or, without Capability.DELETE, no
    # `vanish`): the skip's reason, by that name.
    skips: Mapping[str, str] = field(default_factory=dict)

    def deletes(self) -> bool:
        return Capability.DELETE in self.connector.capabilities


# -- worlds -------------------------------------------------------------------


def memory_world(*, records: bool = False) -> World:
    """In memory; with `records`, a connector that also finds and reads in one call."""

    def person(pid: str, account: str, display: str, employee_id: str) -> Person:
        ids = {
            IdKind.ACCOUNT: account,
            IdKind.MAIL: f"{account}@example.test",
            IdKind.UPN: f"{account}@corp.example.test",
            IdKind.EMPLOYEE_ID: employee_id,
            IdKind.DISPLAY_NAME: display,
        }
        return Person(pid, ids, {"department": ("Finance",), "mail": (ids[IdKind.MAIL],)})

    connector = (RecordsMemoryConnector if records else MemoryConnector)(
        "memory",
        "Memory",
        [
            person("m-1", "ct-zoe", "Zoë Contract", "880001"),
            person("m-2", "ct-other", "Otto Other", "880002"),
        ],
    )
    counter = itertools.count(10)

    def fresh() -> Hit:
        n = next(counter)
        p = person(f"m-{n}", f"ct-del{n}", f"Dora Delete{n}", str(881000 + n))
        connector.people[p.id] = p
        return only_hit(connector, Query(QueryKind.NAME, f"ct-del{n}"))

    subject = Subject("ct-zoe", "ct-zoe@example.test", "880001", "Zoë Contract", "Zoë Con")
    skips = {
        "unreachable": "in memory: there is nothing to reach",
        "too_slow": "in memory: nothing to wait for",
    }
    return World(connector, subject, ObjectRef("memory", "m-404"), fresh, skips=skips)


def ad_world(request: pytest.FixtureRequest) -> World:
    samba = request.getfixturevalue("samba")
    admin = samba.admin()
    zoe = TestUser("ct-zoe", "Zoë", "Contract", "880001", "zoe.contract@example.test")
    seed_users(admin, samba.base_dn, [zoe, TestUser("ct-other", "Otto", "Other", "880002")], OU)
    settings = AdSettings(
        url=samba.uri,
        bind_dn=samba.bind_user,
        password=samba.password,
        base_dn=samba.base_dn,
        ca_file=Path(samba.ca_file),
        attributes=("displayName", "mail", "department", "telephoneNumber"),
        timeout=2.0,
    )
    connector = AdConnector(settings)
    request.addfinalizer(connector.close)
    request.addfinalizer(admin.unbind)
    counter = itertools.count(1)

    def fresh() -> Hit:
        n = next(counter)
        seed_users(admin, samba.base_dn, [TestUser(f"ct-del{n}", "Dora", f"Delete{n}")], OU)
        return only_hit(connector, Query(QueryKind.NAME, f"ct-del{n}"))

    @contextmanager
    def too_slow() -> Iterator[tuple[Connector, float]]:
        # Plain LDAP: the bind is sent and its answer awaited, past the receive timeout.
        with silent_port() as port:
            url = f"ldap://127.0.0.1:{port}"
            c = AdConnector(replace(settings, url=url, allow_plain_ldap=True, timeout=1.0))
            try:
                yield c, 1.0
            finally:
                c.close()

    return World(
        connector,
        Subject("ct-zoe", zoe.mail or "", "880001", "Zoë Contract", "Zoë Con"),
        ObjectRef("ad", str(uuid.uuid4())),
        fresh,
        unreachable=lambda: AdConnector(
            replace(settings, url=f"ldaps://127.0.0.1:{closed_port()}")
        ),
        too_slow=too_slow,
    )


def mimsync_world(request: pytest.FixtureRequest, url: str, dead_url: str) -> World:
    engine = sa.create_engine(url)
    people = {p.account: p for p in gen.load(engine, 30)}
    connector = MimSyncConnector(MimSyncSettings(url=url), engine=engine)
    request.addfinalizer(engine.dispose)
    request.addfinalizer(connector.close)
    unused = iter(range(10, 30))  # 0-9 are the sample's special cases

    def fresh() -> Hit:
        return only_hit(connector, Query(QueryKind.NAME, gen.person(next(unused)).account))

    @contextmanager
    def too_slow() -> Iterator[tuple[Connector, float]]:
        yield connector, 1e-6  # the deadline passes before the first statement

    p = gen.person(1)
    assert p.mail and p.employee_id
    return World(
        connector,
        Subject(p.account, p.mail, p.employee_id, p.display, p.display[:7]),
        ObjectRef(connector.name, str(uuid.uuid4())),
        fresh,
        vanish=lambda hit: gen.delete_person(engine, people[hit.identifiers[IdKind.ACCOUNT]]),
        unreachable=lambda: MimSyncConnector(MimSyncSettings(url=dead_url)),
        too_slow=too_slow,
    )


WORLDS = [
    "memory",
    "memory-records",
    pytest.param("ad", marks=pytest.mark.samba),
    "mimsync-sqlite",
    pytest.param("mimsync-postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module", params=WORLDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    if request.param == "memory":
        return memory_world()
    if request.param == "memory-records":
        return memory_world(records=True)
    if request.param == "ad":
        return ad_world(request)
    if request.param == "mimsync-sqlite":
        folder = tmp_path_factory.mktemp("sync")
        dead = f"sqlite:///{folder / 'no' / 'such' / 'dir.db'}"
        return mimsync_world(request, f"sqlite:///{folder / 'sync.db'}", dead)
    url = fresh_database(request.getfixturevalue("postgres_admin_url"))
    return mimsync_world(request, url, f"postgresql+psycopg://mim@127.0.0.1:{closed_port()}/x")


# -- helpers ------------------------------------------------------------------


def short(value: object) -> str:
    """A test id: long strings shortened, so ids stay readable."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} chars)"


def only_hit(connector: Connector, query: Query) -> Hit:
    (hit,) = connector.search(query, timeout=T)
    return hit


def subject_hit(world: World, hits: list[Hit]) -> Hit:
    mine = [h for h in hits if h.identifiers.get(IdKind.ACCOUNT) == world.subject.account]
    assert len(mine) == 1, [h.label for h in hits]
    return mine[0]


def identifiers(hit: Hit) -> dict[IdKind, str]:
    return dict(hit.identifiers)


def searched(world: World, query: Query) -> list[Hit] | None:
    """The hits, for a kind of search the world's system answers; for any other kind,
    asserts the connector refuses it (`NotSupported`) and gives None."""
    if query.kind in world.searches_by:
        return world.connector.search(query, timeout=T)
    with pytest.raises(NotSupported):
        world.connector.search(query, timeout=T)
        pytest.fail(f"{query.kind.value}: answered, though the world does not search that way")
    return None


def planned_without_delete(world: World, ref: ObjectRef) -> DeletePlan | None:
    """For a connector without `Capability.DELETE`: its plan, which runs nothing
    (`PlanAction.NONE`: what there is to do is manual, or nothing), or None when it refuses
    to plan (`NotSupported`). Either way the bot erases nothing there itself."""
    assert not world.deletes()
    try:
        plan = world.connector.plan_delete(ref, timeout=T)
    except NotSupported:
        return None
    assert isinstance(plan, DeletePlan) and plan.ref == ref
    assert plan.action is PlanAction.NONE, "no Capability.DELETE, yet a plan to run"
    return plan


def proves_nothing(world: World, ids: Mapping[IdKind, str]) -> None:
    """`verify_absent` given no identifier the system searches by: `NotSupported`, or
    `absent=False` (the check proves nothing)."""
    try:
        result = world.connector.verify_absent(ids, timeout=T)
    except NotSupported:
        return
    assert not result.absent


def declared_skip(world: World, what: str) -> NoReturn:
    """Skip for the reason the world gives for having no `what`; fail when it gives none."""
    reason = world.skips.get(what)
    if not reason:
        pytest.fail(f"the world has no {what} and does not say why (World.skips)")
    pytest.skip(reason)


# -- shape ----------------------------------------------------------------------


def test_connector_satisfies_the_protocol(world: World) -> None:
    c = world.connector
    assert isinstance(c, Connector)
    assert c.name and c.label
    assert isinstance(c.capabilities, frozenset)
    assert all(isinstance(cap, Capability) for cap in c.capabilities)


def test_health_is_a_health_of_this_system(world: World) -> None:
    health = world.connector.health(timeout=T)
    assert isinstance(health, Health)
    assert (health.system, health.ok) == (world.connector.name, True)
    assert isinstance(health.detail, str) and health.detail


# -- search -------------------------------------------------------------------

SEARCHES = {
    "account": lambda s: Query(QueryKind.NAME, s.account),
    "display name": lambda s: Query(QueryKind.NAME, s.display),
    "mail": lambda s: Query(QueryKind.MAIL_OR_UPN, s.mail),
    "employee id": lambda s: Query(QueryKind.EMPLOYEE_ID, s.employee_id),
    "prefix": lambda s: Query(QueryKind.PREFIX, s.prefix),
}


@pytest.mark.parametrize("how", SEARCHES)
def test_search_finds_the_subject_as_a_hit_of_this_system(world: World, how: str) -> None:
    c, s = world.connector, world.subject
    hits = searched(world, SEARCHES[how](s))
    if hits is None:
        return  # a kind it does not search by: refused, as asserted

    assert isinstance(hits, list) and all(isinstance(h, Hit) for h in hits)
    if how == "display name" and not world.finds_display_name:
        assert hits == []  # a NAME here is an account name: a display name finds no one
        return
    hit = subject_hit(world, hits)
    if how != "prefix":
        assert hits == [hit]  # unique values find one person
    assert hit.ref.system == c.name and isinstance(hit.ref.id, str) and hit.ref.id
    shown = s.display if IdKind.DISPLAY_NAME in world.holds else s.account
    assert isinstance(hit.label, str) and shown in hit.label
    assert all(isinstance(k, IdKind) and isinstance(v, str) for k, v in hit.identifiers.items())
    held = {IdKind.MAIL: s.mail, IdKind.EMPLOYEE_ID: s.employee_id, IdKind.DISPLAY_NAME: s.display}
    for kind, value in held.items():
        if kind not in world.holds:
            assert kind not in hit.identifiers, kind  # not held there: not made up either
        elif kind is IdKind.MAIL:
            assert hit.identifiers[kind].casefold() == value.casefold()
        else:
            assert hit.identifiers[kind] == value


@pytest.mark.parametrize(
    "query",
    [
        Query(QueryKind.NAME, "nobody-4711"),
        Query(QueryKind.NAME, "Nobody Here"),
        Query(QueryKind.MAIL_OR_UPN, "nobody.4711@example.test"),
        Query(QueryKind.EMPLOYEE_ID, "4711000471"),
        Query(QueryKind.PREFIX, "Qxzvw"),
        Query(QueryKind.ATTRIBUTE, "nobody.4711@example.test", attribute="mail"),
    ],
    ids=lambda q: q.kind.value,
)
def test_search_for_an_unknown_person_is_an_empty_list(world: World, query: Query) -> None:
    hits = searched(world, query)
    assert hits is None or hits == []


HOSTILE = [
    "*",
    "**",
    ")(",
    "*)(objectClass=*",
    "*)(|(sAMAccountName=*",
    "'",
    "' OR 1=1 --",
    "'; DROP TABLE mms_metaverse; --",
    "\\",
    "\\2a",
    "%",
    "_",
    "\x00",
    "ct-zoe\x00",
    "",
    " ",
    "x" * 300,
    "Ωμέγα ☃ 漢字 \u202e",
]


@pytest.mark.parametrize("value", HOSTILE, ids=short)
def test_hostile_search_terms_match_no_one_and_raise_nothing_else(world: World, value: str) -> None:
    for kind in QueryKind:
        query = Query(kind, value, attribute="mail" if kind is QueryKind.ATTRIBUTE else None)
        if kind not in world.searches_by:
            searched(world, query)  # refused, whatever the value
            continue
        try:
            hits = world.connector.search(query, timeout=T)
        except ConnectorError:
            continue
        assert hits == [], (kind, [h.label for h in hits])


@pytest.mark.parametrize(
    "attribute",
    ["*", "mail)(objectClass=*", "unicodePwd", "", "\x00", "a" * 300, "'; DROP TABLE x; --", "é"],
    ids=short,
)
def test_an_attribute_it_cannot_search_is_not_supported_or_matches_no_one(
    world: World, attribute: str
) -> None:
    try:
        hits = world.connector.search(Query(QueryKind.ATTRIBUTE, "x", attribute), timeout=T)
    except NotSupported:
        return
    assert hits == []


# -- search_records (connectors.capabilities.SearchesRecords) ------------------------


def one_trip(world: World) -> SearchesRecords | None:
    """The connector as `SearchesRecords`; None for one without it (nothing to check but
    that it has no `search_records` of its own: a capability is what a connector does)."""
    both = searches_records(world.connector)
    if both is None:
        assert not hasattr(world.connector, "search_records")
    return both


@pytest.mark.parametrize("how", SEARCHES)
def test_search_records_gives_the_searchs_hits_each_with_its_read(world: World, how: str) -> None:
    both, query = one_trip(world), SEARCHES[how](world.subject)
    if both is None:
        return
    if query.kind not in world.searches_by:
        with pytest.raises(NotSupported):
            both.search_records(query, limit=50, timeout=T)
        return
    found = both.search_records(query, limit=50, timeout=T)
    assert all(isinstance(f, HitRecord) for f in found)
    assert [f.hit for f in found] == world.connector.search(query, timeout=T)
    for f in found:  # a healthy system: every record read, and exactly the read's
        assert f.record is not None and f.record == world.connector.read(f.hit.ref, timeout=T)


def test_search_records_reads_no_record_when_it_finds_more_than_the_limit(world: World) -> None:
    both = one_trip(world)
    if both is None:
        return
    query = Query(QueryKind.NAME, world.subject.account)
    hits = world.connector.search(query, timeout=T)
    assert hits
    found = both.search_records(query, limit=len(hits) - 1, timeout=T)
    assert [f.hit for f in found] == hits
    assert all(f.record is None for f in found)


@pytest.mark.parametrize("value", HOSTILE, ids=short)
def test_hostile_terms_find_and_read_no_one(world: World, value: str) -> None:
    both = one_trip(world)
    if both is None:
        return
    for kind in world.searches_by:
        query = Query(kind, value, attribute="mail" if kind is QueryKind.ATTRIBUTE else None)
        try:
            found = both.search_records(query, limit=50, timeout=T)
        except ConnectorError:
            continue
        assert found == [], (kind, [f.hit.label for f in found])


# -- read -----------------------------------------------------------------------


def test_read_of_a_found_ref_is_a_record_of_its_attributes(world: World) -> None:
    hit = only_hit(world.connector, Query(QueryKind.NAME, world.subject.account))
    record = world.connector.read(hit.ref, timeout=T)

    assert isinstance(record, Record) and record.ref == hit.ref
    assert record.attributes
    for name, value in record.attributes.items():
        assert isinstance(name, str) and isinstance(value, AttributeValue)
        assert isinstance(value.values, tuple) and all(isinstance(v, str) for v in value.values)
    values = {v.casefold() for a in record.attributes.values() for v in a.values}
    held = world.subject.mail if IdKind.MAIL in world.holds else world.subject.account
    assert held.casefold() in values


def test_read_show_and_plan_of_a_missing_ref_are_not_found(world: World) -> None:
    c = world.connector
    with pytest.raises(NotFound):
        c.read(world.missing, timeout=T)
    with pytest.raises(NotFound):
        c.plan_delete(world.missing, timeout=T)
    if isinstance(c, ShowsLineage):
        with pytest.raises(NotFound):
            c.show(world.missing, timeout=T)


@pytest.mark.parametrize("ref_id", ["*", ")(", "'", "\\", "\x00", "", "x" * 300, "Zoë"], ids=short)
def test_a_ref_id_that_cannot_name_an_object_is_not_found(world: World, ref_id: str) -> None:
    ref = ObjectRef(world.connector.name, ref_id)
    with pytest.raises(NotFound):
        world.connector.read(ref, timeout=T)
    with pytest.raises(NotFound):
        world.connector.plan_delete(ref, timeout=T)


# -- erasure --------------------------------------------------------------------


def test_plan_delete_names_an_action_for_the_object(world: World) -> None:
    hit = only_hit(world.connector, Query(QueryKind.NAME, world.subject.account))
    if not world.deletes():
        found = planned_without_delete(world, hit.ref)
        if found is None:
            return  # refused, as asserted
        plan = found
    else:
        plan = world.connector.plan_delete(hit.ref, timeout=T)
        assert isinstance(plan, DeletePlan) and plan.ref == hit.ref
        assert plan.action in (PlanAction.DELETE, PlanAction.DISABLE_AND_SCRUB, PlanAction.WAIT)
    assert isinstance(plan.summary, str) and plan.summary
    assert isinstance(plan.authority_rank, int)
    assert all(isinstance(n, str) for n in plan.notes)
    assert all(isinstance(m, ManualStep) for m in plan.manual)


def test_delete_then_verify_absent_and_a_second_apply_is_already_absent(world: World) -> None:
    c = world.connector
    hit = world.fresh()
    ids = identifiers(hit)
    before = c.verify_absent(ids, timeout=T)
    assert isinstance(before, Verification) and before.system == c.name
    assert not before.absent and hit.ref in before.remaining
    if not world.deletes():
        erased_by_hand(world, hit, ids)
        return

    plan = c.plan_delete(hit.ref, timeout=T)
    first = c.apply_delete(plan, timeout=T)
    assert isinstance(first, StepResult) and first.ref == hit.ref
    if plan.action is PlanAction.WAIT:  # another system removes it; apply only checks
        assert not first.done and world.vanish is not None
        assert not c.verify_absent(ids, timeout=T).absent
        world.vanish(hit)
        first = c.apply_delete(plan, timeout=T)
        assert (first.done, first.already_absent) == (True, True)
    else:
        assert (first.done, first.already_absent) == (True, False)
    after = c.verify_absent(ids, timeout=T)
    second = c.apply_delete(plan, timeout=T)

    assert (after.absent, after.remaining) == (True, ())
    assert (second.done, second.already_absent) == (True, True)
    with pytest.raises(NotFound):
        c.read(hit.ref, timeout=T)
    with pytest.raises(NotFound):
        c.plan_delete(hit.ref, timeout=T)
    assert c.search(Query(QueryKind.NAME, ids[IdKind.ACCOUNT]), timeout=T) == []


def erased_by_hand(world: World, hit: Hit, ids: Mapping[IdKind, str]) -> None:
    """Without `Capability.DELETE`: the plan runs nothing and asks a person for what keeps
    the object there; apply is refused and changes nothing; once the person has done it
    (`vanish`), the object is absent and gone from every call."""
    c = world.connector
    plan = planned_without_delete(world, hit.ref)
    if plan is not None:
        assert plan.manual  # verify finds it remaining: a person must act for it to go
    refused = plan or DeletePlan(hit.ref, PlanAction.DELETE, "x")
    with pytest.raises(NotSupported):
        c.apply_delete(refused, timeout=T)
    assert c.read(hit.ref, timeout=T).ref == hit.ref  # nothing was erased
    assert not c.verify_absent(ids, timeout=T).absent
    if world.vanish is None:
        declared_skip(world, "vanish")
    world.vanish(hit)
    after = c.verify_absent(ids, timeout=T)
    assert (after.absent, after.remaining) == (True, ())
    with pytest.raises(NotSupported):
        c.apply_delete(refused, timeout=T)  # refused again: nothing is ever erased here
    with pytest.raises(NotFound):
        c.read(hit.ref, timeout=T)
    with pytest.raises(NotFound):
        c.plan_delete(hit.ref, timeout=T)
    assert c.search(Query(QueryKind.NAME, ids[IdKind.ACCOUNT]), timeout=T) == []


@pytest.mark.parametrize(
    "ids",
    [
        {IdKind.ACCOUNT: "*"},
        {IdKind.MAIL: "*"},
        {IdKind.MAIL: "*)(objectClass=*"},
        {IdKind.UPN: "*@corp.example.test"},
        {IdKind.EMPLOYEE_ID: "%"},
        {IdKind.ACCOUNT: "ct-zoe\x00", IdKind.MAIL: "nobody.4711@example.test"},
        {IdKind.ACCOUNT: "' OR 1=1 --"},
        {IdKind.ACCOUNT: "x" * 300},
    ],
    ids=lambda ids: short({k.value: v for k, v in ids.items()}),
)
def test_hostile_identifiers_verify_as_absent_while_everyone_is_still_there(
    world: World, ids: dict[IdKind, str]
) -> None:
    if not ids.keys() & world.verifies_by:
        proves_nothing(world, ids)
        return
    result = world.connector.verify_absent(ids, timeout=T)
    assert (result.absent, result.remaining) == (True, ())


def test_verify_with_nothing_to_search_by_proves_nothing(world: World) -> None:
    proves_nothing(world, {})


# -- error mapping ----------------------------------------------------------------


def test_an_unreachable_system_raises_unreachable_from_every_call(world: World) -> None:
    if world.unreachable is None:
        declared_skip(world, "unreachable")
    c = world.unreachable()
    ref = world.missing
    calls: dict[str, Callable[[], object]] = {
        "search": lambda: c.search(Query(QueryKind.NAME, "ct-zoe"), timeout=1),
        "read": lambda: c.read(ref, timeout=1),
        "plan_delete": lambda: c.plan_delete(ref, timeout=1),
        "apply_delete": lambda: c.apply_delete(DeletePlan(ref, PlanAction.DELETE, "x"), timeout=1),
        "verify_absent": lambda: c.verify_absent({IdKind.ACCOUNT: "ct-zoe"}, timeout=1),
    }
    try:
        for name, call in calls.items():
            # Without Capability.DELETE, apply is refused before anything is reached.
            refuses = name == "apply_delete" and Capability.DELETE not in c.capabilities
            expected = NotSupported if refuses else Unreachable
            with pytest.raises(expected):
                call()
                pytest.fail(f"{name} answered")
        health = c.health(timeout=1)
    finally:
        c.close()
    assert isinstance(health, Health) and not health.ok and health.system == c.name


def test_an_exceeded_deadline_is_timed_out(world: World) -> None:
    if world.too_slow is None:
        declared_skip(world, "too_slow")
    with world.too_slow() as (c, timeout):
        with pytest.raises(TimedOut):
            c.search(Query(QueryKind.NAME, "ct-zoe"), timeout=timeout)
        health = c.health(timeout=timeout)
    assert isinstance(health, Health) and not health.ok


# Other modules run this suite over a `world` of their own (a fixture of that name):
# `from tests.connectors.test_connector_contract import *` brings in every contract test.
__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
