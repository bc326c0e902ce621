"""End to end: signed HTTP requests into the running Bolt app; Slack's Web API is a loopback stub.

Real here: Bolt's request verification and dispatch, slack_sdk's WebClient and
response_url client, our HTTP server, the AD connector against Samba, the
audit store. Stood in: Slack itself (tests/support/slack_stub.py).
"""

import json
import socket
import threading
import time

import pytest

from bot.app import create_app
from bot.config import parse_config
from bot.server import SlackHttpServer
from tests.support.samba import TestUser, seed_users
from tests.support.slack_requests import SlackRequestFactory, post
from tests.support.slack_stub import MockSlack

pytestmark = pytest.mark.samba

SECRET = "e2e-signing-secret"
ENV = {"BOT": "xoxb-e2e", "SIGN": SECRET, "KEY": "e2e-subject-key-0123456789", "ADPW": ""}


@pytest.fixture(scope="module")
def seeded(samba):
    conn = samba.admin()
    seed_users(
        conn,
        samba.base_dn,
        [
            TestUser("st-jdoe", "Jane", "Doe-Slack", "8001"),
            TestUser("st-amelie", "Amélie", "D'Arcy", "8002"),
        ],
        ou="SlackTests",
    )
    conn.unbind()
    return samba


@pytest.fixture
def stub():
    mock = MockSlack(usergroups={"SIAM": ["UGROUPIE"]}).start()
    yield mock
    mock.stop()


def make_bot(tmp_path, stub, samba, *, ad_url=None, timeout=2.0):
    env = dict(ENV, ADPW=samba.password)
    raw = {
        "slack": {"bot_token": "${BOT}", "signing_secret": "${SIGN}", "api_url": stub.api_url},
        "roles": {"viewer": {"users": ["UVIEW"], "usergroups": ["SIAM"]}},
        "search": {"timeout_seconds": timeout},
        "audit": {"url": f"sqlite:///{tmp_path / 'audit.db'}", "subject_key": "${KEY}"},
        "connectors": {
            "ad": {
                "url": ad_url or samba.uri,
                "bind_dn": samba.bind_user,
                "password": "${ADPW}",
                "base_dn": samba.base_dn,
                "ca_file": samba.ca_file,
                "timeout_seconds": timeout,
            }
        },
    }
    config = parse_config(raw, environ=env)
    app, services = create_app(config)
    server = SlackHttpServer(app, host="127.0.0.1", port=0).start()
    return server, services


@pytest.fixture
def bot(tmp_path, stub, seeded):
    server, services = make_bot(tmp_path, stub, seeded)
    yield server, services
    server.stop()
    services.close()


def slash(server, stub, text, user="UVIEW", *, secret=SECRET, timestamp=None, name="r1"):
    factory = SlackRequestFactory(secret)
    body = factory.slash_command("/mim", text, user, "C0PUBLIC", stub.response_url(name))
    return post(server.url, body, factory.headers(body, timestamp=timestamp))


def answer(stub, name="r1", timeout=5.0):
    (rec,) = stub.wait_for(f"/response_url/{name}", timeout=timeout)
    return rec.body


def test_find_answers_privately_with_the_ad_hits(bot, stub):
    server, services = bot
    status, _, seconds = slash(server, stub, "find user st-jdoe")
    assert status == 200 and seconds < 3
    body = answer(stub)
    assert body["response_type"] == "ephemeral"
    blocks = json.dumps(body["blocks"], ensure_ascii=False)
    assert "Jane Doe-Slack (st-jdoe)" in blocks
    assert "OU=SlackTests" in blocks
    assert "Active Directory: found 1" in body["text"]
    assert stub.calls("chat.postMessage") == []  # never posted in a channel
    (event,) = services.audit.events()
    assert (event.actor, event.action, event.outcome) == ("UVIEW", "find", "ok")
    assert event.detail["systems"]["ad"] == {"outcome": "found", "hits": 1}


def test_non_ascii_prefix_search(bot, stub):
    server, _ = bot
    slash(server, stub, "find user Amé*")
    assert "Amélie D'Arcy (st-amelie)" in json.dumps(answer(stub)["blocks"], ensure_ascii=False)


def test_usergroup_member_is_allowed(bot, stub):
    server, _ = bot
    slash(server, stub, "find user st-jdoe", user="UGROUPIE")
    assert "st-jdoe" in json.dumps(answer(stub)["blocks"])
    assert len(stub.calls("usergroups.users.list")) == 1


def test_user_without_the_role_is_refused(bot, stub):
    server, services = bot
    status, _, _ = slash(server, stub, "find user st-jdoe", user="USTRANGER")
    assert status == 200
    body = answer(stub)
    assert body["response_type"] == "ephemeral"
    assert "needs the" in body["text"] and "viewer" in body["text"]
    assert "st-jdoe" not in json.dumps(body)
    (event,) = services.audit.events()
    assert (event.actor, event.outcome) == ("USTRANGER", "denied")


def test_usage_error_is_short_and_private(bot, stub):
    server, _ = bot
    slash(server, stub, "find user *")
    body = answer(stub)
    assert body["response_type"] == "ephemeral"
    assert "A prefix needs at least 2 characters." in body["text"]


def test_bad_signature_is_rejected(bot, stub):
    server, _ = bot
    status, _, _ = slash(server, stub, "find user st-jdoe", secret="not-the-secret")
    assert status == 401
    time.sleep(0.2)
    assert stub.calls("/response_url/r1") == []


def test_stale_timestamp_is_rejected(bot, stub):
    server, _ = bot
    status, _, _ = slash(server, stub, "find user st-jdoe", timestamp=int(time.time()) - 600)
    assert status == 401


def test_ad_down_is_reported_within_the_ack_deadline(tmp_path, stub, seeded):
    server, services = make_bot(tmp_path, stub, seeded, ad_url="ldaps://127.0.0.1:1")
    try:
        t0 = time.monotonic()
        status, _, _ = slash(server, stub, "find user st-jdoe")
        body = answer(stub, timeout=3)
        elapsed = time.monotonic() - t0
    finally:
        server.stop()
        services.close()
    assert status == 200
    assert elapsed < 3
    assert "Active Directory: :warning: unreachable" in body["text"]


def test_hanging_ad_is_reported_as_timed_out_within_the_ack_deadline(tmp_path, stub, seeded):
    # A listener that accepts TCP and never answers: TLS handshake hangs.
    sink = socket.socket()
    sink.bind(("127.0.0.1", 0))
    sink.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        sink.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(sink.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = sink.getsockname()[1]
    server, services = make_bot(
        tmp_path, stub, seeded, ad_url=f"ldaps://127.0.0.1:{port}", timeout=1.0
    )
    try:
        t0 = time.monotonic()
        slash(server, stub, "find user st-jdoe")
        body = answer(stub, timeout=3)
        elapsed = time.monotonic() - t0
    finally:
        server.stop()
        services.close()
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        sink.close()
    assert elapsed < 3
    assert "Active Directory: :hourglass: timed out" in body["text"]
