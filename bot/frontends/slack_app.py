"""The Slack front end: a Bolt app whose listeners ack at once and answer privately.

`create_app(config, services=..., client=...)` is the factory; tests and
proxies point the Web API elsewhere with `slack.api_url`.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.models.blocks import InputBlock, PlainTextInputElement
from slack_sdk.models.views import View

from bot import render
from bot.commands import form_command
from bot.config import AppConfig
from bot.errors import UsageError
from bot.frontends.dispatch import run_command
from bot.frontends.slack_notifier import SlackNotifier
from bot.frontends.slack_witness import SlackWitness
from bot.render.reply import Reply, Responder
from bot.render.requests import ACTION_APPROVE, ACTION_DONE, ACTION_REJECT, ACTION_RETRY
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


def slack_witnesses(client: WebClient, config: AppConfig) -> list[SlackWitness]:
    """The notifications channel witnesses the audit chain (checkpoints), if there is one."""
    channel = config.slack.notifications_channel
    return [SlackWitness(client, channel)] if channel else []


def usergroup_lookup(client: WebClient):  # type: ignore[no-untyped-def]
    def members(group_id: str) -> list[str]:
        return list(client.usergroups_users_list(usergroup=group_id)["users"])

    return members


def create_app(
    config: AppConfig, *, services: Services | None = None, client: WebClient | None = None
) -> tuple[App, Services]:
    """Build the Bolt app and the services behind it (built from config unless given)."""
    client = client or slack_client(config)
    services = services or build_services(
        config,
        usergroup_members=usergroup_lookup(client),
        notifier=SlackNotifier(
            client,
            approvals_channel=config.slack.approvals_channel,
            notifications_channel=config.slack.notifications_channel,
        ),
        witnesses=slack_witnesses(client, config),
        background=True,
    )
    token = client.token or ""
    app = App(
        # The app's own client carries no token: with `authorize`, Bolt's authorization
        # needs no auth.test call, so the ack path does no IO at all (not even once).
        client=WebClient(base_url=client.base_url),
        authorize=lambda **_: AuthorizeResult(enterprise_id=None, team_id=None,
                                              bot_token=token),
        signing_secret=config.slack.signing_secret or "",
        request_verification_enabled=config.slack.mode == "http",
        # Ack first, in the request's thread, then answer from a listener thread: an
        # ack never waits for a listener thread held by a slow connector or store.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(
            max_workers=config.slack.listener_threads, thread_name_prefix="listener"
        ),
    )  # fmt: skip
    once = services.once

    def ack_now(ack: Any) -> None:
        ack()  # no IO here: Slack gives up after 3 s

    def on_command(body: dict[str, Any], command: dict[str, Any], respond: Any) -> None:
        if once(body):
            run_command(command.get("text") or "", user_id=command["user_id"],
                        services=services, respond=_ephemeral(respond))  # fmt: skip

    app.command("/mim")(ack=ack_now, lazy=[on_command])

    # Buttons become the same typed commands as the console's, through the same
    # dispatcher: roles are checked again at click time, and everything is audited.
    def button(verb: str):  # type: ignore[no-untyped-def]
        def on_click(body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
            if once(body):
                value = action.get("value", "").replace(":", " ")
                run_command(f"{verb} {value}", user_id=body["user"]["id"],
                            services=services, respond=_ephemeral(respond))  # fmt: skip

        return on_click

    app.action(ACTION_APPROVE)(ack=ack_now, lazy=[button("approve")])
    app.action(ACTION_DONE)(ack=ack_now, lazy=[button("done")])
    app.action(ACTION_RETRY)(ack=ack_now, lazy=[button("retry")])

    def open_reject_modal(body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        # At once: a trigger_id lives about 3 s.
        client.views_open(trigger_id=body["trigger_id"], view=reject_modal(action["value"]))

    app.action(ACTION_REJECT)(ack=ack_now, lazy=[open_reject_modal])

    def check_reason(ack: Any, view: dict[str, Any]) -> None:
        if _reason(view):
            ack()
        else:
            ack(response_action="errors", errors={"reason": "Please say why."})

    def on_reject_submit(body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        note = _reason(view)
        if not note or not once(body):
            return
        user = body["user"]["id"]

        def tell(reply: Reply) -> None:  # a view submission has no response_url
            dm = client.conversations_open(users=user)["channel"]["id"]
            client.chat_postMessage(channel=dm, text=reply.text)

        # The note is taken as typed: re-parsing it as command text would undo escaping
        # the user never applied (a typed "&lt;!channel&gt;" would become a live ping).
        try:
            cmd = form_command("reject", view["private_metadata"], note)
        except UsageError as exc:
            tell(render.error(exc))
            return
        run_command(cmd, user_id=user, services=services, respond=tell)

    app.view(REJECT_CALLBACK)(ack=check_reason, lazy=[on_reject_submit])

    @app.error
    def on_error(error: Exception) -> None:
        log.error("unhandled error in a listener: %s", error.__class__.__name__)

    return app, services


def _reason(view: dict[str, Any]) -> str:
    value = view.get("state", {}).get("values", {}).get("reason", {}).get("reason", {})
    return (value.get("value") or "").strip()


REJECT_CALLBACK = "mim_reject_modal"


def reject_modal(request_id: str) -> dict[str, Any]:
    """The modal asking an approver why they reject; carries the request id."""
    view = View(
        type="modal",
        callback_id=REJECT_CALLBACK,
        private_metadata=request_id,
        title="Reject erasure",
        submit="Reject",
        close="Cancel",
        blocks=[
            InputBlock(
                block_id="reason",
                label=f"Why is {request_id} rejected?",
                element=PlainTextInputElement(action_id="reason", multiline=True, max_length=500),
            )
        ],
    )
    return view.to_dict()  # to_dict() runs slack_sdk's validators


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
