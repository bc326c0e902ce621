"""A size cap on every value a connector returns (bot/lookup/calls.py): an answer holding a value
over `MAX_VALUE_BYTES` is refused with a note naming the attribute, never the value, so no
find, show or export holds a value of megabytes."""

from __future__ import annotations

import json
import logging
import tracemalloc

import pytest

from bot.audit import AuditLog, SubjectKeyer
from bot.config import PolicyConfig
from bot.lookup.calls import MAX_VALUE_BYTES, Outcome, call
from bot.lookup.search import SearchService
from bot.lookup.show import ShowService
from bot.permissions.roles import Actor, Role
from bot.render import answers as render_answers
from bot.render import exports as render_exports
from bot.workflow.access import AccessService
from bot.workflow.store import RequestStore
from connectors.base import AttributeValue, Hit, IdKind, ObjectRef, Query, QueryKind, Record
from connectors.memory import MemoryConnector, Person
from tests.support.keys import CHAIN_KEY
from tests.workflow.test_access import Catcher, opened

HR = MemoryConnector("hr", "HR", [])
JANE = {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe", IdKind.MAIL: "jane@example.test"}
JDOE = Query(QueryKind.NAME, "jdoe")
EXPORTER = Actor("UEXP", frozenset({Role.EXPORTER, Role.VIEWER}))
HUGE = "Sales " * 1_000_000  # 6 MB, an HR department field gone wrong


def record(**attributes: tuple[str, ...]) -> Record:
    return Record(ObjectRef("hr", "1"), {k: AttributeValue(v) for k, v in attributes.items()})


def test_an_answer_with_a_value_over_the_cap_is_refused_naming_the_attribute(caplog):
    with caplog.at_level(logging.DEBUG):
        result = call(HR, lambda: record(mail=("j@x.test",), department=(HUGE,)), what="read",
                      timeout=1)  # fmt: skip
    assert (result.outcome, result.value) == (Outcome.ERROR, None)
    assert result.message == "answer refused: a value of department is over 64 KiB"
    assert "Sales" not in caplog.text and "department" not in caplog.text


@pytest.mark.parametrize(
    ("value", "fits"),
    [
        ("x" * MAX_VALUE_BYTES, True),
        ("x" * (MAX_VALUE_BYTES + 1), False),
        ("\u00e9" * (MAX_VALUE_BYTES // 2), True),  # two bytes each in UTF-8: just fits
        ("\u20ac" * (MAX_VALUE_BYTES // 3 + 1), False),  # fewer characters than the cap
        (b"\x00" * (MAX_VALUE_BYTES + 1), False),
    ],
    ids=["at-cap", "one-over", "two-byte-chars-at-cap", "three-byte-chars-over", "bytes-over"],
)
def test_the_cap_counts_utf8_bytes(value, fits):
    result = call(HR, lambda: record(photo=(value,)), what="read", timeout=1)
    assert (result.outcome is Outcome.FOUND) == fits


def test_every_part_of_an_answer_is_held_to_the_cap():
    big = "y" * (MAX_VALUE_BYTES + 1)
    answers = {
        "label": [Hit(ObjectRef("hr", "1"), big)],
        "title": [Hit(ObjectRef("hr", "1"), "Jane", attributes={"title": (big,)})],
        "mail": [Hit(ObjectRef("hr", "1"), "Jane", identifiers={IdKind.MAIL: big})],
        "ref": Record(ObjectRef("hr", big), {}),
        "an attribute name": record(**{big: ("x",)}),
    }
    for name, answer in answers.items():
        result = call(HR, lambda answer=answer: answer, what="search", timeout=1)
        assert result.message == f"answer refused: a value of {name} is over 64 KiB", name
        assert big not in result.message


@pytest.fixture
def world(engine):
    hr = MemoryConnector("hr", "HR", [Person("1", dict(JANE), {"department": (HUGE,)})])
    ad = MemoryConnector("ad", "AD", [Person("1", dict(JANE), {"title": ("Clerk",)})])
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    keyer = SubjectKeyer("test-subject-key-0123456789")
    search = SearchService([hr, ad], audit=audit, keyer=keyer, timeout=5)
    show = ShowService(search=search, connectors={"hr": hr, "ad": ad}, audit=audit, timeout=5)
    catcher = Catcher()
    access = AccessService(
        store=RequestStore(engine, audit=audit),
        show=show,
        keyer=keyer,
        sender=catcher,
        policy=PolicyConfig(),
    )
    return search, show, access, catcher


def test_find_show_and_export_do_not_hold_a_value_of_megabytes(world):
    search, show, access, catcher = world
    found = search.find(JDOE, actor=EXPORTER)
    hr = next(r for r in found.systems if r.system == "hr")
    assert hr.outcome is Outcome.ERROR and "department" in hr.message and not hr.hits
    assert "Sales" not in str(render_answers.find_result(found).blocks)
    view = show.show(JDOE, actor=EXPORTER)
    (hr_view,) = [s for s in view.systems if s.system == "hr"]
    assert hr_view.outcome is Outcome.ERROR and hr_view.record is None
    assert "department" in hr_view.message
    tracemalloc.start()
    try:
        result = access.export(JDOE, actor=EXPORTER)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Not one copy of the 6 MB value was made (before: JSON, CSV and zip, ~12 times it).
    assert peak < len(HUGE) // 2
    files = opened(catcher.sent[0][2])
    assert "hr.json" not in files and "ad.json" in files
    assert all(b"Sales" not in data for data in files.values())
    manifest = json.loads(files["manifest.json"])
    assert manifest["systems"]["hr"] == {
        "label": "HR",
        "outcome": "error",
        "files": [],
        "message": "answer refused: a value of department is over 64 KiB",
    }
    assert result.unread == ("HR",) and result.request.status.value == "failed"
    reply = render_exports.export_done(result).blocks[0]["text"]["text"]
    assert "without HR (answer refused: a value of department is over 64 KiB)" in reply
