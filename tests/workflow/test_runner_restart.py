"""A bot process killed in the middle of a request, and started again, finishes the request.

Real processes (`python -m bot worker`), killed with SIGKILL; the real Samba AD DC;
the request database an SQLite file both processes share; Slack the loopback stub.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest
import sqlalchemy as sa
import yaml

from bot.config import parse_config
from bot.permissions.roles import Actor, Role
from bot.services import build_services
from bot.workflow.requests import Status, StepState
from connectors.base import Query, QueryKind
from tests.support.paths import REPO as ROOT
from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import ENV, bot_config
from tests.support.waiting import wait_until
from tests.workflow.test_erasure import Recorder

pytestmark = pytest.mark.samba


def worker(config_path: Path, env: dict[str, str], log: IO[bytes]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config_path), "worker"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_killed_worker_is_taken_over_and_the_request_completes(tmp_path, samba):
    conn = samba.admin()
    seed_users(
        conn,
        samba.base_dn,
        [TestUser("rr-kill", "Kim", "Killed-Midway", "9900")],
        ou="RestartTests",
    )
    conn.unbind()
    stub = MockSlack().start()
    raw = bot_config(
        tmp_path,
        stub,
        samba,
        runner__attempts=20,
        runner__backoff_seconds=0.2,
        runner__lease_seconds=2,
        runner__poll_seconds=0.3,
        connectors__ad__timeout_seconds=1.0,
    )
    config_path = tmp_path / "app.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    env = {**ENV, "ADPW": samba.password}
    config = parse_config(raw, environ=env)
    services = build_services(config, notifier=Recorder())
    services.decisions.execute = lambda _id: None  # this process only plans and approves
    log = (tmp_path / "workers.log").open("ab")
    first = second = None
    try:
        request = services.erasure.request(
            Query(QueryKind.NAME, "rr-kill"),
            actor=Actor("UREQ", frozenset({Role.REQUESTER})),
            reason=None,
        )
        samba.run("stop")  # the AD step will keep retrying while the first worker lives
        services.decisions.approve(request.id, actor=Actor("UAPP", frozenset({Role.APPROVER})))
        first = worker(config_path, env, log)

        def running_step():
            # The claim and its audited start are two commits: wait for both, so the
            # kill lands inside the AD call, not between them.
            step = services.requests.get(request.id).steps[0]
            started = any(
                e.action == "step_start" for e in services.audit.events(request_id=request.id)
            )
            return step.state is StepState.RUNNING and step.attempts == 1 and started

        wait_until(running_step, what="the first worker to start the step")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        samba.run("start")
        second = worker(config_path, env, log)
        done = wait_until(
            lambda: (r := services.requests.get(request.id)).status
            in (Status.COMPLETED, Status.COMPLETED_WITH_RESIDUALS)
            and r,
            timeout=60,
            what="the second worker to finish the request",
        )
        ad = next(c for c in services.connectors if c.name == "ad")
        assert ad.search(Query(QueryKind.NAME, "rr-kill"), timeout=2) == []
        (step,) = done.steps
        assert (step.state, step.attempts) == (StepState.DONE, 2)
        starts = [
            e for e in services.audit.events(request_id=request.id) if e.action == "step_start"
        ]
        assert len({e.actor for e in starts}) == 2  # two processes, one step
        ends = [e for e in services.audit.events(request_id=request.id) if e.action == "step_end"]
        assert len(ends) == 1  # the killed process never recorded an end
        assert services.audit.verify().ok
        assert any(
            f"Erasure {request.id} completed" in r.body.get("text", "")
            for r in stub.calls("chat.postMessage")
        )
    finally:
        for proc in (first, second):
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)
        if not _running(samba):
            samba.run("start")
        services.close()
        stub.stop()
        log.close()


def _running(samba) -> bool:
    try:
        samba.run("status")
    except subprocess.CalledProcessError:
        return False
    return True


def test_restart_while_waiting_for_the_deletion_rule_does_not_repeat_done_steps(tmp_path, samba):
    """AD erased, the metaverse wait in progress, the process killed; the sync engine's
    deletion rule then runs; a new process finishes without touching AD again."""
    from bot.workflow.requests import StepState
    from demo import sample_sync

    person = sample_sync.person(10)  # kschmidt10, joined to HR, AD, MIM Service, BHOLD
    conn = samba.admin()
    seed_users(conn, samba.base_dn, [TestUser(person.account, person.first, person.last,
                                              person.employee_id, person.mail)],
               ou="RestartTests2")  # fmt: skip
    conn.unbind()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    sample_sync.load(engine, 12)
    config_dir = sample_sync.write_config_dir(tmp_path / "sync-config")
    stub = MockSlack().start()
    raw = bot_config(tmp_path, stub, samba, runner__lease_seconds=2, runner__poll_seconds=0.3,
                     connectors__mimsync={"url": str(engine.url),
                                          "server_config_dir": str(config_dir)})  # fmt: skip
    config_path = tmp_path / "app.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    env = {**ENV, "ADPW": samba.password}
    services = build_services(parse_config(raw, environ=env), notifier=Recorder())
    services.decisions.execute = lambda _id: None  # this process only plans, approves, clicks
    log = (tmp_path / "workers.log").open("ab")
    first = second = None
    try:
        requester = Actor("UREQ", frozenset({Role.REQUESTER}))
        request = services.erasure.request(
            Query(QueryKind.NAME, person.account), actor=requester, reason=None
        )
        systems = [(s.system, s.action.value) for s in request.steps]
        assert systems[-1] == ("mimsync", "wait") and ("ad", "delete") in systems
        services.decisions.approve(request.id, actor=Actor("UAPP", frozenset({Role.APPROVER})))
        for step in request.steps:
            if step.manual:  # erased by hand in HR and BHOLD
                services.decisions.step_done(request.id, step.seq, actor=requester)
        first = worker(config_path, env, log)
        ad_seq = next(s.seq for s in request.steps if s.system == "ad")
        wait_seq = request.steps[-1].seq

        def waiting():
            steps = {s.seq: s for s in services.requests.get(request.id).steps}
            return steps[ad_seq].state is StepState.DONE and steps[wait_seq].detail == (
                "waiting for the metaverse deletion rule"
            )

        wait_until(waiting, what="AD erased and the metaverse wait begun")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        sample_sync.delete_person(engine, person)  # the sync engine's deletion rule runs
        second = worker(config_path, env, log)
        done = wait_until(
            lambda: (r := services.requests.get(request.id)).status in (
                Status.COMPLETED, Status.COMPLETED_WITH_RESIDUALS) and r,
            timeout=60, what="the second worker to finish the request",
        )  # fmt: skip
        steps = {s.seq: s for s in done.steps}
        assert steps[ad_seq].attempts == 1  # AD was not erased twice
        starts = [e.detail["seq"] for e in services.audit.events(request_id=request.id)
                  if e.action == "step_start"]  # fmt: skip
        assert starts.count(ad_seq) == 1
        assert done.report.systems["mimsync"].absent is True
        assert done.report.systems["ad"].absent is True
    finally:
        for proc in (first, second):
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)
        services.close()
        engine.dispose()
        stub.stop()
        log.close()
