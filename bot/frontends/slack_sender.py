"""Access packages through Slack's Web API: a progress message in the requester's DM,
updated as systems answer, then the zip uploaded there from memory with the external
upload flow (`files_upload_v2`: get an upload URL, upload, complete), and an encrypted
zip's password shown once, ephemeral, in that DM. Never to a channel."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from slack_sdk import WebClient

from bot.lookup.show import SystemRecord
from bot.render import exports as render_exports
from bot.workflow.export_package import Package

__all__ = ["SlackPackageSender"]


class SlackPackageSender:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        # (user, thread) -> the progress message (dm channel, ts): an export runs in one
        # thread from start to end, so two exports by one person keep their own messages.
        self._progress: dict[tuple[str, int], tuple[str, str]] = {}
        self._lock = threading.Lock()

    def _dm(self, user_id: str) -> str:
        return str(self.client.conversations_open(users=user_id)["channel"]["id"])

    def progress(self, user_id: str, answered: Sequence[SystemRecord]) -> None:
        reply = render_exports.progress(answered)
        with self._lock:
            posted = self._progress.get(_key(user_id))
        if posted is None:
            resp = self.client.chat_postMessage(
                channel=self._dm(user_id), text=reply.text, blocks=list(reply.blocks)
            )
            with self._lock:
                self._progress[_key(user_id)] = (resp["channel"], resp["ts"])
        else:
            self.client.chat_update(
                channel=posted[0], ts=posted[1], text=reply.text, blocks=list(reply.blocks)
            )

    def _channel(self, user_id: str) -> str:
        """The DM of this export's progress message, else the user's DM."""
        with self._lock:
            posted = self._progress.get(_key(user_id))
        return posted[0] if posted else self._dm(user_id)

    def send(self, user_id: str, request_id: str, package: Package) -> None:
        self.client.files_upload_v2(
            channel=self._channel(user_id),
            file=package.data,  # bytes: the SDK uploads them as they are, no file on disk
            filename=package.name,
            title=f"Access package {request_id}",
            initial_comment=render_exports.package_note(request_id, package),
        )

    def send_password(self, user_id: str, request_id: str, password: str) -> None:
        # chat.postEphemeral (https://api.slack.com/methods/chat.postEphemeral): only
        # `user` sees it, in `channel`, and Slack does not store it (gone on reload), so
        # the DM that keeps the zip does not keep its password too.
        reply = render_exports.password_message(request_id, password)
        self.client.chat_postEphemeral(
            channel=self._channel(user_id), user=user_id, text=reply.text
        )

    def send_files(self, user_id: str, files: Sequence[tuple[str, bytes]], note: str) -> None:
        # files_upload_v2 takes several uploads in one call, shared to one channel: the DM.
        self.client.files_upload_v2(
            channel=self._dm(user_id),
            file_uploads=[{"file": data, "filename": name, "title": name} for name, data in files],
            initial_comment=note,
        )

    def finished(self, user_id: str) -> None:
        with self._lock:
            self._progress.pop(_key(user_id), None)


def _key(user_id: str) -> tuple[str, int]:
    return user_id, threading.get_ident()
