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
import sqlalchemy as sa

from tests.support.samba import TestUser, seed_users
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import start_bot

pytestmark = pytest.mark.samba


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


@pytest.fixture
def bot(tmp_path, stub, seeded):
    b = start_bot(tmp_path, stub, seeded)
    yield b
    b.stop()


def slash(bot, stub, text, user="UVIEW", **kwargs):
    return bot.slash(text, user, **kwargs)


def answer(stub, name="r1", timeout=5.0):
    (rec,) = stub.wait_for(f"/response_url/{name}", timeout=timeout)
    return rec.body


def test_find_answers_privately_with_the_ad_hits(bot, stub):
    server = bot
    services = bot.services
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
    server = bot
    slash(server, stub, "find user Amé*")
    assert "Amélie D'Arcy (st-amelie)" in json.dumps(answer(stub)["blocks"], ensure_ascii=False)


def test_usergroup_member_is_allowed(bot, stub):
    server = bot
    slash(server, stub, "find user st-jdoe", user="UGROUPIE")
    assert "st-jdoe" in json.dumps(answer(stub)["blocks"])
    assert len(stub.calls("usergroups.users.list")) == 1


def test_user_without_the_role_is_refused(bot, stub):
    server = bot
    services = bot.services
    status, _, _ = slash(server, stub, "find user st-jdoe", user="USTRANGER")
    assert status == 200
    body = answer(stub)
    assert body["response_type"] == "ephemeral"
    assert "needs the" in body["text"] and "viewer" in body["text"]
    assert "st-jdoe" not in json.dumps(body)
    (event,) = services.audit.events()
    assert (event.actor, event.outcome) == ("USTRANGER", "denied")


def test_usage_error_is_short_and_private(bot, stub):
    server = bot
    slash(server, stub, "find user *")
    body = answer(stub)
    assert body["response_type"] == "ephemeral"
    assert "A prefix needs at least 2 characters." in body["text"]


def test_bad_signature_is_rejected(bot, stub):
    server = bot
    status, _, _ = slash(server, stub, "find user st-jdoe", secret="not-the-secret")
    assert status == 401
    time.sleep(0.2)
    assert stub.calls("/response_url/r1") == []


def test_stale_timestamp_is_rejected(bot, stub):
    server = bot
    status, _, _ = slash(server, stub, "find user st-jdoe", timestamp=int(time.time()) - 600)
    assert status == 401


def test_ad_down_is_reported_within_the_ack_deadline(tmp_path, stub, seeded):
    server = start_bot(tmp_path, stub, seeded, connectors__ad__url="ldaps://127.0.0.1:1")
    try:
        t0 = time.monotonic()
        status, _, _ = slash(server, stub, "find user st-jdoe")
        body = answer(stub, timeout=3)
        elapsed = time.monotonic() - t0
    finally:
        server.stop()
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
    server = start_bot(
        tmp_path,
        stub,
        seeded,
        connectors__ad__url=f"ldaps://127.0.0.1:{port}",
        connectors__ad__timeout_seconds=1.0,
        search__timeout_seconds=1.0,
    )
    try:
        t0 = time.monotonic()
        slash(server, stub, "find user st-jdoe")
        body = answer(stub, timeout=3)
        elapsed = time.monotonic() - t0
    finally:
        server.stop()
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        sink.close()
    assert elapsed < 3
    assert "Active Directory: :hourglass: timed out" in body["text"]


@pytest.fixture
def sync_db(tmp_path):
    """The sample MIM Sync database (SQLite) and its exported server configuration."""
    from demo import sample_sync

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    sample_sync.load(engine, 30)
    engine.dispose()
    return str(engine.url), str(sample_sync.write_config_dir(tmp_path / "sync-config"))


