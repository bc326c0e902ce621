"""One trip per slow system: `show` and an export ask a system that finds and reads in one
call (`SearchesRecords`) once, read only the others, and only for the hits the merge gave
the person. Over in-memory connectors; tests/workflow/test_export_one_trip.py counts the
WinRM scripts of the demo estate's."""

from __future__ import annotations

import json

import pytest

from bot.audit import AuditLog, SubjectKeyer
from bot.config import PolicyConfig
from bot.lookup.calls import MAX_VALUE_BYTES, Outcome
from bot.lookup.search import SearchService
from bot.lookup.show import ShowService
from bot.lookup.subjects import AmbiguousSubject, group_hits, single_subject
from bot.permissions.roles import Actor, Role
from bot.workflow.access import AccessService
from bot.workflow.store import RequestStore
from connectors.base import (
    AttributeValue,
    Hit,
    HitRecord,
    IdKind,
    ObjectRef,
    Query,
    QueryKind,
    Record,
)
from connectors.errors import Denied, NotSupported, Unreachable
from connectors.memory import MemoryConnector, Person, RecordsMemoryConnector
from tests.support.keys import CHAIN_KEY
from tests.workflow.test_access import Catcher, opened

VIEWER = Actor("UVIEW", frozenset({Role.VIEWER}))
EXPORTER = Actor("UEXP", frozenset({Role.EXPORTER}))
JDOE = Query(QueryKind.NAME, "jdoe")
JANE = {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe", IdKind.MAIL: "jane@example.test"}


def jane(pid: str, **attrs: str) -> Person:
    return Person(pid, dict(JANE), {k: (v,) for k, v in attrs.items()})


def services(engine, *connectors):
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    search = SearchService(list(connectors), audit=audit, keyer=SubjectKeyer("k" * 20))
    show = ShowService(search=search, connectors={c.name: c for c in connectors}, audit=audit)
    catcher = Catcher()
    access = AccessService(
        store=RequestStore(engine, audit=audit),
        show=show,
        keyer=SubjectKeyer("k" * 20),
        sender=catcher,
        policy=PolicyConfig(),
    )
    return show, access, catcher


class AccountOnly(RecordsMemoryConnector):
    """PAM's way: searched by account name only (another kind is NotSupported, so the
    second hop asks it by the account the others found), and, like a service whose own
    matching is loose, it also answers accounts that start with the one asked for."""

    def search_records(self, query: Query, *, limit: int, timeout: float) -> list[HitRecord]:
        self._enter("search_records")
        if query.kind is not QueryKind.NAME:
            raise NotSupported("searched by account name")
        term = query.value.casefold()
        people = [
            p
            for p in self.people.values()
            if p.identifiers[IdKind.ACCOUNT].casefold().startswith(term)
        ]
        read = len(people) <= limit
        return [
            HitRecord(self._hit(p), self._record(ObjectRef(self.name, p.id), p) if read else None)
            for p in people
        ]


class NoAttributesInHits(RecordsMemoryConnector):
    """Hits carry identifiers only (as the WinRM connectors' do), the record everything."""

    def _hit(self, p: Person) -> Hit:
        return Hit(ObjectRef(self.name, p.id), p.identifiers[IdKind.DISPLAY_NAME], p.identifiers)


class WrongRecord(RecordsMemoryConnector):
    """A connector bug: the record it hands back with a hit is another object's."""

    def search_records(self, query: Query, *, limit: int, timeout: float) -> list[HitRecord]:
        found = super().search_records(query, limit=limit, timeout=timeout)
        other = Record(ObjectRef(self.name, "someone-else"), {"x": AttributeValue(("LEAK",))})
        return [HitRecord(f.hit, other) for f in found]


def test_a_system_that_finds_and_reads_at_once_is_asked_once(engine):
    pam = RecordsMemoryConnector("pam", "PAM", [jane("p1", PrivAccountName="CORP.jdoe")])
    ad = MemoryConnector("ad", "AD", [jane("g1", telephoneNumber="+44 20 7946 0000")])
    show, _, _ = services(engine, pam, ad)
    view = show.show(JDOE, actor=VIEWER)
    assert pam.calls == ["search_records"] and ad.calls == ["search", "read"]
    records = {s.system: s.record for s in view.systems}
    assert records["pam"] == pam.read(ObjectRef("pam", "p1"), timeout=1)  # the read's own
    assert records["ad"].attributes["telephoneNumber"].values == ("+44 20 7946 0000",)
    assert [e.action for e in show.audit.events()] == ["show", "read"]  # audited as before


def test_the_merge_and_the_find_audit_are_the_same_with_records_read(engine):
    people = [jane("p1", x="1"), Person("p2", {IdKind.ACCOUNT: "jdoe2", IdKind.MAIL: "j2@x"})]
    pam = RecordsMemoryConnector("pam", "PAM", people)
    ad = MemoryConnector("ad", "AD", [jane("g1")])
    show, _, _ = services(engine, pam, ad)
    plain = show.search.find(Query(QueryKind.PREFIX, "jdoe"), actor=VIEWER)
    both = show.search.find(Query(QueryKind.PREFIX, "jdoe"), actor=VIEWER, records=5)
    assert [m.hits for m in group_hits(plain)] == [m.hits for m in group_hits(both)]
    assert [s.hits for s in plain.systems] == [s.hits for s in both.systems]
    first, second = (e.detail for e in show.audit.events())
    assert first == second
    assert not plain.systems[0].records and set(both.systems[0].records) == {
        ObjectRef("pam", "p1"),
        ObjectRef("pam", "p2"),
    }


def test_an_erasure_resolves_with_a_search_alone(engine):
    pam = RecordsMemoryConnector("pam", "PAM", [jane("p1")])
    show, _, _ = services(engine, pam)
    match = single_subject(show.search.find(JDOE, actor=VIEWER, command="delete"))
    assert match.hits[0].ref == ObjectRef("pam", "p1") and pam.calls == ["search"]


def test_records_of_people_show_refuses_are_dropped_unseen(engine):
    """Two people match: show refuses, naming them by label; the records read with the
    search (one of them holds a secret) go nowhere."""
    pam = RecordsMemoryConnector("pam", "PAM", [jane("p1", note="SECRET-NOTE")])
    other = Person("g9", {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "John Doe",
                          IdKind.MAIL: "john@example.test"})  # fmt: skip
    ad = MemoryConnector("ad", "AD", [other])
    show, access, catcher = services(engine, pam, ad)
    with pytest.raises(AmbiguousSubject) as info:
        show.show(JDOE, actor=VIEWER)
    assert "SECRET-NOTE" not in str(info.value) and ad.calls == ["search"]
    with pytest.raises(AmbiguousSubject):
        access.export(JDOE, actor=EXPORTER)
    assert catcher.sent == [] and "SECRET-NOTE" not in json.dumps(
        [e.detail for e in show.audit.events()]
    )


def test_a_record_of_a_hit_that_is_not_the_persons_is_not_exported(engine):
    """The second hop asks PAM by the account AD found, and PAM answers another account (its
    own matching is loose) with that account's record. The merge keeps only the account
    asked for: the hit and its record are dropped, and nothing of them is exported."""
    ad = MemoryConnector("ad", "AD", [jane("g1", telephoneNumber="+44 20 7946 0000")])
    admin = Person("p2", {IdKind.ACCOUNT: "jdoe-adm", IdKind.DISPLAY_NAME: "Jane Doe (admin)"},
                   {"PrivAccountName": ("SECRET-ADMIN-ACCOUNT",)})  # fmt: skip
    pam = AccountOnly("pam", "PAM", [admin])
    assert pam.search_records(JDOE, limit=1, timeout=1)[0].record is not None  # it reads it
    pam.calls.clear()
    show, access, catcher = services(engine, ad, pam)
    result = access.export(Query(QueryKind.MAIL_OR_UPN, "jane@example.test"), actor=EXPORTER)
    assert not result.unread
    assert pam.calls == ["search_records", "search_records"]  # refused, then by account
    ((_, _, data, package),) = catcher.sent
    files = opened(data)
    assert package.manifest["systems"]["pam"]["outcome"] == "not_found"
    assert "pam.json" not in files
    assert not any(b"SECRET-ADMIN-ACCOUNT" in content for content in files.values())
    assert "SECRET" not in json.dumps([e.detail for e in show.audit.events()])


def test_a_record_that_is_not_its_hits_is_dropped_and_the_system_read(engine):
    pam = WrongRecord("pam", "PAM", [jane("p1", PrivAccountName="CORP.jdoe")])
    show, access, catcher = services(engine, pam)
    view = show.show(JDOE, actor=VIEWER)
    (pam_record,) = view.systems
    assert pam.calls == ["search_records", "read"]
    assert pam_record.record == pam.read(ObjectRef("pam", "p1"), timeout=1)
    access.export(JDOE, actor=EXPORTER)
    files = opened(catcher.sent[0][2])
    assert not any(b"LEAK" in content for content in files.values())


def test_a_failing_combined_call_is_reported_as_a_failed_search(engine):
    pam = RecordsMemoryConnector("pam", "PAM", [jane("p1")])
    pam.fail["search_records"] = Unreachable("connection refused")
    ad = MemoryConnector("ad", "AD", [jane("g1")])
    show, access, _ = services(engine, pam, ad)
    view = show.show(JDOE, actor=VIEWER)
    assert {s.system: s.outcome for s in view.systems} == {
        "ad": Outcome.FOUND,
        "pam": Outcome.UNREACHABLE,
    }
    assert access.export(JDOE, actor=EXPORTER).unread == ("PAM",)


def test_a_record_the_call_could_not_read_is_read_and_its_error_reported(engine):
    pam = RecordsMemoryConnector("pam", "PAM", [jane("p1")])
    pam.fail["read"] = Denied("no MPR grants it")  # the record part fails: the read too
    show, _, _ = services(engine, pam, MemoryConnector("ad", "AD", [jane("g1")]))
    view = show.show(JDOE, actor=VIEWER)
    assert pam.calls == ["search_records", "read"]
    outcomes = {s.system: (s.outcome, s.message) for s in view.systems}
    assert outcomes["pam"] == (Outcome.DENIED, "no MPR grants it")


def test_an_oversized_record_is_refused_alone_and_its_hit_still_joins(engine):
    huge = "x" * (MAX_VALUE_BYTES + 1)
    pam = NoAttributesInHits("pam", "PAM", [jane("p1", photo=huge)])
    ad = MemoryConnector("ad", "AD", [jane("g1")])
    show, _, _ = services(engine, pam, ad)
    view = show.show(JDOE, actor=VIEWER)
    assert {r.system for r in view.subject.refs} == {"pam", "ad"}  # the hit was kept
    outcomes = {s.system: (s.outcome, s.message) for s in view.systems}
    assert outcomes["pam"] == (Outcome.ERROR, "answer refused: a value of photo is over 64 KiB")
    assert pam.calls == ["search_records"]


def test_the_records_read_with_the_search_are_one_progress_message(engine):
    pam = RecordsMemoryConnector("pam", "PAM", [jane("p1")])
    bhold = RecordsMemoryConnector("bhold", "BHOLD", [jane("b1")])
    ad = MemoryConnector("ad", "AD", [jane("g1")])
    _, access, catcher = services(engine, pam, bhold, ad)
    access.export(JDOE, actor=EXPORTER)
    assert catcher.progress_seen == [2, 3]  # PAM and BHOLD at once, then AD's read
