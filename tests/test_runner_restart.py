"""A bot process killed in the middle of a request, and started again, finishes the request.

Real processes (`python -m bot worker`), killed with SIGKILL; the real Samba AD DC;
the request database an SQLite file both processes share; Slack the loopback stub.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
import yaml

from bot.config import parse_config
from bot.requests import Status, StepState
from bot.roles import Actor, Role
from bot.services import build_services
from connectors.base import Query, QueryKind
from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import ENV, bot_config
from tests.test_erasure import Recorder

pytestmark = pytest.mark.samba
ROOT = Path(__file__).parent.parent


def worker(config_path: Path, env: dict[str, str], log: IO[bytes]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config_path), "worker"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


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
    services.erasure.execute = lambda _id: None  # this process only plans and approves
    log = (tmp_path / "workers.log").open("ab")
    first = second = None
    try:
        request = services.erasure.request(
            Query(QueryKind.NAME, "rr-kill"),
            actor=Actor("UREQ", frozenset({Role.REQUESTER})),
            reason=None,
        )
        samba.run("stop")  # the AD step will keep retrying while the first worker lives
        services.erasure.approve(request.id, actor=Actor("UAPP", frozenset({Role.APPROVER})))
        first = worker(config_path, env, log)

        def running_step():
            step = services.requests.get(request.id).steps[0]
            return step.state is StepState.RUNNING and step.attempts == 1

        wait_for(running_step, what="the first worker to claim the step")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        samba.run("start")
        second = worker(config_path, env, log)
        done = wait_for(
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
