"""The Slack front end: a Bolt app whose listeners ack at once and answer privately.

`create_app(config, services=..., client=...)` is the factory; tests and
proxies point the Web API elsewhere with `slack.api_url`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.models.blocks import InputBlock, PlainTextInputElement
from slack_sdk.models.views import View

from bot.commands.parser import TELEMETRY_CONFIRM
from bot.config import AppConfig
from bot.frontends.answering import Answering, InboxPoller, ListenerPool
from bot.frontends.inbox import Inbox
from bot.frontends.intake import Intake
from bot.frontends.slack_home import SlackHome
from bot.frontends.slack_notifier import SlackNotifier
from bot.frontends.slack_sender import SlackPackageSender
from bot.frontends.slack_witness import SlackWitness
from bot.render.batches import ACTION_PAUSE, ACTION_RESUME
from bot.render.requests import ACTION_APPROVE, ACTION_DONE, ACTION_REJECT, ACTION_RETRY
from bot.render.telemetry import ACTION_TELEMETRY_DISABLE
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


def services_for(config: AppConfig, client: WebClient, home: SlackHome | None = None) -> Services:
    """The services of a Slack process: Slack's notifier, user groups and witness."""
    return build_services(
        config,
        usergroup_members=usergroup_lookup(client),
        notifier=SlackNotifier.from_config(client, config, home=home),
        sender=SlackPackageSender(client),
        witnesses=slack_witnesses(client, config),
        background=True,
    )


SERVE_POLL_SECONDS = 1.0


def start_answering(
    config: AppConfig,
    services: Services,
    client: WebClient,
    home: SlackHome | None = None,
    *,
    unclaimed: float,
    every: float,
) -> tuple[Inbox, Answering, ListenerPool, InboxPoller]:
    """Listener threads answering the inbox, and a poller taking over, every `every`
    seconds, what nobody answers (another replica's, a dead process's, or all of
    `serve`'s when `unclaimed` is 0 here)."""
    settings = config.slack.inbox
    inbox = Inbox(services.engine, lease=timedelta(seconds=settings.lease_seconds))
    answering = Answering(services, client, home, inbox)
    pool = ListenerPool(config.slack.listener_threads)
    poller = InboxPoller(
        answering, pool, every=every, unclaimed=timedelta(seconds=unclaimed)
    ).start()
    return inbox, answering, pool, poller


def create_app(
    config: AppConfig, *, services: Services | None = None, client: WebClient | None = None
) -> tuple[App, Services]:
    """Build the Bolt app and the services behind it (built from config unless given)."""
    client = client or slack_client(config)
    home = SlackHome(client, config.roles)
    services = services or services_for(config, client, home)
    home.attach(services)
    token = client.token or ""
    app = App(
        # The app's own client carries no token: with `authorize`, Bolt's authorization
        # needs no auth.test call: the ack path's one IO is the inbox write.
        client=WebClient(base_url=client.base_url),
        authorize=lambda **_: AuthorizeResult(enterprise_id=None, team_id=None,
                                              bot_token=token),
        signing_secret=config.slack.signing_secret or "",
        request_verification_enabled=config.slack.mode == "http",
        # Listeners run in the request's thread, write the inbox and hand over: an ack
        # never waits for the work (bot/frontends/intake.py, answering.py).
        process_before_response=True,
    )  # fmt: skip
    settings = config.slack.inbox
    # serve only takes over here, which can wait a second: polling is not free for
    # the threads that ack.
    inbox, answering, pool, poller = start_answering(
        config, services, client, home, unclaimed=settings.unclaimed_seconds,
        every=max(settings.poll_seconds, SERVE_POLL_SECONDS),
    )  # fmt: skip
    later = pool.later
    intake = Intake(inbox, answering, pool, answer_here=settings.answer_in_serve)
    # Closing finishes what was acked (Slack will not send it again); what is left in
    # the inbox is answered by another replica, the worker or the next start.
    services.closers += [poller.stop, intake.close, pool.shutdown]

    @app.command("/mim")
    def on_command(ack: Any, body: dict[str, Any]) -> None:
        hand_over = intake.command(body, body.get("text") or "", body.get("user_id", ""))
        ack()  # within Slack's 3 s: the inbox write waits at most its budget
        hand_over()

    # Buttons become the same typed commands as the console's, through the same
    # dispatcher: roles are checked again at click time, and everything is audited.
    def button(verb: str):  # type: ignore[no-untyped-def]
        def on_click(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            value = action.get("value", "").replace(":", " ")
            user = body.get("user", {}).get("id", "")
            hand_over = intake.command(body, f"{verb} {value}", user)
            ack()
            hand_over()

        return on_click

    app.action(ACTION_APPROVE)(button("approve"))
    app.action(ACTION_DONE)(button("done"))
    app.action(ACTION_RETRY)(button("retry"))
    app.action(ACTION_PAUSE)(button("pause"))
    app.action(ACTION_RESUME)(button("resume"))

    @app.action(ACTION_TELEMETRY_DISABLE)
    def on_telemetry_disable(ack: Any, body: dict[str, Any]) -> None:
        # The command text is fixed: the button's value is not trusted.
        hand_over = intake.command(body, TELEMETRY_CONFIRM, body.get("user", {}).get("id", ""))
        ack()
        hand_over()

    @app.action(ACTION_REJECT)
    def on_reject(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()  # then the modal at once: a trigger_id lives about 3 s
        request_id = action.get("value", "")
        later(answering.reject_modal, body.get("trigger_id"), request_id, reject_modal(request_id))

    @app.view(REJECT_CALLBACK)
    def on_reject_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        note = _reason(view)
        if not note:
            ack(response_action="errors", errors={"reason": "Please say why."})
            return
        hand_over = intake.reject(body, view.get("private_metadata", ""), note)
        ack()
        hand_over()

    @app.event("app_home_opened")
    def on_home_opened(ack: Any, event: dict[str, Any]) -> None:
        ack()
        if event.get("tab", "home") == "home" and event.get("user"):
            later(answering.home_opened, event["user"])

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
        title="Reject batch" if request_id.startswith("BATCH-") else "Reject erasure",
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
