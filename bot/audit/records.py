"""What the audit chain holds and what verifying it reports: values, no IO."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "AFTER_HEAD",
    "EDITED",
    "GENESIS",
    "MIN_CHAIN_KEY",
    "MISSING",
    "UNLINKED",
    "UNLINKED_PLAIN",
    "AuditEvent",
    "AuditOutcome",
    "ChainBroken",
    "ChainReport",
    "Checkpoint",
    "Entry",
    "Problem",
]

GENESIS = "0" * 64
MIN_CHAIN_KEY = 32


class ChainBroken(Exception):
    """The head does not match its MAC or the newest event: no checkpoint is signed."""


class AuditOutcome(enum.StrEnum):
    """How an audited action ended. Stored as its value; a StrEnum, so an event's hash is
    the same as when these were plain strings."""

    OK = "ok"
    FAILED = "failed"
    DENIED = "denied"  # refused by the authorisation policy
    NO_ANSWER = "no_answer"  # a search no system answered
    REQUESTED = "requested"  # asked for; its result is audited apart
    DONE = "done"
    PARTIAL = "partial"
    INCOMPLETE = "incomplete"  # an access package without every system's answer
    STILL_PRESENT = "still_present"  # a residual copy found again
    NOT_CHECKED = "not_checked"  # a residual check whose system did not answer


@dataclass(frozen=True)
class Entry:
    """An event to append (an `AuditEvent` is one read back, with its place in the chain)."""

    actor: str
    roles: tuple[str, ...] | list[str]
    action: str
    outcome: AuditOutcome = AuditOutcome.OK
    subject_key: str | None = None
    request_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: str
    roles: tuple[str, ...]
    action: str
    request_id: str | None
    subject_key: str | None
    outcome: str
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at a moment: event `seq` had hash `hash`. `mac` (HMAC-SHA256 with
    the chain key over seq, hash and time) makes a forged checkpoint detectable. One typed
    in as SEQ:HASH from a witness (a Slack message) has no time and no MAC: it is trusted
    for where it was copied from. `source` says where it came from (not signed)."""

    seq: int
    hash: str
    at: datetime | None
    mac: str | None
    source: str = field(default="", compare=False)

    @property
    def stamp(self) -> str:
        """The time as signed: 20260301T000005Z."""
        return self.at.strftime("%Y%m%dT%H%M%SZ") if self.at else ""

    def token(self) -> str:
        """SEQ:HASH:TIME:MAC, the form `audit verify --checkpoint` reads back."""
        if self.at is None or self.mac is None:
            return f"{self.seq}:{self.hash}"
        return f"{self.seq}:{self.hash}:{self.stamp}:{self.mac}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong: events `seq`..`last_seq` (one event when equal), or, with `seq`
    None, the head or a checkpoint (`where`)."""

    seq: int | None
    text: str
    last_seq: int | None = None
    where: str = "event"  # event | head | checkpoint

    def line(self) -> str:
        if self.where == "head":
            return f"BROKEN at the head: {self.text}"
        if self.where == "checkpoint":
            return f"BROKEN checkpoint: {self.text}"
        if self.last_seq is not None and self.last_seq != self.seq:
            return f"BROKEN at events {self.seq}..{self.last_seq}: {self.text}"
        return f"BROKEN at event {self.seq}: {self.text}"


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""  # the first problem's text
    problems: tuple[Problem, ...] = ()
    keyed_from: int = 1  # events before it were hashed without the key (before 0005)
    checkpoint: Checkpoint | None = None  # the newest checkpoint the chain was checked against
    checkpoints: int = 0  # how many were checked


# Problem texts (also the keys that merge a run of events with the same problem).
EDITED = "content does not match its hash (edited, or written without the chain key)"
MISSING = "missing (deleted)"
UNLINKED = "does not link to the event before it (an event before it was replaced)"
UNLINKED_PLAIN = (
    "does not link to the last event hashed before the chain was keyed "
    "(the events before it were rewritten)"
)
AFTER_HEAD = "after the head: inserted, or the head was rewritten"
