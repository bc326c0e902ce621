"""A retention sweep on the demo estate, as a requester runs it: the HR leavers two years
past their end date are proposed, the one on hold in HR's column is kept out and says so,
as are people held with /mim hold, listed in app.yaml, or with a request already open; a
candidate who resolves to several people is listed, never proposed; a rule whose system
fails is reported and hides no other; the sweep is audited."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.errors import MimbotError
from bot.permissions.roles import Actor, Role
from bot.workflow.sweeps import MemberState, SweepService
from connectors.base import IdKind, ObjectRef
from connectors.errors import Unreachable
from connectors.memory import MemoryConnector
from connectors.sweeps import Candidate, HoldQuery, Population, StaleRule
from tests.support.demo_bot import DemoBot

ADMIN, APPROVER = "UDEMOADMIN", "UDEMOAPPROVER"
ACTOR = Actor(ADMIN, frozenset({Role.REQUESTER, Role.ADMIN}))


def states(sweep) -> dict[str, tuple[MemberState, str]]:
    """By first name: a held candidate keeps its own system's label ("… (account)")."""
    return {m.label.split()[0]: (m.state, m.note) for m in sweep.members}


def test_the_demos_leavers_are_proposed_and_the_held_one_kept_out(bot):
    answer = bot.run(ADMIN, "sweep")
    assert "Retention sweep: 2 person(s) due for erasure." in answer
    assert "leavers (hr, ended, older than 730 days): 3 found" in answer
    bot.run(APPROVER, "reject BATCH-2026-0001 judged again below")  # frees its people
    sweep = bot.services.sweeps.sweep(actor=ACTOR)
    assert states(sweep) == {
        "Harriet": (MemberState.PROPOSED, ""),
        "Obi": (MemberState.PROPOSED, ""),
        "Mireille": (MemberState.HELD, "on hold in HR"),
    }
    assert bot.services.requests.runnable() == []  # no erasure before a batch's approval
    (event, *_) = [e for e in bot.services.audit.events() if e.action == "retention_sweep"][1:]
    assert event.detail["states"]["proposed"] == 2 and event.detail["states"]["held"] == 1
    assert len(event.detail["shown"]) == 2  # the resolved people's audit keys


def test_holds_placed_listed_and_open_requests_keep_people_out(bot):
    bot.run(APPROVER, "hold 900001 litigation 2026-051")  # Harriet Wright, by employee ID
    bot.run(ADMIN, "delete 900002 left in 2022")  # Obi Okaya: a request opens
    sweep = bot.services.sweeps.sweep(actor=ACTOR)
    found = states(sweep)
    assert found["Harriet"] == (MemberState.HELD, "held with /mim hold")
    state, note = found["Obi"]
    assert state is MemberState.OPEN and note.startswith("REQ-2026-")
    listed = _service(bot, listed_holds=("lv-okaya",))
    assert states(listed.sweep(actor=ACTOR))["Obi"] == (
        MemberState.HELD, "listed in retention.holds",
    )  # fmt: skip


class Stale(MemoryConnector):
    populations = frozenset({Population.DISABLED})

    def __init__(self, candidates, *, fail: Exception | None = None):
        super().__init__("stale", "Stale directory")
        self.candidates, self.error = candidates, fail

    def stale(self, rule, *, now, timeout):
        if self.error is not None:
            raise self.error
        yield from self.candidates


def _service(bot: DemoBot, *, extra=(), rules=None, listed_holds=()) -> SweepService:
    s = bot.services
    base = s.sweeps
    assert base is not None
    return SweepService(
        connectors=[*s.connectors, *extra],
        rules=rules if rules is not None else base.rules,
        hold_query=base.hold_query,
        listed_holds=listed_holds,
        holds=s.holds,
        search=s.search,
        store=s.requests,
        keyer=s.keyer,
        audit=s.audit,
        clock=s.requests.clock,
    )


def test_a_candidate_who_resolves_to_several_people_is_listed_never_proposed(bot):
    # Several people of the demo are Schmidts: a surname alone names none of them.
    namesake = Candidate(ObjectRef("stale", "x1"), {IdKind.ACCOUNT: "Schmidt"}, "Schmidt")
    rule = StaleRule("disabled", "stale", Population.DISABLED, timedelta(days=90))
    service = _service(bot, extra=[Stale([namesake])], rules=[rule])
    (member,) = service.sweep(actor=ACTOR).members
    assert member.state is MemberState.AMBIGUOUS


def test_a_failing_rule_is_reported_and_hides_no_other(bot):
    failing = StaleRule("disabled", "stale", Population.DISABLED, timedelta(days=90))
    service = _service(
        bot,
        extra=[Stale([], fail=Unreachable("no route"))],
        rules=[failing, *bot.services.sweeps.rules],
    )
    sweep = service.sweep(actor=ACTOR)
    outcomes = {o.rule.name: o for o in sweep.rules}
    assert outcomes["disabled"].error == "Unreachable: no route"
    assert outcomes["leavers"].found == 3
    assert len(sweep.of(MemberState.PROPOSED)) == 2


def test_holds_that_cannot_be_read_propose_nobody(bot):
    class BrokenHolds(Stale):
        def on_hold(self, query, *, timeout):
            raise Unreachable("no route")

    service = _service(bot, extra=[BrokenHolds([])])
    service.hold_query = replace(service.hold_query)  # the demo's: HR's legal_hold column
    assert isinstance(service.hold_query, HoldQuery)
    with pytest.raises(MimbotError, match=r"could not be read .* so nobody is proposed"):
        service.sweep(actor=ACTOR)


def test_sweep_names_one_rule_or_none(bot):
    assert "No retention rule is named that. The rules: leavers." in bot.run(ADMIN, "sweep x")
    assert "Name one rule, or none for all." in bot.run(ADMIN, "sweep a b")
    assert "needs the requester role" in bot.run("UDEMOVIEW", "sweep")
