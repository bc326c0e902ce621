"""`doctor`: every connector's checks at once, within one deadline; a connector that cannot
check itself is asked its health; a failing or hung one is reported, never waited for; the
verdicts make the exit code; the Slack answer escapes what systems say."""

from __future__ import annotations

import json
import threading
import time

import pytest

from bot.ops.doctor import DoctorReport, SystemChecks, examine
from bot.render.doctor import doctor_answer, doctor_text
from connectors.doctor import Check, Verdict, cannot_tell, ok, wrong
from connectors.errors import ConnectorError, Unreachable
from connectors.memory import MemoryConnector


class Checking(MemoryConnector):
    """A connector double that checks itself: its checks are what the test gives it."""

    def __init__(
        self, name: str, checks: list[Check] | Exception, *, hang: threading.Event | None = None
    ):
        super().__init__(name, name.upper())
        self.checks, self.hang = checks, hang

    def doctor(self, *, timeout: float) -> list[Check]:
        if self.hang is not None:
            self.hang.wait(30)
        if isinstance(self.checks, Exception):
            raise self.checks
        return self.checks


def test_each_connector_reports_its_own_checks_in_order():
    a = Checking("a", [ok("schema", "12 attributes"), wrong("module", "missing", "install it")])
    b = Checking("b", [ok("reads")])
    report = examine([a, b], timeout=5)
    assert [s.system for s in report.systems] == ["a", "b"]
    assert [c.name for c in report.systems[0].checks] == ["schema", "module"]
    assert report.systems[0].verdict is Verdict.WRONG
    assert report.systems[1].verdict is Verdict.OK
    assert report.verdict is Verdict.WRONG and report.exit_code == 1


def test_a_connector_without_checks_is_asked_its_health():
    healthy = MemoryConnector("mem", "Memory")
    sick = MemoryConnector("sick", "Sick")
    sick.fail["health"] = Unreachable("no route")
    report = examine([healthy, sick], timeout=5)
    assert report.systems[0].checks[0].verdict is Verdict.OK
    assert "objects in memory" in report.systems[0].checks[0].detail
    assert healthy.calls == ["health"]


def test_a_raising_or_hung_connector_cannot_tell_and_hides_no_other():
    release = threading.Event()
    hung = Checking("hung", [ok("never seen")], hang=release)
    broken = Checking("broken", ConnectorError("LDAPSocketOpenError"))
    fine = Checking("fine", [ok("reads")])
    started = time.monotonic()
    try:
        report = examine([hung, broken, fine], timeout=0.5)
    finally:
        release.set()
    assert time.monotonic() - started < 5  # the deadline, not the hung call, ends it
    verdicts = {s.system: s.checks[0] for s in report.systems}
    assert verdicts["hung"].verdict is Verdict.CANNOT_TELL
    assert "no answer within 0.5 s" in verdicts["hung"].detail
    assert verdicts["broken"].verdict is Verdict.CANNOT_TELL
    assert "LDAPSocketOpenError" in verdicts["broken"].detail
    assert verdicts["fine"].verdict is Verdict.OK
    assert report.exit_code == 3  # nothing wrong, something not told


def test_an_unexpected_exception_is_reported_without_its_text():
    # A library's message may carry a value; the report carries the class only.
    boom = Checking("boom", KeyError("jane.doe@corp.example"))
    report = examine([boom], timeout=5)
    text = doctor_text(report)
    assert "jane.doe" not in text
    assert report.systems[0].checks[0].verdict is Verdict.CANNOT_TELL


@pytest.mark.parametrize(
    ("verdicts", "code"),
    [
        ([Verdict.OK, Verdict.OK], 0),
        ([Verdict.OK, Verdict.CANNOT_TELL], 3),
        ([Verdict.CANNOT_TELL, Verdict.WRONG], 1),
        ([], 0),
    ],
)
def test_the_exit_code_is_the_worst_verdict(verdicts, code):
    checks = tuple(
        Check(f"c{n}", v, fix="" if v is Verdict.OK else "do x") for n, v in enumerate(verdicts)
    )
    assert DoctorReport((SystemChecks("s", "S", checks),)).exit_code == code


def test_a_check_that_is_not_ok_must_say_its_fix():
    with pytest.raises(ValueError, match="says no fix"):
        Check("schema", Verdict.WRONG, "missing")
    with pytest.raises(ValueError, match="says no fix"):
        cannot_tell("schema", "no answer", "")


def test_the_text_lists_every_check_and_each_fix():
    report = examine(
        [
            Checking(
                "ad", [ok("schema", "all 14 attributes"), wrong("tombstone", "60 days", "raise it")]
            )
        ],
        timeout=5,
    )
    text = doctor_text(report)
    assert "AD (ad): WRONG" in text
    assert "ok          schema: all 14 attributes" in text
    assert "WRONG       tombstone: 60 days" in text and "fix: raise it" in text
    assert text.endswith("1 system(s) checked: 1 wrong, 1 ok")


def test_the_slack_answer_shows_what_is_not_ok_escaped_and_valid():
    hostile = wrong("module <@U123>", "found <!channel> & more", "run <https://x|this>")
    report = examine(
        [Checking("pam", [ok("edition"), hostile]), Checking("ok", [ok("reads")])], timeout=5
    )
    reply = doctor_answer(report)
    raw = json.dumps(reply.blocks)
    assert "<@U123>" not in raw and "<!channel>" not in raw and "<https://x" not in raw
    assert "&lt;@U123&gt;" in raw and "&amp; more" in raw
    assert "1 of 2 ok" in raw and "1 of 1 ok" in raw
    assert "edition" not in raw  # an ok check is counted, not listed
    assert reply.private
