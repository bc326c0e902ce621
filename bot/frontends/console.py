"""The console front end: the same handlers as Slack, answers rendered as text.

`python -m bot console --as U123` reads commands at a prompt; a script file
gives one command a line, and `as U456 <command>` switches the caller.
"""

from __future__ import annotations

import html
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from bot.config import RoleMembers
from bot.frontends.dispatch import run_command
from bot.lookup.show import SystemRecord
from bot.ops.datamap.diff import MapChange
from bot.render import batches as render_batches
from bot.render import deadlines as render_deadlines
from bot.render import events as render_events
from bot.render import exports as render_exports
from bot.render import requests as render_requests
from bot.render.datamap_changes import datamap_changes_message
from bot.render.reply import Reply
from bot.services import Services
from bot.workflow.batch.model import Batch, BatchMember, BatchSummary
from bot.workflow.events import Event, Reminded
from bot.workflow.export_package import Package
from bot.workflow.notifications.digest import Digest
from bot.workflow.notifications.notify import MessageRef
from bot.workflow.requests import Request, Step

__all__ = [
    "ConsoleNotifier",
    "ConsolePackageSender",
    "blocks_to_text",
    "run_console",
    "run_lines",
]

_AS = re.compile(r"^as\s+([UW][A-Z0-9]+)\s+(.*)$")


def blocks_to_text(reply: Reply) -> str:
    """Render Block Kit blocks readably; fall back to the reply's text."""
    if not reply.blocks:
        return html.unescape(reply.text)
    out: list[str] = []
    for block in reply.blocks:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            out += [title, "=" * len(title)]
        elif kind == "section":
            out.append(_mrkdwn(block.get("text", {}).get("text", "")))
        elif kind == "context":
            out.append("  " + " ".join(_mrkdwn(e.get("text", "")) for e in block["elements"]))
        elif kind == "divider":
            out.append("-" * 40)
        elif kind == "actions":
            out.append("  " + "  ".join(f"[{_button(e)}]" for e in block["elements"]))
    return "\n".join(out)


def _button(element: dict[str, Any]) -> str:
    return element.get("text", {}).get("text", "?")


def _mrkdwn(text: str) -> str:
    text = re.sub(r"(?<!\w)\*([^*\n]+)\*(?!\w)", r"\1", text)
    return html.unescape(text)


class ConsoleNotifier:
    """Prints what Slack would show in the approvals channel, threads, DMs and notifications."""

    def __init__(self, out: TextIO, roles: Mapping[str, RoleMembers] | None = None) -> None:
        self.out = out
        self.roles = dict(roles or {})  # who is mentioned for a manual step of a role

    def _print(self, where: str, reply: Reply) -> None:
        text = blocks_to_text(reply)
        self.out.write(
            f"  [{where}]\n" + "\n".join("    " + line for line in text.splitlines()) + "\n"
        )

    def approval_requested(self, request: Request) -> MessageRef | None:
        self._print("#approvals", render_requests.approval_message(request))
        return ("console", request.id)

    def request_updated(self, request: Request) -> None:
        reply = render_requests.approval_message(request)
        self.out.write(f"  [#approvals, message {request.id} updated] {reply.text}\n")

    def event(self, request: Request, event: Event) -> None:
        self._print(f"thread {request.id}", render_events.event_reply(request, event))

    def manual_step(self, request: Request, step: Step) -> None:
        owners = self.roles.get(step.assigned_role or "")
        reply = render_requests.manual_step_message(request, step, owners)
        self._print(f"thread {request.id}", reply)

    def reminder(self, request: Request, event: Reminded) -> None:
        reply = render_deadlines.reminder_message(request, event)
        for where in (f"thread {request.id}", f"DM to {request.requester}"):
            self._print(where, reply)

    def digest(self, digest: Digest) -> None:
        self._print("#notifications", render_deadlines.digest_message(digest))

    def datamap_changed(self, found: Sequence[MapChange]) -> None:
        self._print("#notifications", datamap_changes_message(found))

    def finished(self, request: Request) -> None:
        reply = render_requests.finished_message(request)
        for where in (f"thread {request.id}", f"DM to {request.requester}", "#notifications"):
            self._print(where, reply)

    def batch_requested(self, summary: BatchSummary) -> MessageRef | None:
        self._print("#approvals", render_batches.batch_message(summary))
        return ("console", summary.batch.id)

    def batch_updated(self, summary: BatchSummary) -> None:
        self._print(f"#approvals, message {summary.batch.id} updated",
                    render_batches.batch_message(summary))  # fmt: skip

    def batch_list(self, batch: Batch, members: Sequence[BatchMember]) -> str | None:
        data = render_batches.member_list_csv(members)
        name = render_batches.member_list_name(batch)
        self.out.write(
            f"  [thread {batch.id}] file {name} ({len(members)} people, {len(data)} bytes)\n"
        )
        return name

    def batch_list_removed(self, batch: Batch, file_id: str) -> None:
        self.out.write(f"  [thread {batch.id}] file {file_id} deleted: the batch ended\n")


