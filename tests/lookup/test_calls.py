"""The one connector call path (bot/lookup/calls.py): every failure maps to one outcome, the
deadline holds for a hung system, and a connector's bug is an error, not a crash."""

from __future__ import annotations

import inspect
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import connectors.errors as errors
from bot.lookup.calls import Outcome, call
from connectors.memory import MemoryConnector

AD = MemoryConnector("ad", "Active Directory", [])


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (errors.NotFound, Outcome.NOT_FOUND),
        (errors.TimedOut, Outcome.TIMED_OUT),
        (errors.Unreachable, Outcome.UNREACHABLE),
        (errors.Denied, Outcome.DENIED),
        (errors.NotSupported, Outcome.SKIPPED),
        (errors.ConnectorError, Outcome.ERROR),
    ],
)
def test_each_connector_error_has_its_outcome(error, outcome):
    def fail():
        raise error("code 49")

    result = call(AD, fail, what="read", timeout=1)
    assert (result.system, result.label) == ("ad", "Active Directory")
    assert (result.outcome, result.value, result.message) == (outcome, None, "code 49")
    with pytest.raises(error):
        result.unwrap()


def test_every_connector_error_class_is_mapped():
    classes = [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.ConnectorError)
    ]
    for cls in classes:

        def fail(cls=cls):
            raise cls("x")

        outcome = call(AD, fail, what="t", timeout=1).outcome
        # Only the base class itself is a plain error; each subclass means something.
        assert (outcome is Outcome.ERROR) == (cls is errors.ConnectorError), cls


def test_a_value_is_found():
    result = call(AD, lambda: ["hit"], what="search", timeout=1)
    assert (result.outcome, result.value, result.ok) == (Outcome.FOUND, ["hit"], True)
    assert result.unwrap() == ["hit"]


def test_a_connector_bug_is_an_error_named_by_class_and_logged_without_its_message(caplog):
    def bug():
        raise KeyError("jane" + ".doe@example.test")  # the stack shows code, not values

    with caplog.at_level(logging.ERROR):
        result = call(AD, bug, what="search", timeout=1)
    assert (result.outcome, result.message) == (Outcome.ERROR, "internal error (KeyError)")
    assert "jane.doe" not in caplog.text


def test_the_deadline_holds_when_a_system_hangs():
    release = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        result = call(AD, lambda: release.wait(5), what="search", timeout=0.2, pool=pool)
        assert (result.outcome, result.message) == (Outcome.TIMED_OUT, "no answer in time")
        assert result.seconds < 2
    finally:
        release.set()
        pool.shutdown(wait=True)


def test_silent_and_answered_outcomes():
    assert {o for o in Outcome if o.answered} == {Outcome.FOUND, Outcome.NOT_FOUND}
    assert {o for o in Outcome if not o.answered and not o.silent} == {Outcome.SKIPPED}
