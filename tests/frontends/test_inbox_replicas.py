"""No acked command lost when a process dies (bot/frontends/inbox.py): real `serve` and
`worker` processes (tests/support/replica.py, the code `python -m bot` runs) on one
SQLite store, killed with SIGKILL after they acked. Each command's response_url is its
own, so "answered once" is counted at the Slack stub."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from bot.audit.schema import audit_events
from bot.workflow.schema import inbox
from tests.support.paths import REPO
from tests.support.ports import closed_port
from tests.support.slack_requests import SlackRequestFactory, post
from tests.support.slack_stub import MockSlack
from tests.support.waiting import wait_until

SECRET = "replica-signing-secret"
ENV = {
    "BOT": "xoxb-replica",
    "SIGN": SECRET,
    "KEY": "replica-subject-key-0123456789",
    "CHAIN": "replica-chain-key-0123456789-0123456789",
}
HUNG = 60.0  # a directory that answers after the test is over
LEASE = 3.0


class Replicas:
    def __init__(self, tmp: Path, stub: MockSlack) -> None:
        self.tmp, self.stub = tmp, stub
        self.db = tmp / "bot.db"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.factory = SlackRequestFactory(SECRET)

    def config(self, port: int, **inbox: object) -> Path:
        raw = {
            "slack": {
                "bot_token": "${BOT}", "signing_secret": "${SIGN}", "api_url": self.stub.api_url,
                "port": port, "listener_threads": 8,
                "inbox": {"lease_seconds": LEASE, "unclaimed_seconds": 1, "poll_seconds": 0.2,
                          **inbox},
            },
            "roles": {"viewer": {"users": ["UVIEW"]}},
            "search": {"timeout_seconds": HUNG - 1},  # the hung search is not cut short
            "runner": {"poll_seconds": 0.5},
            "audit": {"url": f"sqlite:///{self.db}", "subject_key": "${KEY}",
                      "chain_key": "${CHAIN}"},
        }  # fmt: skip
        path = self.tmp / f"app-{port}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    def start(self, role: str, config: Path, port: int | None, delay: float = 0.0):
        with open(self.tmp / f"{role}-{len(self.processes)}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.replica", role, str(config),
                 "--delay", str(delay)],
                cwd=REPO, env={**os.environ, **ENV}, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.processes.append(process)
        if port is not None:
            wait_until(lambda: self._healthy(port), timeout=60, what=f"{role} on {port}")
        return process

    def send(self, port: int, names: list[str]) -> list[int]:
        def one(name: str) -> int:
            body = self.factory.slash_command(
                "/mim", f"find user p{name[1:]}", "UVIEW", "C0", self.stub.response_url(name)
            )
            url = f"http://127.0.0.1:{port}/slack/events"
            return post(url, body, self.factory.headers(body), timeout=10)[0]

        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            return list(pool.map(one, names))

    def answers(self, name: str) -> list[object]:
        return [r.body for r in self.stub.calls(f"/response_url/{name}")]

    def rows(self, table: sa.Table, *where: object) -> int:
        engine = sa.create_engine(f"sqlite:///{self.db}")
        try:
            with engine.connect() as conn:
                query = sa.select(sa.func.count()).select_from(table).where(*where)
                return int(conn.execute(query).scalar_one())
        finally:
            engine.dispose()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    @staticmethod
    def _healthy(port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    stub = MockSlack().start()
    group = Replicas(tmp_path, stub)
    try:
        yield group
    finally:
        group.stop()
        stub.stop()


def answered_once_each(replicas: Replicas, names: list[str], person: str = "Person") -> None:
    for name in names:
        wait_until(lambda name=name: replicas.answers(name), timeout=30, what=f"{name}'s answer")
    # Long enough for a second answer to come, were any lease taken twice.
    wait_until(lambda: replicas.rows(inbox) == 0, timeout=30, what="an empty inbox")
    for name in names:
        (answer,) = replicas.answers(name)
        assert f"{person} {name[1:]}" in str(answer), answer


@pytest.mark.parametrize("by", ["the other replica", "the restarted replica"])
def test_commands_acked_by_a_killed_replica_are_all_answered_once(replicas, by):
    port_a, port_b = closed_port(), closed_port()
    hung = replicas.start("serve", replicas.config(port_a), port_a, delay=HUNG)
    if by == "the other replica":
        replicas.start("serve", replicas.config(port_b), port_b)
    names = [f"k{i}" for i in range(50)]
    assert replicas.send(port_a, names) == [200] * 50
    hung.kill()  # SIGKILL: no drain, no goodbye; every command is in its search
    hung.wait()
    assert not any(replicas.answers(n) for n in names)  # the dead one answered none
    if by == "the restarted replica":
        replicas.start("serve", replicas.config(port_a), port_a)
    answered_once_each(replicas, names)
    assert replicas.rows(audit_events, audit_events.c.action == "find") == 50


def test_a_worker_killed_mid_answer_leaves_the_command_to_another(replicas):
    port = closed_port()
    # serve only acks, and takes over only what lapsed: the worker answers.
    config = replicas.config(port, answer_in_serve=False, unclaimed_seconds=600)
    replicas.start("serve", config, port)
    hung = replicas.start("worker", config, None, delay=HUNG)
    names = [f"w{i}" for i in range(8)]  # one per listener thread: all claimed at once
    assert replicas.send(port, names) == [200] * 8
    wait_until(
        lambda: replicas.rows(inbox, inbox.c.lease_owner.is_not(None)) == 8,
        timeout=30, what="the worker claiming all eight",
    )  # fmt: skip
    hung.kill()
    hung.wait()
    replicas.start("worker", config, None)
    answered_once_each(replicas, names)
    assert replicas.rows(audit_events, audit_events.c.action == "find") == 8
