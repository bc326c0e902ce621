"""An erasure through the MIM Service connector, end to end in the domain (request,
approve, run, verify), and the look for its Requests again once RetentionPeriod has
passed: over pywinrm against the loopback WS-Management stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.workflow.requests import Status
from connectors._shared.powershell import WinRmSettings
from connectors.base import IdKind, Query, QueryKind
from connectors.mimservice.connector import MimServiceConnector, MimServiceSettings
from demo.mimservice_fixture import MimServiceFixture
from demo.wsman_stub import BASIC_USER, WsmanStub
from tests.support.clock import Clock
from tests.workflow.test_erasure import APPROVER, REQUESTER, make_world


@pytest.fixture
def stub() -> Iterator[WsmanStub]:
    with WsmanStub() as s:
        yield s


def test_an_erasure_deletes_the_person_and_looks_for_the_requests_after_retention(engine, stub):
    clock = Clock()
    mim = MimServiceFixture(retention_days=7, clock=clock)
    guid = mim.add_person(
        AccountName="ms-kim", DisplayName="Kim Service", Email="kim@example.test",
        EmployeeID="770001",
    )  # fmt: skip
    mim.add_request(guid, age_days=2)
    mim.install(stub)
    settings = WinRmSettings(
        stub.https_endpoint, *BASIC_USER, "basic", ca_file=Path(stub.ca_file),
        operation_timeout=1, read_timeout=3,
    )  # fmt: skip
    connector = MimServiceConnector(MimServiceSettings(winrm=settings), clock=clock)
    w = make_world(engine, connector, clock=clock)  # one clock for the bot and the service
    try:
        request = w.erasure.request(Query(QueryKind.NAME, "ms-kim"), actor=REQUESTER, reason=None)
        ((step),) = request.steps
        assert (step.system, step.plan.ref.id) == ("mimservice", guid)
        w.decisions.approve(request.id, actor=APPROVER)  # runs the step and verifies, inline
        done = w.store.get(request.id)
        assert done.status is Status.COMPLETED_WITH_RESIDUALS, done.report
        assert guid not in mim.persons
        (residual,) = [r for r in done.residuals if "Request" in r.description]
        assert residual.expires is not None
        (check,) = w.store.residuals.of(request.id)
        assert (check.system, check.kind, check.ref) == ("mimservice", IdKind.MIM_OBJECT_ID, guid)
        # After the retention date the Requests are still there (the job has not run).
        clock.now = check.due_at + timedelta(hours=1)
        w.residuals.reverify_residuals(owner="checker")
        assert "still there" in w.notifier.of("thread")[-1]
        assert w.store.residuals.of(request.id)  # looked for again tomorrow
        # The retention job ran: nothing targets the deleted ObjectID any more.
        mim.requests = [r for r in mim.requests if r["Target"] != guid]
        clock.now += timedelta(days=1, hours=1)
        w.residuals.reverify_residuals(owner="checker")
        assert "are gone" in w.notifier.of("thread")[-1]
        assert w.store.residuals.of(request.id) == []
    finally:
        connector.close()
