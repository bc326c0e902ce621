"""HTTP serving under load and abuse (bot/frontends/http_server.py, slack_app.py): bursts,
stalled uploads, malformed and replayed requests, a frozen audit store, health and
readiness, and what reaches the log. Loopback only; the bot runs on in-memory
connectors and the Slack Web API stub."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import logging
import select
import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.config import parse_config
from bot.frontends.http_server import SlackHttpServer
from bot.frontends.slack_app import create_app, slack_client, usergroup_lookup
from bot.frontends.slack_notifier import SlackNotifier
from bot.logs import LibraryRedactor
from bot.services import Services, build_services
from connectors.base import IdKind
from connectors.memory import MemoryConnector, Person
from tests.support.postgres import frozen
from tests.support.slack_requests import SlackRequestFactory, post
from tests.support.slack_stub import MockSlack

SECRET = "serving-signing-secret"
ENV = {
    "BOT": "xoxb-serving",
    "SIGN": SECRET,
    "KEY": "serving-subject-key-0123456789",
    "CHAIN": "serving-chain-key-0123456789-0123456789",
}
# Values that must never reach a log line, whatever the request.
TERM = "zz-sought-person"
USER_NAME = "zz-caller-name"


def people(n: int) -> list[Person]:
    return [
        Person(f"g{i}", {IdKind.ACCOUNT: f"p{i}", IdKind.DISPLAY_NAME: f"Person {i}"})
        for i in range(n)
    ]


@dataclass
class Served:
    server: SlackHttpServer
    services: Services
    stub: MockSlack
    factory: SlackRequestFactory

    def command(self, text: str, name: str, user: str = "UVIEW") -> tuple[int, str, float]:
        body = self.factory.slash_command(
            "/mim", text, user, "C0PUBLIC", self.stub.response_url(name), user_name=USER_NAME
        )
        return post(self.server.url, body, self.factory.headers(body))

    def answers(self, name: str, timeout: float = 10.0) -> list[Any]:
        return [r.body for r in self.stub.wait_for(f"/response_url/{name}", timeout=timeout)]

    def get(self, path: str) -> tuple[int, bytes]:
        url = self.server.url.rsplit("/slack/events", 1)[0] + path
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def serve(
    tmp_path: Path,
    stub: MockSlack,
    *,
    audit_url: str | None = None,
    audit_timeout: float = 5.0,
    **slack: Any,
):
    raw = {
        "slack": {
            "bot_token": "${BOT}", "signing_secret": "${SIGN}", "api_url": stub.api_url,
            "approvals_channel": "CAPPROVALS", **slack,
        },
        "roles": {"viewer": {"users": ["UVIEW"]}, "requester": {"users": ["UREQ"]}},
        "search": {"timeout_seconds": 2.0},
        "audit": {
            "url": audit_url or f"sqlite:///{tmp_path / 'audit.db'}",
            "subject_key": "${KEY}",
            "chain_key": "${CHAIN}",
            "timeout_seconds": audit_timeout,
        },
    }  # fmt: skip
    config = parse_config(raw, environ=ENV)
    client = slack_client(config)
    services = build_services(
        config,
        connectors=[MemoryConnector("ad", "AD", people(300))],
        usergroup_members=usergroup_lookup(client),
        notifier=SlackNotifier(client, approvals_channel="CAPPROVALS", notifications_channel=None),
        background=True,
    )
    app, _ = create_app(config, services=services, client=client)
    server = SlackHttpServer(
        app, host="127.0.0.1", port=0, http=config.slack.http, ready=services.readiness
    ).start()
    return Served(server, services, stub, SlackRequestFactory(SECRET))


@pytest.fixture
def stub():
    mock = MockSlack().start()
    yield mock
    mock.stop()


@pytest.fixture
def bot(tmp_path, stub):
    served = serve(tmp_path, stub)
    yield served
    served.server.stop()
    served.services.close()


def test_a_burst_of_200_commands_is_acked_within_3_seconds_and_all_answered(bot):
    def one(i: int) -> tuple[int, float]:
        status, _, seconds = bot.command(f"find user p{i}", f"b{i}")
        return status, seconds

    with ThreadPoolExecutor(max_workers=200) as pool:
        acks = list(pool.map(one, range(200)))
    assert [status for status, _ in acks] == [200] * 200
    assert max(seconds for _, seconds in acks) < 3.0
    for i in range(200):
        (answer,) = bot.answers(f"b{i}", timeout=60)
        assert f"Person {i}" in str(answer) and answer["response_type"] == "ephemeral"


def test_500_stalled_uploads_do_not_stop_commands_being_acked(bot):
    host, port = "127.0.0.1", bot.server.port
    stalled = []
    try:
        for _ in range(500):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(
                b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n\r\ncommand=%2Fmim"
            )
            stalled.append(s)
        for i in range(10):
            status, _, seconds = bot.command("help", f"h{i}")
            assert (status, seconds < 3.0) == (200, True)
        assert all(bot.answers(f"h{i}") for i in range(10))
    finally:
        for s in stalled:
            s.close()


def test_a_replayed_signed_request_runs_once(bot):
    body = bot.factory.slash_command(
        "/mim", "find user p7", "UVIEW", "C0PUBLIC", bot.stub.response_url("again")
    )
    headers = bot.factory.headers(body)
    assert post(bot.server.url, body, headers)[0] == 200
    assert post(bot.server.url, body, headers)[0] == 200
    assert len(bot.answers("again")) == 1
    time.sleep(0.5)  # a second run would answer by now
    assert len(bot.stub.calls("/response_url/again")) == 1
    assert len([e for e in bot.services.audit.events() if e.action == "find"]) == 1


def raw_request(port: int, data: bytes) -> tuple[int, bytes]:
    """Send `data` as is; the status the server answered with (0: none)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    reply = b""
    with (
        socket.create_connection(("127.0.0.1", int(port)), timeout=10) as s,
        contextlib.suppress(OSError),
    ):
        s.sendall(head + sep)
        # A server that refuses on the headers answers before the body is sent.
        if not select.select([s], [], [], 0.5)[0]:
            s.sendall(body)
            s.shutdown(socket.SHUT_WR)
        while chunk := s.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    return status, reply


