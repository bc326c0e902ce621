"""Access requests (GDPR Art. 15) in the domain: resolve, read every system, package, send,
forget the package; the request completes once every system was read, and stays open
(failed) naming what could not be read until a later export reads it."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field

import pytest
import pyzipper

from bot import render
from bot.audit import AuditLog, SubjectKeyer
from bot.config import PolicyConfig
from bot.errors import AlreadyOpen, RequestStateError
from bot.lookup.search import SearchService
from bot.lookup.show import ShowService
from bot.lookup.subjects import AmbiguousSubject
from bot.permissions.roles import Actor, Role
from bot.render.requests import request_status
from bot.workflow.access import AccessService
from bot.workflow.export_package import Package
from bot.workflow.notifications.delivery import NotDelivered
from bot.workflow.requests import Status
from bot.workflow.store import RequestStore
from connectors.base import IdKind, Query, QueryKind
from connectors.errors import Unreachable
from connectors.memory import MemoryConnector, Person
from tests.support.keys import CHAIN_KEY
from tests.workflow.test_erasure import JDOE, REQUESTER, jane, make_world

EXPORTER = Actor("UEXP", frozenset({Role.EXPORTER}))
EXPORTER2 = Actor("UEXP2", frozenset({Role.EXPORTER}))


@dataclass
class Catcher:
    """The front end's part: keeps what it was given (the zip's bytes, as sent)."""

    progress_seen: list[int] = field(default_factory=list)
    sent: list[tuple[str, str, bytes, Package]] = field(default_factory=list)
    passwords: list[tuple[str, str, str]] = field(default_factory=list)
    ended: int = 0
    progress_fails: bool = False
    fail: Exception | None = None
    password_fails: Exception | None = None

    def progress(self, user_id: str, answered) -> None:
        self.progress_seen.append(len(answered))
        if self.progress_fails:
            raise ConnectionError("rate limited")

    def send(self, user_id: str, request_id: str, package: Package) -> None:
        if self.fail:
            raise self.fail
        self.sent.append((user_id, request_id, package.data, package))

    def send_password(self, user_id: str, request_id: str, password: str) -> None:
        if self.password_fails:
            raise self.password_fails
        self.passwords.append((user_id, request_id, password))

    def finished(self, user_id: str) -> None:
        self.ended += 1


def jane_in(name: str, label: str, **attributes: tuple[str, ...]) -> Person:
    person = jane()
    return Person(person.id, person.identifiers, {"mail": ("jdoe@example.test",), **attributes})


@pytest.fixture
def world(engine):
    hr = MemoryConnector("hr", "HR", [jane_in("hr", "HR", birth_date=("1980-05-17",))])
    ad = MemoryConnector(
        "ad", "AD", [jane_in("ad", "AD", proxyAddresses=("SMTP:jdoe@x.test", "smtp:j@x.test"))]
    )
    cm = MemoryConnector("certmgmt", "CM", [])
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    keyer = SubjectKeyer("test-subject-key-0123456789")
    store = RequestStore(engine, audit=audit)
    search = SearchService([hr, ad, cm], audit=audit, keyer=keyer, timeout=2)
    show = ShowService(search=search, connectors={c.name: c for c in (hr, ad, cm)}, audit=audit)
    catcher = Catcher()
    access = AccessService(
        store=store, show=show, keyer=keyer, sender=catcher, policy=PolicyConfig()
    )
    return access, catcher, {"hr": hr, "ad": ad, "cm": cm}, audit


def opened(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


def test_the_package_holds_every_system_with_checksums_and_is_not_kept(world):
    access, catcher, _, audit = world
    result = access.export(JDOE, actor=EXPORTER)
    ((user, request_id, data, package),) = catcher.sent
    assert (user, request_id) == ("UEXP", result.request.id)
    files = opened(data)
    assert sorted(files) == sorted(
        ["hr.json", "hr.csv", "ad.json", "ad.csv", "README.txt", "manifest.json"]
    )
    manifest = json.loads(files["manifest.json"])
    assert manifest["request_id"] == result.request.id
    assert {k: v["outcome"] for k, v in manifest["systems"].items()} == {
        "hr": "found",
        "ad": "found",
        "certmgmt": "not_found",
    }
    for name, digest in manifest["sha256"].items():  # every other file, checked
        assert hashlib.sha256(files[name]).hexdigest() == digest
    assert set(manifest["sha256"]) == set(files) - {"manifest.json"}
    ad = json.loads(files["ad.json"])
    assert ad["attributes"]["proxyAddresses"]["values"] == ["SMTP:jdoe@x.test", "smtp:j@x.test"]
    rows = list(csv.reader(io.StringIO(files["ad.csv"].decode("utf-8-sig"))))
    assert rows[0] == ["attribute", "value", "source", "modified"]
    assert ["proxyAddresses", "smtp:j@x.test", "ad", ""] in rows  # one row per value
    readme = files["README.txt"].decode()
    assert "What it is for" in readme and "CM" in readme and "NOT INCLUDED" not in readme
    assert package.name == f"{result.request.id}.zip"
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.request.status is Status.COMPLETED and result.request.subject is None
    (event,) = [e for e in audit.events() if e.action == "package_sent"]
    assert event.outcome == "ok" and event.detail["sha256"] == result.sha256
    assert catcher.progress_seen == [1, 2]  # told as each holding system answered


def test_a_system_that_cannot_be_read_is_named_and_the_request_stays_open(world):
    access, catcher, systems, audit = world
    systems["ad"].fail["read"] = Unreachable("down")
    first = access.export(JDOE, actor=EXPORTER)
    assert first.unread == ("AD",)
    assert first.request.status is Status.FAILED and first.request.subject is not None
    files = opened(catcher.sent[0][2])
    assert "ad.json" not in files
    assert "NOT INCLUDED" in files["README.txt"].decode() and "- AD (unreachable)" in (
        files["README.txt"].decode()
    )
    assert json.loads(files["manifest.json"])["systems"]["ad"]["outcome"] == "unreachable"
    del systems["ad"].fail["read"]
    second = access.export(JDOE, actor=EXPORTER)  # the same request, now complete
    assert second.request.id == first.request.id and second.unread == ()
    assert second.request.status is Status.COMPLETED
    outcomes = [e.outcome for e in audit.events() if e.action == "package_sent"]
    assert outcomes == ["incomplete", "ok"]


def test_a_failed_delivery_says_the_request_is_open_and_the_package_not_delivered(world):
    access, catcher, _, audit = world
    catcher.fail = ConnectionError("slack down")
    with pytest.raises(NotDelivered) as caught:
        access.export(JDOE, actor=EXPORTER)
    (request_id,) = access.store.ids()
    assert access.store.get(request_id).status is Status.PLANNED  # open, not exported
    assert not [e for e in audit.events() if e.action == "package_sent"]
    # What the caller reads: the request exists, the package did not go, how to retry.
    text = render.error(caught.value).text
    assert text == (
        f"{request_id} is open, but its access package was not delivered. "
        "Run the same /mim export again to retry."
    )
    assert "Nothing was changed" not in text and "Jane" not in text
    catcher.fail = None
    assert access.export(JDOE, actor=EXPORTER).request.id == request_id


def test_a_password_that_could_not_be_shown_leaves_the_request_open(world):
    access, catcher, _, audit = world
    access.policy = PolicyConfig(export_encrypt=True)
    catcher.password_fails = ConnectionError("slack down")
    with pytest.raises(NotDelivered, match="password could not be shown") as caught:
        access.export(JDOE, actor=EXPORTER)
    (request_id,) = access.store.ids()
    assert str(caught.value).startswith(f"{request_id} is open")
    assert access.store.get(request_id).status is Status.PLANNED
    assert not [e for e in audit.events() if e.action == "package_sent"]
    catcher.password_fails = None
    result = access.export(JDOE, actor=EXPORTER)  # a fresh package with its own password
    assert result.request.id == request_id and result.request.status is Status.COMPLETED
    assert len(catcher.sent) == 2 and len(catcher.passwords) == 1


def test_an_export_never_completes_another_exporters_open_request(world):
    access, catcher, systems, audit = world
    systems["ad"].fail["read"] = Unreachable("down")
    first = access.export(JDOE, actor=EXPORTER).request
    assert first.status is Status.FAILED
    del systems["ad"].fail["read"]
    with pytest.raises(RequestStateError) as caught:
        access.export(JDOE, actor=EXPORTER2)
    text = str(caught.value)
    assert first.id in text and "Nothing was sent" in text and "Jane" not in text
    assert [user for user, *_ in catcher.sent] == ["UEXP"]  # nothing went to UEXP2
    still = access.store.get(first.id)
    assert still.status is Status.FAILED and still.requester == "UEXP"
    assert access.store.ids() == [first.id]  # one open access request for the person
    assert access.export(JDOE, actor=EXPORTER).request.status is Status.COMPLETED
    # Once it ended, another exporter's export is a request of their own.
    second = access.export(JDOE, actor=EXPORTER2).request
    assert second.id != first.id and second.requester == "UEXP2"
    # The audit names who received each package: the user whose DM it went to.
    sent_to = [e.actor for e in audit.events() if e.action == "package_sent"]
    assert sent_to == [user for user, *_ in catcher.sent] == ["UEXP", "UEXP", "UEXP2"]


def test_the_subject_must_be_exactly_one_person(world):
    access, catcher, systems, _ = world
    other = Person("9", {IdKind.ACCOUNT: "jdoe2", IdKind.DISPLAY_NAME: "jdoe"})
    systems["ad"].people["9"] = other
    with pytest.raises(AmbiguousSubject):
        access.export(JDOE, actor=EXPORTER)
    assert catcher.sent == [] and access.store.ids() == []


def test_without_a_front_end_that_delivers_nothing_is_read(world):
    access, _, systems, audit = world
    access.sender = None
    before = len(audit.events())
    with pytest.raises(RequestStateError, match="cannot deliver"):
        access.export(JDOE, actor=EXPORTER)
    assert systems["hr"].calls == [] and len(audit.events()) == before


def test_an_access_request_may_run_beside_an_open_erasure(engine):
    w = make_world(engine, MemoryConnector("ad", "AD", [jane()]))
    erasure = w.erasure.request(JDOE, actor=REQUESTER, reason=None)
    show = ShowService(search=w.erasure.search, connectors=w.connectors, audit=w.audit)
    catcher = Catcher()
    access = AccessService(
        store=w.store, show=show, keyer=w.erasure.keyer, sender=catcher, policy=PolicyConfig()
    )
    result = access.export(Query(QueryKind.NAME, "jdoe"), actor=EXPORTER)
    assert result.request.id != erasure.id and result.request.kind == "access"
    with pytest.raises(AlreadyOpen):  # but still one erasure at a time
        w.erasure.request(JDOE, actor=REQUESTER, reason=None)


def test_hostile_values_are_data_in_every_file(world):
    access, catcher, systems, _ = world
    hostile = '=cmd|"/c calc"!A1,<!channel>\n"quoted",\u2019'
    systems["hr"].people["1"].attributes["note"] = (hostile,)
    access.export(JDOE, actor=EXPORTER)
    files = opened(catcher.sent[0][2])
    assert json.loads(files["hr.json"])["attributes"]["note"]["values"] == [hostile]
    rows = list(csv.reader(io.StringIO(files["hr.csv"].decode("utf-8-sig"))))
    # A spreadsheet must not run it as a formula: the CSV cell starts with an apostrophe.
    assert ["note", "'" + hostile, "hr", ""] in rows


def test_records_are_read_once_per_system(world):
    access, _, systems, _ = world
    access.export(JDOE, actor=EXPORTER)
    assert systems["hr"].calls.count("read") == 1 and systems["ad"].calls.count("read") == 1


def test_policy_may_encrypt_the_package_and_send_its_password_apart(world):
    access, catcher, _, audit = world
    access.policy = PolicyConfig(export_encrypt=True)
    result = access.export(JDOE, actor=EXPORTER)
    ((_, _, data, package),) = catcher.sent
    ((user, request_id, password),) = catcher.passwords
    assert (user, request_id) == ("UEXP", result.request.id) and len(password) >= 20
    assert package.encrypted and password not in data.decode("latin-1")
    with zipfile.ZipFile(io.BytesIO(data)) as zf, pytest.raises(RuntimeError):
        zf.read("manifest.json")  # not readable without the password
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        zf.setpassword(password.encode())
        manifest = json.loads(zf.read("manifest.json"))
        for name, digest in manifest["sha256"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
    assert password not in str([e.detail for e in audit.events()])


def test_a_failing_progress_message_does_not_stop_the_export(world):
    access, catcher, _, _ = world
    catcher.progress_fails = True
    result = access.export(JDOE, actor=EXPORTER)
    assert result.request.status is Status.COMPLETED and len(catcher.sent) == 1
    assert catcher.ended == 1  # the progress message is forgotten


def test_the_progress_message_is_forgotten_when_an_export_fails(world):
    access, catcher, _, _ = world
    catcher.fail = ConnectionError("slack down")
    with pytest.raises(NotDelivered):
        access.export(JDOE, actor=EXPORTER)
    assert catcher.ended == 1


def test_retry_cannot_close_an_incomplete_access_request(engine):
    hr = MemoryConnector("hr", "HR", [jane()])
    ad = MemoryConnector("ad", "AD", [jane()])
    w = make_world(engine, hr, ad)
    show = ShowService(search=w.erasure.search, connectors=w.connectors, audit=w.audit)
    access = AccessService(
        store=w.store, show=show, keyer=w.erasure.keyer, sender=Catcher(), policy=PolicyConfig()
    )
    ad.fail["read"] = Unreachable("down")
    request = access.export(JDOE, actor=EXPORTER).request
    assert request.status is Status.FAILED
    approver = Actor("UAPP", frozenset({Role.APPROVER}))
    with pytest.raises(RequestStateError, match="run the same /mim export again"):
        w.decisions.retry(request.id, actor=approver)
    assert w.store.get(request.id).status is Status.FAILED  # still open, still named


def test_the_status_of_an_access_request_says_what_happened(world):
    access, _, systems, _ = world
    systems["ad"].fail["read"] = Unreachable("down")
    text = str(request_status(access.export(JDOE, actor=EXPORTER).request).blocks)
    assert "without the systems that could not be read" in text and "approvals" not in text
    del systems["ad"].fail["read"]
    text = str(request_status(access.export(JDOE, actor=EXPORTER).request).blocks)
    assert "went to the requester by direct message" in text