def test_find_and_show_answer_from_the_metaverse(tmp_path, stub, seeded, sync_db):
    url, config_dir = sync_db
    bot = start_bot(
        tmp_path, stub, seeded, connectors__mimsync={"url": url, "server_config_dir": config_dir}
    )
    try:
        bot.slash("find user sobrien", name="f")
        found = bot.answer("f")
        assert found["response_type"] == "ephemeral"
        assert "MIM Sync metaverse: found 1" in found["text"]
        assert "Seán O'Brien (sobrien)" in json.dumps(found["blocks"], ensure_ascii=False)
        bot.slash("show sobrien", name="s")
        shown = json.dumps(bot.answer("s")["blocks"], ensure_ascii=False)
        assert "source of authority" in shown
        assert "displayName*: Seán O'Brien — source: HR" in shown
        assert "CORP AD* (AD)" in shown and "pending export modify" in shown
        assert "Deletion rule*: declared-any" in shown
        actions = [e.action for e in bot.services.audit.events()]
        assert actions == ["find", "show", "read"]
    finally:
        bot.stop()


HELP_USERS = {
    "UVIEW": {"find", "show", "retention"},
    "UREQ": {"delete", "update", "status", "done", "sweep"},
    "UEXP": {"export", "status"},
    "UAPP": {"approve", "reject", "retry", "extend", "hold", "unhold"},
    "UAUD": {"status", "requests"},
    "UADMIN": {"telemetry", "doctor", "datamap", "export", "update", "delete", "approve"},
    "USTRANGER": set(),
}


def test_help_answers_every_role_through_signed_requests(tmp_path, stub, seeded):
    from bot.commands.table import COMMANDS, Verb

    roles = {
        "viewer": {"users": ["UVIEW"]},
        "requester": {"users": ["UREQ"]},
        "exporter": {"users": ["UEXP"]},
        "approver": {"users": ["UAPP"]},
        "auditor": {"users": ["UAUD"]},
        "admin": {"users": ["UADMIN"]},
    }
    b = start_bot(tmp_path, stub, seeded, roles=roles)
    try:
        for n, (user, expected) in enumerate(HELP_USERS.items()):
            status, _, _ = b.slash("help", user, name=f"help{n}")
            assert status == 200
            body = answer(stub, f"help{n}")
            assert body["response_type"] == "ephemeral"
            assert "went wrong" not in body["text"], user
            listed = {v.value for v in Verb if f"{COMMANDS[v].description}" in body["text"]}
            assert expected <= listed, (user, expected - listed)
            assert "help" in listed
            if user == "UADMIN":
                assert listed == {v.value for v in Verb}
    finally:
        b.stop()


def test_the_data_map_goes_to_the_privacy_officers_dm_only(tmp_path, stub, seeded):
    """Signed requests in: the summary answers privately, every format reaches the caller's
    DM (never a channel), the real AD's inventory is in it, no seeded person is, and it is
    audited; a viewer is refused."""
    b = start_bot(tmp_path, stub, seeded, roles__privacy_officer={"users": ["UDPO"]})
    try:
        status, _, _ = b.slash("datamap", "UDPO", name="dm")
        assert status == 200
        body = b.answer("dm", timeout=20)
        assert body["response_type"] == "ephemeral"
        assert "The full map is in your DM as files" in json.dumps(body)
        (complete,) = stub.wait_for("files.completeUploadExternal", timeout=20)
        assert complete.body["channel_id"] == "DUDPO"  # the DM, never a channel
        names = sorted(f["title"] for f in json.loads(complete.body["files"]))
        assert [n.rsplit(".", 1)[1] for n in names] == ["csv", "html", "json", "md", "xlsx"]
        uploads = [r for r in stub.requests if r.path.startswith("/upload/v1/")]
        assert len(uploads) == 5
        markdown = next(r.raw for r in uploads if b"# Data map" in r.raw).decode()
        assert "| Active Directory | ad | bot connector | LDAP over TLS (ldap3) |" in markdown
        assert "Doe-Slack" not in markdown and "st-jdoe" not in markdown
        posted = [r.body.get("channel") for r in stub.calls("chat.postMessage")]
        assert not [c for c in posted if c and c.startswith("C")]  # no channel message
        (event,) = [e for e in b.services.audit.events() if e.action == "datamap_generated"]
        assert (event.actor, event.outcome) == ("UDPO", "ok")
        b.slash("datamap", "UVIEW", name="refused")
        assert "needs the privacy officer role" in b.answer("refused")["text"]
    finally:
        b.stop()