def signed(body: bytes, *, timestamp: int | None = None) -> bytes:
    """Slack's signature headers over raw bytes (valid even when they are not UTF-8)."""
    ts = str(int(time.time()) if timestamp is None else timestamp).encode()
    digest = hmac.new(SECRET.encode(), b"v0:" + ts + b":" + body, hashlib.sha256).hexdigest()
    return (
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + b"X-Slack-Request-Timestamp: " + ts + b"\r\n"
        + b"X-Slack-Signature: v0=" + digest.encode() + b"\r\n"
    )  # fmt: skip


def command_body() -> bytes:
    factory = SlackRequestFactory(SECRET)
    return factory.slash_command(
        "/mim", f"find user {TERM}", "UVIEW", "C0PUBLIC", "http://127.0.0.1:9/response_url/zz",
        user_name=USER_NAME,
    ).encode()  # fmt: skip


def hostile_corpus() -> dict[str, bytes]:
    body = command_body()
    head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\n"
    big = b"text=" + b"a" * (10 << 20)
    return {
        "negative length, 10 MB": head + b"Content-Length: -1\r\n\r\n" + big,
        "length not a number": head + b"Content-Length: abc\r\n\r\n" + body,
        "over the body limit": head + f"Content-Length: {len(big)}\r\n\r\n".encode() + big,
        "invalid UTF-8": head
        + signed(b"text=\xff\xfe")
        + b"Content-Length: 7\r\n\r\ntext=\xff\xfe",
        "payload not JSON": head
        + signed(b"payload=%7Bnot-json")
        + b"Content-Length: 17\r\n\r\npayload=%7Bnot-json",
        "late, validly signed": head
        + signed(body, timestamp=int(time.time()) - 3600)
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
        "no signature": head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body,
        "wrong path": b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "GET on the Slack path": b"GET /slack/events HTTP/1.1\r\nHost: x\r\n\r\n",
        "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    }


@pytest.fixture
def log_text():
    """The log as the README's recommended setup writes it (INFO, libraries redacted)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LibraryRedactor())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # stricter than recommended: nothing personal at any level
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_hostile_requests_get_4xx_no_traceback_and_nothing_personal_in_the_log(bot, log_text):
    statuses = {}
    for name, data in hostile_corpus().items():
        statuses[name] = raw_request(bot.server.port, data)[0]
    assert all(400 <= s < 500 for s in statuses.values()), statuses
    assert statuses["over the body limit"] == 413
    assert statuses["late, validly signed"] == statuses["no signature"] == 401
    assert bot.command("help", "still")[0] == 200  # the server is fine afterwards
    bot.answers("still")
    text = log_text.getvalue()
    assert "Traceback" not in text
    for seeded in (TERM, USER_NAME, "response_url", "127.0.0.1:9", "aaaaaaaaaa"):
        assert seeded not in text, seeded


def ready(bot: Served) -> tuple[int, bytes]:
    """/readyz once its background probe has answered (the first call starts it)."""
    bot.services.readiness.every = 0.1
    bot.get("/readyz")
    assert bot.services.readiness.wait_probed(10)
    time.sleep(0.3)  # a probe after any change the test made
    return bot.get("/readyz")


def test_health_and_readiness(bot):
    assert bot.get("/healthz") == (200, b"ok")
    status, body = ready(bot)
    assert status == 200 and b'"audit_store": true' in body and b'"ad": true' in body


def test_readiness_names_a_connector_that_is_down(bot):
    (memory,) = bot.services.connectors

    def down(*, timeout: float):
        from connectors.base import Health

        return Health("ad", False, "unreachable")

    memory.health = down  # type: ignore[method-assign]
    status, body = ready(bot)
    assert status == 503 and b'"ad": false' in body and b'"audit_store": true' in body


def test_readiness_never_holds_the_threads_that_ack(bot):
    (memory,) = bot.services.connectors
    release = threading.Event()

    def hung(*, timeout: float):
        release.wait(30)  # a connector that never answers its health check

    memory.health = hung  # type: ignore[method-assign]
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            probes = [pool.submit(bot.get, "/readyz") for _ in range(32)]
            status, _, seconds = bot.command("help", "during")
            assert (status, seconds < 1.0) == (200, True)
            assert all(p.result()[0] in (200, 503) for p in probes)
    finally:
        release.set()


@pytest.mark.postgres
def test_a_frozen_audit_store_gives_refusals_in_time_and_help_still_answers(
    tmp_path, stub, postgres_url
):
    served = serve(tmp_path, stub, audit_url=postgres_url)  # audit.timeout_seconds: 5
    try:
        assert served.command("find user p1", "warm")[0] == 200
        served.answers("warm")
        with frozen(postgres_url):
            t0 = time.monotonic()
            results = []

            def find(i: int) -> None:
                results.append(served.command(f"find user p{i}", f"f{i}")[0])

            threads = [threading.Thread(target=find, args=(i,)) for i in range(40)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert results == [200] * 40  # acked: the inbox write waits at most its budget
            status, _, seconds = served.command("help", "help")
            assert (status, seconds < 3.0) == (200, True)
            assert "mimbot" in str(served.answers("help", timeout=10))
            for i in range(40):  # every one refused within the store's deadline, not hung
                refusal = served.answers(f"f{i}", timeout=15)[0]
                assert "audit store is unavailable" in refusal["text"]
            assert time.monotonic() - t0 < 5 + 3
        # Thawed: the bot works again, with no restart.
        assert served.command("find user p2", "after")[0] == 200
        assert "Person 2" in str(served.answers("after", timeout=15))
    finally:
        served.server.stop()
        served.services.close()


def test_stopping_finishes_every_command_already_acked(tmp_path, stub):
    bot = serve(tmp_path, stub, listener_threads=2)  # most of the burst waits in the queue
    (memory,) = bot.services.connectors
    search = memory.search

    def slow(query, *, timeout):
        time.sleep(0.2)
        return search(query, timeout=timeout)

    memory.search = slow  # type: ignore[method-assign]
    for i in range(12):
        assert bot.command(f"find user p{i}", f"s{i}")[0] == 200
    bot.server.stop()
    bot.services.close()  # what `serve` does on SIGTERM: Slack will not resend these
    for i in range(12):
        assert f"Person {i}" in str(bot.answers(f"s{i}", timeout=1))


def test_a_fault_in_the_inbox_write_still_gets_the_command_answered(bot, monkeypatch):
    from bot.frontends.inbox import Inbox

    def broken(self, new):
        raise RuntimeError("a bug of ours, not the store")

    monkeypatch.setattr(Inbox, "put_many", broken)
    status, _, seconds = bot.command("find user p3", "fault")
    assert (status, seconds < 3.0) == (200, True)
    assert "Person 3" in str(bot.answers("fault", timeout=10))  # answered from memory
