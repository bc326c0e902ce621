"""Socket Mode: the same app takes payloads without HTTP signatures (Slack authenticates the
websocket with the app token); answers still go to the caller only."""

from __future__ import annotations

import json

from slack_bolt import BoltRequest

from bot.config import parse_config
from bot.frontends.slack_app import create_app, slack_client
from bot.frontends.slack_notifier import SlackNotifier
from bot.services import build_services
from connectors.base import IdKind
from connectors.memory import MemoryConnector, Person
from tests.support.slack_stub import MockSlack


def test_socket_mode_payload_is_dispatched_and_answered_privately(tmp_path):
    stub = MockSlack().start()
    raw = {
        "slack": {
            "mode": "socket",
            "bot_token": "${BOT}",
            "app_token": "${APP}",
            "api_url": stub.api_url,
        },
        "roles": {"viewer": {"users": ["UVIEW"]}},
        "audit": {
            "url": f"sqlite:///{tmp_path / 'a.db'}",
            "subject_key": "${KEY}",
            "chain_key": "${CK}",
        },
    }
    config = parse_config(
        raw, environ={"BOT": "xoxb-s", "APP": "xapp-s", "KEY": "k" * 20, "CK": "c" * 32}
    )
    client = slack_client(config)
    ad = MemoryConnector(
        "ad", "AD", [Person("1", {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe"})]
    )
    services = build_services(
        config,
        connectors=[ad],
        notifier=SlackNotifier(client, approvals_channel=None, notifications_channel=None),
    )
    app, _ = create_app(config, services=services, client=client)
    try:
        body = {
            "command": "/mim",
            "text": "find user jdoe",
            "user_id": "UVIEW",
            "channel_id": "C1",
            "team_id": "T1",
            "response_url": stub.response_url("sock"),
        }
        response = app.dispatch(BoltRequest(body=body, mode="socket_mode"))
        assert response.status == 200
        (answer,) = stub.wait_for("/response_url/sock")
        assert answer.body["response_type"] == "ephemeral"
        assert "Jane Doe (jdoe)" in json.dumps(answer.body["blocks"]) or "Jane Doe" in json.dumps(
            answer.body["blocks"]
        )
    finally:
        services.close()
        stub.stop()
