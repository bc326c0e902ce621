"""The work behind each ack: run the command and answer, on the listener threads.

Bolt acks in the request's thread; what the command does (connectors, the audit
store, rendering, the answer to its `response_url`) is handed over here as plain
values, not as Bolt's lazy listeners do (they deep-copy the whole request for each
one, ten times the cost of the ack itself).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot import render
from bot.commands.parser import form_command
from bot.config import AppConfig
from bot.errors import AuditUnavailable, UsageError
from bot.frontends.dispatch import run_command
from bot.frontends.once import Once
from bot.frontends.slack_home import SlackHome
from bot.logs import log_failure
from bot.render.reply import Reply, Responder
from bot.services import Services

__all__ = ["Answering", "answering_pool"]

log = logging.getLogger(__name__)


@dataclass
class Answering:
    """What the work behind an ack needs: the services and a Web API client."""

    services: Services
    client: WebClient
    home: SlackHome | None = None
    # Drops a Slack request seen before (a replay, a double delivery): the Slack front
    # end's own concern, kept in the bot's database.
    once: Once = field(init=False)

    def __post_init__(self) -> None:
        self.once = Once(self.services.engine)

    def home_opened(self, user: str) -> None:
        """The user opened the App Home tab: publish what waits on them."""
        if self.home is not None:
            self.home.publish(user)

    def slash(self, body: dict[str, Any], text: str, user: str) -> None:
        """A command or a button: run it (once) and answer privately. `help` reads and
        changes nothing, and needs no store: it answers even while the store is down."""
        respond = _ephemeral(Respond(response_url=body.get("response_url")))
        if text.split()[:1] not in ([], ["help"]):
            try:
                if not self.once(body):
                    return
            except AuditUnavailable as exc:
                respond(render.error(exc))
                return
        run_command(text, user_id=user, services=self.services, respond=respond)

    def reject_modal(self, trigger_id: str | None, request_id: str, view: dict[str, Any]) -> None:
        self.client.views_open(trigger_id=trigger_id, view=view)

    def reject(self, body: dict[str, Any], request_id: str, note: str) -> None:
        """The reject modal's note, taken as typed: re-parsing it as command text would
        undo escaping the user never applied (a typed "&lt;!channel&gt;" would ping)."""
        user = body["user"]["id"]

        def tell(reply: Reply) -> None:  # a view submission has no response_url
            dm = self.client.conversations_open(users=user)["channel"]["id"]
            self.client.chat_postMessage(channel=dm, text=reply.text)

        try:
            if not self.once(body):
                return
        except AuditUnavailable as exc:
            tell(render.error(exc))
            return

        try:
            cmd = form_command("reject", request_id, note)
        except UsageError as exc:
            tell(render.error(exc))
            return
        run_command(cmd, user_id=user, services=self.services, respond=tell)


Later = Callable[..., None]  # later(answering.slash, body, text, user)


def answering_pool(config: AppConfig) -> tuple[Later, Executor]:
    """`later(work, *args)` runs `work(*args)` (one of `Answering`'s methods) on a
    listener thread."""
    threads = ThreadPoolExecutor(
        max_workers=config.slack.listener_threads, thread_name_prefix="listener"
    )

    def later(work: Callable[..., None], *args: Any) -> None:
        threads.submit(_logged, work, *args)

    return later, threads


def _logged(fn: Callable[..., None], *args: Any) -> None:
    """A listener's work, off the request's thread: a failure is logged, not lost."""
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - the boundary of a background job
        log_failure(log, "answering failed", exc)


def _ephemeral(respond: Any) -> Responder:
    """Answers a command through its response_url, visible only to the caller."""

    def send(reply: Reply) -> None:
        # Never in_channel: everything a command answers may hold personal data.
        respond(
            text=reply.text,
            blocks=list(reply.blocks),
            response_type="ephemeral",
            replace_original=False,
        )

    return send
