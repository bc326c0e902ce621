"""What an ack does with a command before it answers 200: write it to the durable inbox.

The write waits at most `budget` seconds, so a slow or frozen store never holds an ack
past Slack's 3 s. A write still running then is settled on a listener thread: the entry
is answered once it lands, or the command is refused if the store failed. While such a
write is outstanding the store is taken as slow, and commands go the in-memory way
(answered, or refused at their audit write, as before the inbox) without waiting.
`help`, which reads and changes nothing, is always answered from memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from bot.errors import AuditUnavailable
from bot.frontends.answering import Answering, ListenerPool
from bot.frontends.inbox import EntryKind, Inbox

__all__ = ["Intake"]

log = logging.getLogger(__name__)

HandOver = Callable[[], None]  # called after the ack: what happens to the command next


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
        self._writes = ThreadPoolExecutor(max_workers=4, thread_name_prefix="inbox-write")
        self._late = 0  # writes past the budget and not yet finished
        self._lock = threading.Lock()

    def command(self, body: dict[str, Any], text: str, user: str) -> HandOver:
        """A slash command or a button, as command text."""
        if text.split()[:1] in ([], ["help"]):
            return lambda: self.pool.later(self.answering.slash, body, text, user)
        return self._take(
            body,
            lambda: self.answering.slash(body, text, user),
            kind=EntryKind.COMMAND,
            user_id=user,
            text=text,
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )

    def reject(self, body: dict[str, Any], target: str, note: str) -> HandOver:
        """The reject modal's note (answered by DM: a view has no response_url)."""
        user = body.get("user", {}).get("id", "")
        return self._take(
            body,
            lambda: self.answering.reject(body, target, note),
            kind=EntryKind.REJECT,
            user_id=user,
            text=note,
            target=target,
            response_url=None,
            trigger_id=body.get("trigger_id"),
        )

    def close(self) -> None:
        self._writes.shutdown(wait=True)

    def _take(self, body: dict[str, Any], in_memory: HandOver, **entry: Any) -> HandOver:
        with self._lock:
            slow = self._late > 0
        if slow:
            return lambda: self.pool.later(in_memory)
        write = self._writes.submit(lambda: self.inbox.put(**entry))
        try:
            entry_id = write.result(timeout=self.budget)
        except FutureTimeout:
            self._count_late(write)
            return lambda: self.pool.later(self._settle, write, body)
        except AuditUnavailable as exc:
            problem = exc  # `exc` is unbound once the except block ends
            return lambda: self.pool.later(self.answering.refuse, body, problem)
        return self._answer(entry_id)

    def _answer(self, entry_id: str | None) -> HandOver:
        if entry_id is None:  # a replay or a double delivery: answered the first time
            log.info("a repeated Slack request was dropped")
            return lambda: None
        if not self.answer_here:
            return lambda: None  # the worker takes it
        return lambda: self.pool.later(self.answering.claimed, entry_id)

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