class ConsolePackageSender:
    """Prints what the requester's DM would receive: progress, then the package's file list,
    its manifest and README (the console has no DM; the zip itself is not kept)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def progress(self, user_id: str, answered: Sequence[SystemRecord]) -> None:
        if answered:
            self.out.write(f"  [DM to {user_id}, progress] {len(answered)} system(s) answered\n")

    def finished(self, user_id: str) -> None:
        pass  # nothing to forget: progress is printed, not updated

    def send_files(self, user_id: str, files: Sequence[tuple[str, bytes]], note: str) -> None:
        """The file list; a Markdown file's text too (what the console can show)."""
        self.out.write(f"  [DM to {user_id}, files] {note}\n")
        for name, data in files:
            self.out.write(f"    {name} ({len(data)} bytes)\n")
        for name, data in files:
            if name.endswith(".md"):
                self.out.write(
                    "\n".join(f"    {line}" for line in data.decode().splitlines()) + "\n"
                )

    def send_password(self, user_id: str, request_id: str, password: str) -> None:
        # Printed once, never kept: as Slack's ephemeral message, it is not stored.
        text = render_exports.password_message(request_id, password).text
        self.out.write(f"  [DM to {user_id}, ephemeral: only they see it, not stored]\n")
        self.out.write(f"    {text}\n")

    def send(self, user_id: str, request_id: str, package: Package) -> None:
        if package.encrypted:  # the console shows what it can without the password
            self.out.write(
                f"  [DM to {user_id}, file] {package.name} (encrypted): "
                f"{', '.join(package.files)}\n"
            )
            return
        with zipfile.ZipFile(io.BytesIO(package.data)) as zf:
            listing = [f"{i.filename} ({i.file_size} bytes)" for i in zf.infolist()]
            readme = zf.read("README.txt").decode()
        text = "\n".join(
            [
                render_exports.package_note(request_id, package),
                f"{package.name}:",
                *(f"  {line}" for line in listing),
                "manifest.json:",
                *(f"  {line}" for line in json.dumps(package.manifest, indent=2).splitlines()),
                "README.txt:",
                *(f"  {line}" for line in readme.splitlines()),
            ]
        )
        self.out.write(
            f"  [DM to {user_id}, file]\n" + "\n".join("    " + x for x in text.splitlines()) + "\n"
        )


def run_lines(
    lines: Iterable[str],
    *,
    user_id: str,
    services: Services,
    out: TextIO,
    echo: bool = False,
    extra: Mapping[str, Callable[[str], str]] | None = None,
) -> int:
    """Run each non-empty, non-comment line as a /mim command; return how many ran.

    `extra` maps a first word to a console-only action, called with the rest of the line
    (the demo's `sync`, `cm-retire jdoe`)."""
    count = 0
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        caller, text = user_id, line
        m = _AS.match(line)
        if m:
            caller, text = m.group(1), m.group(2)
        text = text.removeprefix("/mim").strip()
        word, _, rest = text.partition(" ")
        if extra and word in extra:
            out.write(("\n" if echo else "") + extra[word](rest.strip()) + "\n")
            text = ""  # then tick like the worker, below
        elif echo:
            out.write(f"\n[{caller}] /mim {text}\n")

        def respond(reply: Reply) -> None:
            out.write(blocks_to_text(reply) + "\n")

        if text:
            run_command(text, user_id=caller, services=services, respond=respond)
        # What the worker's tick does in the Slack app: resume waits (e.g. for a
        # metaverse deletion rule) and expire stale approvals.
        services.decisions.expire_stale()
        services.runner.resume_all()
        if services.batches is not None and services.batch_driver is not None:
            services.batches.expire_stale()
            services.batch_driver.resume_all()
        services.deadlines.tick()
        out.flush()
        count += 1
    return count


def run_console(
    services: Services,
    user: str,
    script: Path | None,
    extra: Mapping[str, Callable[[str], str]] | None = None,
) -> int:
    """Run a script file's lines, or a prompt until end of input, as `user`; 2 when the
    script cannot be read (one line, no traceback)."""
    if script is not None:
        try:
            lines = script.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"cannot read the script {script}: {exc.__class__.__name__}", file=sys.stderr)
            return 2
        run_lines(lines, user_id=user, services=services, out=sys.stdout, echo=True, extra=extra)
        return 0
    print(f"mimbot console as {user}. Type a /mim command (e.g. `help`), or Ctrl-D.")
    while True:
        try:
            line = input("/mim ")
        except EOFError:
            print()
            return 0
        run_lines([line], user_id=user, services=services, out=sys.stdout, extra=extra)
