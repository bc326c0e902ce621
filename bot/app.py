"""The Slack front end: a Bolt app whose listeners ack at once and answer privately.

`create_app(config, services=..., client=...)` is the factory; tests and
proxies point the Web API elsewhere with `slack.api_url`.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.config import AppConfig
from bot.dispatch import run_command
from bot.reply import Reply, Responder
from bot.services import Services, build_services

__all__ = ["create_app", "slack_client"]

log = logging.getLogger(__name__)


def slack_client(config: AppConfig) -> WebClient:
    """A WebClient on the configured base URL, retrying once on HTTP 429."""
    kwargs: dict[str, Any] = {"token": config.slack.bot_token}
    if config.slack.api_url:
        # slack_sdk urljoins method names: the base must end in "/".
        kwargs["base_url"] = config.slack.api_url.rstrip("/") + "/"
    client = WebClient(**kwargs)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    return client


def usergroup_lookup(client: WebClient):  # type: ignore[no-untyped-def]
    def members(group_id: str) -> list[str]:
        return list(client.usergroups_users_list(usergroup=group_id)["users"])

    return members


def create_app(
    config: AppConfig, *, services: Services | None = None, client: WebClient | None = None
) -> tuple[App, Services]:
    """Build the Bolt app and the services behind it (built from config unless given)."""
    client = client or slack_client(config)
    services = services or build_services(config, usergroup_members=usergroup_lookup(client))
    app = App(
        client=client,
        signing_secret=config.slack.signing_secret or "",
        token_verification_enabled=False,  # no auth.test at start: start-up must not need Slack
        request_verification_enabled=config.slack.mode == "http",
        # Slow connectors hold a listener thread each; Bolt's default of 5 starves acks.
        listener_executor=ThreadPoolExecutor(
            max_workers=config.slack.listener_threads, thread_name_prefix="listener"
        ),
    )

    @app.command("/mim")
    def mim(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack()  # first, always: Slack gives up after 3 s
        run_command(
            command.get("text") or "",
            user_id=command["user_id"],
            services=services,
            respond=_ephemeral(respond),
        )

    @app.error
    def on_error(error: Exception) -> None:
        log.error("unhandled error in a listener: %s", error.__class__.__name__)

    return app, services


def _ephemeral(respond: Any) -> Responder:
    """Answers a slash command through its response_url, visible only to the caller."""

    def send(reply: Reply) -> None:
        # Never in_channel: everything a command answers may hold personal data.
        respond(
            text=reply.text,
            blocks=list(reply.blocks),
            response_type="ephemeral",
            replace_original=False,
        )

    return send
