"""The request workflow's messages, posted through Slack's Web API.

The approval message lives in the approvals channel and is redrawn as the request
moves; decisions, manual steps and results are replies in its thread; the
requester gets a DM and the notifications channel gets the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from slack_sdk import WebClient

from bot.config import AppConfig, RoleMembers
from bot.frontends.slack_home import SlackHome
from bot.logs import log_failure
from bot.ops.datamap.diff import MapChange
from bot.render import batches as render_batches
from bot.render import deadlines as render_deadlines
from bot.render import events as render_events
from bot.render import requests as render_requests
from bot.render.datamap_changes import datamap_changes_message
from bot.render.reply import Reply
from bot.workflow.batch.model import Batch, BatchMember, BatchSummary
from bot.workflow.events import Event, Reminded
from bot.workflow.notifications.digest import Digest
from bot.workflow.notifications.notify import MessageRef
from bot.workflow.requests import Request, Step

__all__ = ["SlackNotifier"]

log = logging.getLogger(__name__)


class SlackNotifier:
    def __init__(
        self,
        client: WebClient,
        *,
        approvals_channel: str | None,
        notifications_channel: str | None,
        roles: Mapping[str, RoleMembers] | None = None,
        home: SlackHome | None = None,
    ) -> None:
        self.client = client
        self.approvals_channel = approvals_channel
        self.notifications_channel = notifications_channel
        self.roles = dict(roles or {})  # who is mentioned for a manual step of a role
        self.home = home  # App Home tabs to refresh when a request changes

    @classmethod
    def from_config(
        cls, client: WebClient, config: AppConfig, home: SlackHome | None = None
    ) -> SlackNotifier:
        return cls(
            client,
            approvals_channel=config.slack.approvals_channel,
            notifications_channel=config.slack.notifications_channel,
            roles=config.roles,
            home=home,
        )

    def _refresh_home(self, request: Request) -> None:
        if self.home is not None:
            self.home.refresh(request)

    def approval_requested(self, request: Request) -> MessageRef | None:
        if not self.approvals_channel:
            log.warning("no approvals_channel configured; %s has no approval message", request.id)
            return None
        reply = render_requests.approval_message(request)
        resp = self.client.chat_postMessage(
            channel=self.approvals_channel, text=reply.text, blocks=list(reply.blocks)
        )
        self._refresh_home(request)
        return resp["channel"], resp["ts"]

    def request_updated(self, request: Request) -> None:
        self._refresh_home(request)
        if not (request.channel and request.message_ts):
            return
        reply = render_requests.approval_message(request)
        self.client.chat_update(
            channel=request.channel,
            ts=request.message_ts,
            text=reply.text,
            blocks=list(reply.blocks),
        )

    def event(self, request: Request, event: Event) -> None:
        self._in_thread(request, render_events.event_reply(request, event))

    def manual_step(self, request: Request, step: Step) -> None:
        self._refresh_home(request)
        owners = self.roles.get(step.assigned_role or "")
        self._in_thread(request, render_requests.manual_step_message(request, step, owners))

    def reminder(self, request: Request, event: Reminded) -> None:
        reply = render_deadlines.reminder_message(request, event)
        # The DM first and on its own: a thread that cannot be posted to must not keep the
        # requester from hearing (access requests have no thread at all).
        dm = self.client.conversations_open(users=request.requester)["channel"]["id"]
        self.client.chat_postMessage(channel=dm, text=reply.text, blocks=list(reply.blocks))
        try:
            self._in_thread(request, reply)
        except Exception as exc:  # noqa: BLE001 - the DM went out; the thread is extra
            log_failure(log, "reminder not posted in the thread of %s", exc, request.id)

    def digest(self, digest: Digest) -> None:
        if not self.notifications_channel:
            return
        reply = render_deadlines.digest_message(digest)
        self.client.chat_postMessage(
            channel=self.notifications_channel, text=reply.text, blocks=list(reply.blocks)
        )

    def datamap_changed(self, found: Sequence[MapChange]) -> None:
        if not self.notifications_channel:
            return
        reply = datamap_changes_message(found)
        self.client.chat_postMessage(
            channel=self.notifications_channel, text=reply.text, blocks=list(reply.blocks)
        )

    def finished(self, request: Request) -> None:
        reply = render_requests.finished_message(request)
        self._in_thread(request, reply)
        dm = self.client.conversations_open(users=request.requester)["channel"]["id"]
        self.client.chat_postMessage(channel=dm, text=reply.text, blocks=list(reply.blocks))
        if self.notifications_channel:
            self.client.chat_postMessage(
                channel=self.notifications_channel, text=reply.text, blocks=list(reply.blocks)
            )

    def batch_requested(self, summary: BatchSummary) -> MessageRef | None:
        if not self.approvals_channel:
            log.warning("no approvals_channel configured; %s has no message", summary.batch.id)
            return None
        reply = render_batches.batch_message(summary)
        resp = self.client.chat_postMessage(
            channel=self.approvals_channel, text=reply.text, blocks=list(reply.blocks)
        )
        return resp["channel"], resp["ts"]

    def batch_updated(self, summary: BatchSummary) -> None:
        batch = summary.batch
        if not (batch.channel and batch.message_ts):
            return
        reply = render_batches.batch_message(summary)
        self.client.chat_update(
            channel=batch.channel, ts=batch.message_ts, text=reply.text, blocks=list(reply.blocks)
        )

    def batch_list(self, batch: Batch, members: Sequence[BatchMember]) -> str | None:
        # In the approvals channel's thread only: the file names people.
        if not (batch.channel and batch.message_ts):
            return None
        resp = self.client.files_upload_v2(
            channel=batch.channel,
            thread_ts=batch.message_ts,
            file=render_batches.member_list_csv(members),
            filename=render_batches.member_list_name(batch),
            title=f"Everyone in {batch.id}",
        )
        files = resp.get("files") or []
        return str(files[0]["id"]) if files else None

    def batch_list_removed(self, batch: Batch, file_id: str) -> None:
        # https://api.slack.com/methods/files.delete: `file`, a file this app uploaded.
        self.client.files_delete(file=file_id)

    def _in_thread(self, request: Request, reply: Reply) -> None:
        if not (request.channel and request.message_ts):
            return
        self.client.chat_postMessage(
            channel=request.channel,
            thread_ts=request.message_ts,
            text=reply.text,
            blocks=list(reply.blocks) or None,
        )
