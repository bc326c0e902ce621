"""The work behind each ack: answer the command, on the listener threads.

A command acked into the durable inbox (bot/frontends/inbox.py) is answered from
there: claimed with a lease, run, answered through its `response_url`, then deleted.
`InboxPoller` takes over what another process left: an entry whose lease ran out, or
that nobody claimed in time. What Bolt hands over is plain values, not Bolt's lazy
listeners (they deep-copy the whole request for each one, ten times the cost of the ack).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot import render
from bot.audit.records import AuditOutcome
from bot.commands.parser import form_command
from bot.errors import AuditUnavailable, UsageError
from bot.frontends.dispatch import run_command
from bot.frontends.inbox import RESPONSE_URL_LIFETIME, Entry, EntryKind, Inbox
from bot.frontends.once import Once
from bot.frontends.slack_home import SlackHome
from bot.logs import log_failure
from bot.render.reply import Reply, Responder
from bot.services import Services

__all__ = ["Answering", "InboxPoller", "ListenerPool"]

log = logging.getLogger(__name__)

# An answer is not started this close to its response_url's end: it could not arrive.
ANSWER_TIME = timedelta(minutes=3)
# An entry claimed this often and never answered (Slack refusing its answer each time)
# is apologised for by DM and dropped.
MAX_ATTEMPTS = 3
# Acks first: an answerer does not start during a burst of acks (BURST or more within
# BURST_WITHIN), unless an entry has waited ACKS_FIRST_AT_MOST.
BURST, BURST_WITHIN = 10, timedelta(milliseconds=200)
ACKS_FIRST_AT_MOST = timedelta(seconds=1)


@dataclass
class Answering:
    """What the work behind an ack needs: the services, a Web API client, the inbox."""

    services: Services
    client: WebClient
    home: SlackHome | None = None
    inbox: Inbox | None = None
    owner: str = field(default_factory=lambda: f"answer-{uuid.uuid4().hex[:8]}")
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Drops a Slack request seen before (a replay, a double delivery) on the in-memory
    # path; the inbox drops them at the ack.
    once: Once = field(init=False)

    # The entries being answered here, their leases renewed while they are.
    _held: dict[str, Entry] = field(init=False, default_factory=dict)
    _held_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _keeper: threading.Thread | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.once = Once(self.services.engine)

    def home_opened(self, user: str) -> None:
        """The user opened the App Home tab: publish what waits on them."""
        if self.home is not None:
            self.home.publish(user)

    def claimed(self, entry_id: str) -> None:
        """Answer the entry this process's ack just wrote, unless another took it."""
        assert self.inbox is not None
        entry = self.inbox.claim(entry_id, self.owner)
        if entry is not None:
            self.answer(entry)

    def answer(self, entry: Entry) -> None:
        """Answer a claimed entry, then forget it. Only a process that dies on the way
        leaves it, to be taken over when its lease runs out; an answer Slack refuses is
        logged, not retried (the command has run, and is audited)."""
        assert self.inbox is not None
        late = self.clock() - entry.received_at > RESPONSE_URL_LIFETIME - ANSWER_TIME
        with self._kept(entry):
            if entry.attempts > MAX_ATTEMPTS or (late and entry.kind is EntryKind.COMMAND):
                self._apologise(entry)
            elif entry.kind is EntryKind.REJECT:
                self._reject(entry.user_id, entry.target or "", entry.text)
            else:
                respond = self._responder(entry.response_url, entry.user_id)
                run_command(
                    entry.text, user_id=entry.user_id, services=self.services, respond=respond
                )
            self.inbox.done(entry.id)

    @contextlib.contextmanager
    def _kept(self, entry: Entry) -> Iterator[None]:
        """While an entry is answered its lease is renewed (a third of it at a time), so a
        command that runs longer than the lease is not taken over and run twice."""
        with self._held_lock:
            self._held[entry.id] = entry
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, name="inbox-leases", daemon=True)
                self._keeper.start()
        try:
            yield
        finally:
            with self._held_lock:
                self._held.pop(entry.id, None)

    def _keep(self) -> None:
        assert self.inbox is not None
        every = self.inbox.lease.total_seconds() / 3
        while True:
            time.sleep(every)
            with self._held_lock:
                held = list(self._held.values())
            for entry in held:
                try:
                    self.inbox.renew(entry)
                except Exception as exc:  # noqa: BLE001 - the store may be down: next time
                    log_failure(log, "could not renew an inbox lease", exc)

    def slash(self, body: dict[str, Any], text: str, user: str) -> None:
        """A command or a button answered from memory: `help` (it reads and changes
        nothing, and answers while the store is down), or any command while the store
        does not take inbox entries in time (it is then refused at its audit write)."""
        respond = self._responder(body.get("response_url"), user)
        if text.split()[:1] not in ([], ["help"]):
            try:
                if not self.once(body):
                    return
            except AuditUnavailable as exc:
                respond(render.error(exc))
                return
        run_command(text, user_id=user, services=self.services, respond=respond)

    def reject(self, body: dict[str, Any], request_id: str, note: str) -> None:
        """The reject modal's note answered from memory (the store is slow), once."""
        user = body["user"]["id"]
        try:
            if not self.once(body):
                return
        except AuditUnavailable as exc:
            self._tell(user, render.error(exc))
            return
        self._reject(user, request_id, note)

    def refuse(self, body: dict[str, Any], problem: AuditUnavailable) -> None:
        """The inbox could not take a command: say so, nothing was done."""
        user = body.get("user_id") or body.get("user", {}).get("id", "")
        self._responder(body.get("response_url"), user)(render.error(problem))

    def reject_modal(self, trigger_id: str | None, request_id: str, view: dict[str, Any]) -> None:
        self.client.views_open(trigger_id=trigger_id, view=view)

    def _reject(self, user: str, request_id: str, note: str) -> None:
        """The reject modal's note, taken as typed: re-parsing it as command text would
        undo escaping the user never applied (a typed "&lt;!channel&gt;" would ping)."""
        try:
            cmd = form_command("reject", request_id, note)
        except UsageError as exc:
            self._tell(user, render.error(exc))
            return
        run_command(
            cmd, user_id=user, services=self.services, respond=lambda r: self._tell(user, r)
        )

    def _responder(self, response_url: str | None, user: str) -> Responder:
        """Privately: through the response_url, or by DM where a click has none (the App
        Home tab). A failure to answer is logged by its class, never raised."""
        send = _ephemeral(Respond(response_url=response_url)) if response_url else None

        def respond(reply: Reply) -> None:
            try:
                send(reply) if send else self._tell(user, reply)
            except Exception as exc:  # noqa: BLE001 - Slack refused the answer
                log_failure(log, "could not deliver an answer", exc)

        return respond

    def _tell(self, user: str, reply: Reply) -> None:
        """By DM: a view submission has no response_url, nor an expired one."""
        dm = self.client.conversations_open(users=user)["channel"]["id"]
        self.client.chat_postMessage(channel=dm, text=reply.text, blocks=list(reply.blocks) or None)

    def _apologise(self, entry: Entry) -> None:
        at = entry.received_at.strftime("%H:%M UTC")
        what = "/mim command" if entry.verb == "command" else f"/mim {entry.verb} command"
        self.services.audit.record(
            actor=entry.user_id, roles=[], action="command_unanswered",
            outcome=AuditOutcome.FAILED, detail={"verb": entry.verb, "attempts": entry.attempts},
        )  # fmt: skip
        log.warning("a %s command acked at %s was not answered in time", entry.verb, at)
        self._responder(None, entry.user_id)(  # by DM, and a refused DM is only logged
            render.error(
                f"Your {what} of {at} could not be answered in time, so nothing was done. "
                "Please run it again."
            ),
        )


