"""What an ack does with a command before it answers 200: write it to the durable inbox.

Acks that arrive together share one transaction (`Writer`: one commit, one flush to
disk for all of them), so a burst does not queue behind one commit per command. The
write waits at most `budget` seconds, so a slow or frozen store never holds an ack
past Slack's 3 s. A write still running then is settled on a listener thread: the entry
is answered once it lands, or the command is refused if the store failed. While such a
write is outstanding the store is taken as slow, and commands go the in-memory way
(answered, or refused at their audit write, as before the inbox) without waiting.
`help`, which reads and changes nothing, is always answered from memory.
"""

from __future__ import annotations

import collections
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from bot.errors import AuditUnavailable
from bot.frontends.answering import (
    ACKS_FIRST_AT_MOST,
    BURST,
    BURST_WITHIN,
    Answering,
    ListenerPool,
)
from bot.frontends.inbox import EntryKind, Inbox, New
from bot.logs import log_failure

__all__ = ["Intake", "favour_acks"]

log = logging.getLogger(__name__)

HandOver = Callable[[], None]  # called after the ack: what happens to the command next

# The interpreter's switch interval in a process that acks (Python's default: 5 ms).
# Its threads mostly wait on sockets and the store, and each return of the inbox writer
# from the store waits up to one interval for a thread busy with Bolt to let go.
SWITCH_INTERVAL = 0.0005


def favour_acks() -> None:
    """Set the serving process's switch interval (measured: bench/ack_load.py)."""
    sys.setswitchinterval(SWITCH_INTERVAL)


class Intake:
    def __init__(
        self,
        inbox: Inbox,
        answering: Answering,
        pool: ListenerPool,
        *,
        answer_here: bool,
        budget: float = 1.0,
    ) -> None:
        self.inbox, self.answering, self.pool = inbox, answering, pool
        self.answer_here = answer_here
        self.budget = budget
        self._writer = Writer(inbox)
        self.burst = Burst()
        self._late = 0  # writes past the budget and not yet finished
        self._lock = threading.Lock()

    def command(self, body: dict[str, Any], text: str, user: str) -> HandOver:
        """A slash command or a button, as command text."""
        if text.split()[:1] in ([], ["help"]):
            return lambda: self.pool.later(self.answering.slash, body, text, user)
        return self._take(
            body,
            lambda: self.answering.slash(body, text, user),
            New(EntryKind.COMMAND, user, text, body.get("response_url"), body.get("trigger_id")),
        )

    def reject(self, body: dict[str, Any], target: str, note: str) -> HandOver:
        """The reject modal's note (answered by DM: a view has no response_url)."""
        user = body.get("user", {}).get("id", "")
        return self._take(
            body,
            lambda: self.answering.reject(body, target, note),
            New(EntryKind.REJECT, user, note, None, body.get("trigger_id"), target),
        )

    def close(self) -> None:
        self._writer.close()

    def _take(self, body: dict[str, Any], in_memory: HandOver, new: New) -> HandOver:
        self.burst.ack()
        with self._lock:
            slow = self._late > 0
        if slow:
            return lambda: self.pool.later(in_memory)
        write = self._writer.submit(new)
        try:
            entry_id = write.result(timeout=self.budget)
        except FutureTimeout:
            self._count_late(write)
            return lambda: self.pool.later(self._settle, write, body)
        except AuditUnavailable as exc:
            problem = exc  # `exc` is unbound once the except block ends
            return lambda: self.pool.later(self.answering.refuse, body, problem)
        except Exception as exc:  # noqa: BLE001 - a fault of ours: answer as before the inbox
            log_failure(log, "the inbox could not take a command", exc)
            return lambda: self.pool.later(in_memory)
        return self._answer(entry_id)

    def _answer(self, entry_id: str | None) -> HandOver:
        if entry_id is None:  # a replay or a double delivery: answered the first time
            log.info("a repeated Slack request was dropped")
            return lambda: None
        if not self.answer_here:
            return lambda: None  # the worker takes it
        return lambda: self.pool.later(self._answer_after_burst, entry_id)

    def _answer_after_burst(self, entry_id: str) -> None:
        """Acks first: this process's threads answer once a burst of acks is over (or
        has gone on for ACKS_FIRST_AT_MOST), as the other processes' pollers do."""
        self.burst.wait_out()
        self.answering.claimed(entry_id)

    def _settle(self, write: Future[str | None], body: dict[str, Any]) -> None:
        try:
            entry_id = write.result()
        except AuditUnavailable as exc:
            self.answering.refuse(body, exc)
            return
        if entry_id is not None and self.answer_here:
            self.answering.claimed(entry_id)

    def _count_late(self, write: Future[str | None]) -> None:
        with self._lock:
            self._late += 1

        def finished(_: Future[str | None]) -> None:
            with self._lock:
                self._late -= 1

        write.add_done_callback(finished)


class Writer:
    """The thread writing inbox entries: whatever acks queued while it wrote the last
    group is its next group, in one transaction. One thread: more make smaller groups,
    and each group's CPU (not the disk) is what a burst's acks wait for."""

    MAX_GROUP = 256
    # During a burst a group waits this long for more acks, as PostgreSQL's commit_delay
    # does: fewer, larger transactions (measured best of 1-8 ms in bench/ack_load.py).
    GATHER = 0.003

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self._queue: queue.SimpleQueue[tuple[New, Future[str | None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="inbox-writer", daemon=True)
        self._thread.start()

    def submit(self, new: New) -> Future[str | None]:
        done: Future[str | None] = Future()
        self._queue.put((new, done))
        return done

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            group = [first]
            closing = self._drain(group)
            if len(group) > 1 and not closing:  # a burst: gather a little more first
                time.sleep(self.GATHER)
                self._drain(group)
            self._write(group)

    def _drain(self, group: list[Any]) -> bool:
        while len(group) < self.MAX_GROUP:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                self._queue.put(None)  # close after this group
                return True
            group.append(item)
        return False

    def _write(self, group: list[tuple[New, Future[str | None]]]) -> None:
        try:
            ids = self.inbox.put_many([new for new, _ in group])
        except Exception as exc:  # noqa: BLE001 - handed to every ack waiting on it
            for _, done in group:
                done.set_exception(exc)
            return
        for (_, done), entry_id in zip(group, ids, strict=True):
            done.set_result(entry_id)


class Burst:
    """This process's acks, as the inbox's `arriving` sees everyone's: a burst is BURST
    or more within BURST_WITHIN."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._acks: collections.deque[float] = collections.deque(maxlen=BURST)
        self._lock = threading.Lock()

    def ack(self) -> None:
        with self._lock:
            self._acks.append(self.clock())

    def under_way(self) -> bool:
        with self._lock:
            full = len(self._acks) == BURST
            return full and self.clock() - self._acks[0] < BURST_WITHIN.total_seconds()

    def wait_out(self) -> None:
        deadline = self.clock() + ACKS_FIRST_AT_MOST.total_seconds()
        while self.under_way() and self.clock() < deadline:
            time.sleep(0.02)
