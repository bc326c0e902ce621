"""`/mim export` through the Bolt app and the Slack sender, on the Web API stub, with
in-memory connectors (no Samba): the zip is uploaded from memory to the caller's DM, an
encrypted zip's password is shown once by chat.postEphemeral (never a stored message),
and a failed upload is answered truthfully."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pyzipper
from slack_bolt import App, BoltRequest

from bot.config import parse_config
from bot.frontends.slack_app import create_app, slack_client
from bot.frontends.slack_notifier import SlackNotifier
from bot.frontends.slack_sender import SlackPackageSender
from bot.services import Services, build_services
from connectors.base import IdKind
from connectors.memory import MemoryConnector, Person
from tests.support.slack_stub import MockSlack

ENV = {"BOT": "xoxb-s", "APP": "xapp-s", "KEY": "k" * 20, "CK": "c" * 32}
JANE = {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe"}


@dataclass
class Bot:
    stub: MockSlack
    app: App
    services: Services

    def export(self, term: str, user: str = "UEXP", answer: str = "r1") -> dict[str, Any]:
        body = {
            "command": "/mim",
            "text": f"export {term}",
            "user_id": user,
            "channel_id": "C1",
            "team_id": "T1",
            "response_url": self.stub.response_url(answer),
        }
        assert self.app.dispatch(BoltRequest(body=body, mode="socket_mode")).status == 200
        (reply,) = self.stub.wait_for(f"/response_url/{answer}", timeout=10)
        return reply.body


@pytest.fixture(params=[False, True], ids=["plain", "encrypted"])
def bot(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bot]:
    stub = MockSlack().start()
    raw = {
        "slack": {"mode": "socket", "bot_token": "${BOT}", "app_token": "${APP}"},
        "roles": {"exporter": {"users": ["UEXP"]}},
        "policy": {"export_encrypt": request.param},
        "audit": {
            "url": f"sqlite:///{tmp_path / 'a.db'}",
            "subject_key": "${KEY}",
            "chain_key": "${CK}",
        },
    }
    raw["slack"]["api_url"] = stub.api_url
    config = parse_config(raw, environ=ENV)
    client = slack_client(config)
    hr = MemoryConnector("hr", "HR", [Person("1", JANE, {"birth_date": ("1980-05-17",)})])
    services = build_services(
        config,
        connectors=[hr],
        notifier=SlackNotifier(client, approvals_channel=None, notifications_channel=None),
        sender=SlackPackageSender(client),
    )
    app, _ = create_app(config, services=services, client=client)
    try:
        yield Bot(stub, app, services)
    finally:
        services.close()
        stub.stop()


def stored(stub: MockSlack) -> str:
    """Everything the bot sent Slack that Slack keeps: messages, updates, the upload's
    comment, the slash command's answer (all but chat.postEphemeral)."""
    kept = [r for r in stub.requests if r.method != "chat.postEphemeral"]
    return "\n".join(r.raw.decode("latin-1") for r in kept)


def test_the_package_goes_from_memory_to_the_dm_and_a_password_only_ephemeral(bot):
    reply = bot.export("jdoe")
    assert reply["response_type"] == "ephemeral"
    assert "sent to you by direct message" in reply["text"]
    (complete,) = bot.stub.wait_for("files.completeUploadExternal")
    assert complete.body["channel_id"] == "DUEXP"
    (upload,) = [r for r in bot.stub.requests if r.path.startswith("/upload/v1/")]
    data = upload.raw
    (event,) = [e for e in bot.services.audit.events() if e.action == "package_sent"]
    assert hashlib.sha256(data).hexdigest() == event.detail["sha256"]  # the bytes as built
    assert event.actor == "UEXP"  # who received it
    ephemeral = bot.stub.calls("chat.postEphemeral")
    encrypted = bot.services.access.policy.export_encrypt
    if not encrypted:
        assert ephemeral == []
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert "hr.json" in zf.namelist()
        return
    # The password: once, to the exporter only, in the DM that holds the zip; Slack does
    # not store an ephemeral message, and nothing stored carries the password.
    (shown,) = ephemeral
    assert (shown.body["channel"], shown.body["user"]) == ("DUEXP", "UEXP")
    password = shown.body["text"].split("`")[1]
    assert len(password) >= 20 and password not in stored(bot.stub)
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        zf.setpassword(password.encode())
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["systems"]["hr"]["outcome"] == "found"


def test_a_failed_upload_says_the_request_is_open_and_how_to_retry(bot):
    bot.stub.fail("files.getUploadURLExternal", body={"ok": False, "error": "internal_error"})
    reply = bot.export("jdoe")
    (request_id,) = bot.services.requests.ids()
    assert reply["response_type"] == "ephemeral"
    assert f"{request_id} is open, but its access package was not delivered" in reply["text"]
    assert "Run the same /mim export again to retry." in reply["text"]
    assert "Nothing was changed" not in reply["text"]
    assert bot.stub.calls("chat.postEphemeral") == []  # no password for a package not sent
    retry = bot.export("jdoe", answer="r2")
    assert "sent to you by direct message" in retry["text"]
    assert bot.services.requests.ids() == [request_id]
