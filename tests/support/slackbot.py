"""The bot as Slack sees it: our HTTP server and Bolt app on loopback, its Web API
pointed at the recording stub, signed requests in (tests/support/slack_requests.py)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import parse_config
from bot.frontends.http_server import SlackHttpServer
from bot.frontends.slack_app import create_app
from bot.services import Services
from tests.support.samba import SambaAd
from tests.support.slack_requests import SlackRequestFactory, post
from tests.support.slack_stub import MockSlack

SECRET = "e2e-signing-secret"
ENV = {
    "BOT": "xoxb-e2e",
    "SIGN": SECRET,
    "KEY": "e2e-subject-key-0123456789",
    "CK": "e2e-chain-key-0123456789abcdef0123456789",
}


def bot_config(tmp_path: Path, stub: MockSlack, samba: SambaAd, **overrides: Any) -> dict:
    raw: dict[str, Any] = {
        "slack": {
            "bot_token": "${BOT}",
            "signing_secret": "${SIGN}",
            "api_url": stub.api_url,
            "approvals_channel": "CAPPROVALS",
            "notifications_channel": "CNOTIFY",
        },
        "roles": {
            "viewer": {"users": ["UVIEW"], "usergroups": ["SIAM"]},
            "requester": {"users": ["UREQ", "UBOTH"]},
            "approver": {"users": ["UAPP", "UAPP2", "UBOTH"]},
        },
        "search": {"timeout_seconds": 2.0},
        "runner": {
            "attempts": 2,
            "backoff_seconds": 0.1,
            "step_timeout_seconds": 2,
            "lease_seconds": 5,
            "poll_seconds": 0.5,
        },
        "audit": {
            "url": f"sqlite:///{tmp_path / 'audit.db'}",
            "subject_key": "${KEY}",
            "chain_key": "${CK}",
        },
        "connectors": {
            "ad": {
                "url": samba.uri,
                "bind_dn": samba.bind_user,
                "password": "${ADPW}",
                "base_dn": samba.base_dn,
                "ca_file": samba.ca_file,
                "timeout_seconds": 2.0,
            }
        },
    }
    for dotted, value in overrides.items():
        node = raw
        *path, last = dotted.split("__")
        for key in path:
            node = node.setdefault(key, {})
        node[last] = value
    return copy.deepcopy(raw)


@dataclass
class Bot:
    server: SlackHttpServer
    services: Services
    stub: MockSlack
    secret: str = SECRET

    def slash(
        self,
        text: str,
        user: str = "UVIEW",
        *,
        name: str = "r1",
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, str, float]:
        factory = SlackRequestFactory(secret or self.secret)
        body = factory.slash_command("/mim", text, user, "C0PUBLIC", self.stub.response_url(name))
        return post(self.server.url, body, factory.headers(body, timestamp=timestamp))

    def click(
        self,
        action_id: str,
        value: str,
        user: str,
        *,
        name: str = "click",
        message_ts: str = "1.000001",
    ) -> tuple[int, str, float]:
        factory = SlackRequestFactory(self.secret)
        body = factory.block_action(
            action_id, value, user, "CAPPROVALS", message_ts, self.stub.response_url(name)
        )
        return post(self.server.url, body, factory.headers(body))

    def submit_view(
        self, callback_id: str, private_metadata: str, user: str, values: dict
    ) -> tuple[int, str, float]:
        factory = SlackRequestFactory(self.secret)
        body = factory.view_submission(callback_id, private_metadata, user, values)
        return post(self.server.url, body, factory.headers(body))

    def event(self, event: dict) -> tuple[int, str, float]:
        factory = SlackRequestFactory(self.secret)
        body = factory.event(event)
        return post(self.server.url, body, factory.headers(body, json_body=True))

    def answer(self, name: str = "r1", timeout: float = 5.0, count: int = 1) -> dict:
        return self.stub.wait_for(f"/response_url/{name}", count=count, timeout=timeout)[-1].body

    def wait_status(self, request_id: str, *statuses: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while True:
            request = self.services.requests.get(request_id)
            if request.status.value in statuses:
                return request
            if time.monotonic() > deadline:
                raise AssertionError(f"{request_id} stayed {request.status.value}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.stop()
        self.services.close()


def start_bot(tmp_path: Path, stub: MockSlack, samba: SambaAd, **overrides: Any) -> Bot:
    config = parse_config(
        bot_config(tmp_path, stub, samba, **overrides), environ={**ENV, "ADPW": samba.password}
    )
    app, services = create_app(config)
    server = SlackHttpServer(app, host="127.0.0.1", port=0).start()
    return Bot(server, services, stub)