class ListenerPool:
    """`later(work, *args)` runs `work(*args)` on a listener thread; `idle()` is how many
    threads wait for work, so the poller takes no more entries than it can start."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="listener")
        self._busy = 0
        self._lock = threading.Lock()

    def later(self, work: Callable[..., None], *args: Any) -> None:
        with self._lock:
            self._busy += 1
        self._pool.submit(self._run, work, *args)

    def idle(self) -> int:
        with self._lock:
            return max(0, self.threads - self._busy)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

    def _run(self, work: Callable[..., None], *args: Any) -> None:
        """A listener's work, off the request's thread: a failure is logged, not lost."""
        try:
            work(*args)
        except Exception as exc:  # noqa: BLE001 - the boundary of a background job
            log_failure(log, "answering failed", exc)
        finally:
            with self._lock:
                self._busy -= 1


class InboxPoller:
    """Takes over inbox entries nobody answers: every `every` seconds, as many as the
    pool has idle threads."""

    def __init__(
        self,
        answering: Answering,
        pool: ListenerPool,
        *,
        every: float,
        unclaimed: timedelta,
    ) -> None:
        assert answering.inbox is not None
        self.answering, self.inbox, self.pool = answering, answering.inbox, pool
        self.every, self.unclaimed = every, unclaimed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="inbox-poller", daemon=True)

    def start(self) -> InboxPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def tick(self) -> int:
        idle = self.pool.idle()  # no thread free: no query at all
        if not idle or self.inbox.arriving(
            burst=BURST, within=BURST_WITHIN, at_most=ACKS_FIRST_AT_MOST
        ):
            return 0
        owner = self.answering.owner
        entries = self.inbox.take_owed(owner, limit=idle, unclaimed=self.unclaimed)
        for entry in entries:
            self.pool.later(self.answering.answer, entry)
        return len(entries)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the store may be down: try again
                log_failure(log, "taking over inbox entries failed", exc)


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
