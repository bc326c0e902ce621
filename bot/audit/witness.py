"""Witnesses: places outside the database where the audit chain's head is published.

A checkpoint (`AuditLog.checkpoint()`) says "event SEQ had hash HASH at TIME", with a
MAC by the chain key. Published where a database writer cannot reach — the Slack
notifications channel (bot/frontends/), an append-only file — it lets
`python -m bot audit verify` detect a chain that was truncated, or rewritten by
someone holding the key, after the checkpoint was taken. As with CloudTrail's digest
files, one is published every day even when nothing happened, so a missing day is
itself a sign; and one whenever a request completes.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from bot.audit.chain import AuditLog
from bot.audit.records import ChainBroken, Checkpoint

__all__ = [
    "CheckpointSchedule",
    "FileWitness",
    "Witness",
    "checkpoint_text",
    "parse_checkpoint",
]

log = logging.getLogger(__name__)
_TOKEN = re.compile(
    r"(?P<seq>[0-9]{1,18}):(?P<hash>[0-9a-f]{64})"
    r"(?::(?P<at>[0-9]{8}T[0-9]{6}Z):(?P<mac>[0-9a-f]{64}))?",
    re.IGNORECASE,
)


class Witness(Protocol):
    """Somewhere a checkpoint is published. `publish` raises when it could not be.
    An optional `name` attribute (e.g. "slack:C0456") is recorded with the checkpoint."""

    def publish(self, checkpoint: Checkpoint) -> None: ...


def checkpoint_text(checkpoint: Checkpoint) -> str:
    """Plain text for a message: what the checkpoint says and the line to check it with
    (no personal data: a sequence number, a time and two hashes)."""
    when = f"{checkpoint.at:%Y-%m-%d %H:%M:%S} UTC" if checkpoint.at else "unknown time"
    return (
        f"Audit chain checkpoint: event {checkpoint.seq} at {when}.\n"
        f"To check the audit store against it: python -m bot audit verify "
        f"--checkpoint {checkpoint.token()}"
    )


def parse_checkpoint(text: str, *, source: str = "--checkpoint") -> Checkpoint:
    """SEQ:HASH, or SEQ:HASH:TIME:MAC as `checkpoint_text` prints it. ValueError otherwise."""
    m = _TOKEN.fullmatch(text.strip())
    if m is None:
        raise ValueError("a checkpoint is SEQ:HASH (64 hex digits), or SEQ:HASH:TIME:MAC")
    at = None
    if m["at"]:
        at = datetime.strptime(m["at"].upper(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    mac = m["mac"].lower() if m["mac"] else None
    return Checkpoint(int(m["seq"]), m["hash"].lower(), at, mac, source)


class FileWitness:
    """One JSON line per checkpoint, appended (the file is opened in append mode only,
    never rewritten; give it `chattr +a` or a WORM share to keep it so)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"

    def publish(self, checkpoint: Checkpoint) -> None:
        line = json.dumps(
            {
                "seq": checkpoint.seq,
                "hash": checkpoint.hash,
                "at": checkpoint.at.isoformat() if checkpoint.at else None,
                "mac": checkpoint.mac,
            },
            sort_keys=True,
        )
        with open(self.path, "a+b") as f:  # O_APPEND: every write lands at the end
            torn = False
            if f.seek(0, os.SEEK_END) > 0:  # a line cut short by a crash ends here
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
            f.write((b"\n" if torn else b"") + line.encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> tuple[list[Checkpoint], list[int]]:
        """Every checkpoint in the file, oldest first, and the numbers of lines that are
        not one (a torn write, or an edit). A missing file has none."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return [], []
        found, bad = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                at = datetime.fromisoformat(obj["at"]).astimezone(UTC) if obj["at"] else None
                found.append(
                    Checkpoint(int(obj["seq"]), str(obj["hash"]), at, obj["mac"], self.name)
                )
            except (ValueError, KeyError, TypeError):
                bad.append(number)
        return found, bad

    def latest(self) -> Checkpoint | None:
        found, _ = self.read()
        return found[-1] if found else None


class CheckpointSchedule:
    """Decides when a checkpoint is due and publishes it to every witness.

    `tick()` (call it from the worker's loop, every replica) publishes the day's
    checkpoint (UTC) once across replicas: the first to record it in
    `audit_checkpoints` (a unique day) publishes, the others find it taken. `now()`
    publishes one at once, e.g. when a request completes. A witness that fails is
    logged and skipped; a daily checkpoint no witness took is tried again next tick.
    """

    def __init__(
        self,
        audit: AuditLog,
        witnesses: Sequence[Witness],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.audit = audit
        self.witnesses = tuple(witnesses)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._broken_on: date | None = None

    def due(self) -> bool:
        """Has today's (UTC) checkpoint not been recorded yet?"""
        return not self.audit.checkpoint_saved(self._today())

    def tick(self) -> Checkpoint | None:
        """Publish today's checkpoint if no replica has; the checkpoint, or None."""
        try:
            return self._daily()
        except sa.exc.SQLAlchemyError as exc:
            log.error("audit checkpoint skipped: %s", type(exc).__name__)
            return None

    def now(self, kind: str = "request") -> Checkpoint | None:
        """Publish a checkpoint at once (when a request completes, or on demand); the
        checkpoint, or None when the store or the chain's head failed (logged, not raised:
        the caller's work is done)."""
        try:
            cp = self._checkpoint()
            if cp is None:
                return None
            took = self._publish(cp)
            self.audit.save_checkpoint(cp, kind=kind, published_to=",".join(took))
            return cp
        except sa.exc.SQLAlchemyError as exc:
            log.error("audit checkpoint skipped: %s", type(exc).__name__)
            return None

    def _daily(self) -> Checkpoint | None:
        day = self._today()
        if self.audit.checkpoint_saved(day):
            return None
        # Once a day the whole chain is checked against what the witnesses kept (the file
        # ones can be read back): a chain rewritten since must not be signed as the truth.
        kept = [cp for w in self.witnesses if isinstance(w, FileWitness) for cp in w.read()[0]]
        if not self.audit.verify(checkpoints=kept).ok:
            self._refuse("audit chain does not verify: no daily checkpoint published")
            return None
        cp = self._checkpoint()
        if cp is None:
            return None
        row = self.audit.save_checkpoint(cp, kind="daily", day=day)
        if row is None:  # another replica recorded today's first
            return None
        took = self._publish(cp)
        if self.witnesses and not took:
            self.audit.forget_checkpoint(row)  # the next tick tries again
            return None
        self.audit.mark_published(row, ",".join(took))
        return cp

    def _today(self) -> date:
        return self._clock().astimezone(UTC).date()

    def _checkpoint(self) -> Checkpoint | None:
        try:
            return self.audit.checkpoint()
        except ChainBroken:
            self._refuse("audit chain head does not verify: no checkpoint published")
            return None

    def _refuse(self, why: str) -> None:
        if self._broken_on != self._today():  # once a day, not every tick
            self._broken_on = self._today()
            log.error(why)

    def _publish(self, cp: Checkpoint) -> list[str]:
        took = []
        for witness in self.witnesses:
            name = getattr(witness, "name", type(witness).__name__)
            try:
                witness.publish(cp)
            except Exception as exc:  # noqa: BLE001 - one witness failing never stops another
                log.error("audit checkpoint not published to %s: %s", name, type(exc).__name__)
                continue
            took.append(name)
        return took
