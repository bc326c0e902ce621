"""How an access package reaches the person who asked for it, as a protocol the front
ends implement: the Slack one uploads to the requester's DM (files_upload_v2) and
updates a progress message there; the console prints the file list and manifest.
The domain never imports Slack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.errors import MimbotError
from bot.lookup.show import SystemRecord
from bot.workflow.export_package import Package

__all__ = ["NotDelivered", "PackageSender"]


class PackageSender(Protocol):
    def progress(self, user_id: str, answered: Sequence[SystemRecord]) -> None:
        """Show the requester, privately, which systems have answered so far (called
        again with the longer list as each system answers)."""

    def send(self, user_id: str, request_id: str, package: Package) -> None:
        """Deliver the package (its bytes, from memory: nothing is written to disk) to
        the requester only; raise if it did not arrive."""

    def send_password(self, user_id: str, request_id: str, password: str) -> None:
        """An encrypted package's password, shown once to the requester and not stored
        (Slack: an ephemeral message in the DM that holds the zip); raise if it was not
        shown."""

    def finished(self, user_id: str) -> None:
        """The export ended, delivered or not: forget its progress message."""

    def send_files(self, user_id: str, files: Sequence[tuple[str, bytes]], note: str) -> None:
        """Files (name, bytes: from memory, nothing written to disk) to the user only, with
        a note (Slack: the user's DM, never a channel); raise if they did not arrive."""


class NotDelivered(MimbotError):
    """The package (or its password) did not reach the requester. The access request
    was created and stays open; the same export again sends a fresh package."""

    def __init__(self, request_id: str, *, password: bool = False) -> None:
        what = (
            "its access package reached you but its password could not be shown, so it "
            "cannot be opened"
            if password
            else "its access package was not delivered"
        )
        super().__init__(
            f"{request_id} is open, but {what}. Run the same /mim export again to retry."
        )
        self.request_id = request_id
