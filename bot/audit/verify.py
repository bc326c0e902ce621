"""Verifying the chain: recompute every event, check the head and each checkpoint, and
name the first event that differs (an edit, a delete, an insert, a truncation, a
rewritten head)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from bot.audit.hashing import keyed_hash, plain_hash, row_fields
from bot.audit.records import (
    AFTER_HEAD,
    EDITED,
    GENESIS,
    MISSING,
    UNLINKED,
    UNLINKED_PLAIN,
    ChainReport,
    Checkpoint,
    Problem,
)
from bot.audit.schema import audit_events, audit_head

__all__ = ["verify_chain"]


def verify_chain(
    engine: sa.Engine,
    key: bytes,
    checkpoints: Iterable[Checkpoint],
    *,
    authentic: Callable[[Checkpoint], bool],
    head_ok: Callable[[Any], bool],
) -> ChainReport:
    """Recompute the whole chain, check the head and every checkpoint (those given and
    those recorded in the database), and report each problem, the first event first.

    Each event is checked on its own (its hash over its predecessor's hash and its
    fields, keyed from `keyed_from`) and then linked to the one before it; a link
    that breaks only because the event before it is bad or missing is not reported
    again, so the first event named is the one edited, forged or deleted."""
    given = list(checkpoints)
    problems = _Problems()
    trusted: dict[int, list[Checkpoint]] = {}
    for cp in given:
        if authentic(cp):
            trusted.setdefault(cp.seq, []).append(cp)
        else:
            problems.add(
                None,
                f"the checkpoint for event {cp.seq} from {cp.source or 'input'} does not "
                "match its MAC (forged, or signed with another chain key)",
                where="checkpoint",
            )
    count, last_seq, last_hash, last_bad = 0, 0, GENESIS, False
    with _snapshot(engine) as conn:
        head = conn.execute(sa.select(audit_head).where(audit_head.c.id == 1)).one_or_none()
        if head is None:  # deleted: judge the events alone, all as keyed
            problems.add(None, "missing: the chain's head row was deleted", where="head")
        keyed_from = max(1, head.keyed_from) if head is not None else 1
        rows = conn.execute(
            sa.select(audit_events).order_by(audit_events.c.seq).execution_options(yield_per=2000)
        )
        for r in rows:
            count += 1
            gap = r.seq != last_seq + 1
            if gap:
                problems.add(last_seq + 1, MISSING, last_seq=r.seq - 1)
            fields = row_fields(r)
            if r.seq >= keyed_from:
                computed = keyed_hash(key, r.prev_hash, fields)
            else:
                computed = plain_hash(r.prev_hash, fields)
            sealed = hmac.compare_digest(computed, r.hash)
            if not sealed:
                problems.add(r.seq, EDITED)
            elif not (gap or last_bad) and r.prev_hash != last_hash:
                # Sealed, so its prev_hash is what its predecessor's hash was.
                plain_before = r.seq == keyed_from and keyed_from > 1
                problems.add(r.seq, UNLINKED_PLAIN if plain_before else UNLINKED)
            for cp in trusted.get(r.seq, ()):
                if cp.hash != r.hash:
                    problems.add(r.seq, f"differs from the checkpoint {_said(cp)}")
            if head is not None and r.seq > head.seq:
                problems.add(r.seq, f"{AFTER_HEAD} (the head is at event {head.seq})")
            last_seq, last_hash, last_bad = r.seq, r.hash, not sealed
    for cp in trusted.get(0, ()):
        if cp.hash != GENESIS:
            problems.add(None, f"the checkpoint {_said(cp)} is not of an empty chain")
    # The newest events: the head and the checkpoints say how far the chain went.
    claims = [(head.seq, f"the head is at event {head.seq}")] if head is not None else []
    claims += [
        (seq, f"the checkpoint {_said(cps[0])} says event {seq} existed")
        for seq, cps in sorted(trusted.items())
    ]
    furthest, why = max(claims, key=lambda c: c[0], default=(0, ""))
    if furthest > last_seq:
        problems.add(last_seq + 1, f"missing: {why}", last_seq=furthest)
    if head is None:
        pass
    elif head.seq == last_seq and head.hash != last_hash:
        problems.add(None, f"its hash does not match event {last_seq}", where="head")
    if head is None:
        pass
    elif head.mac is None and head.seq >= keyed_from:
        problems.add(
            None, f"not signed, though events from {keyed_from} on are keyed", where="head"
        )
    elif not head_ok(head):
        problems.add(
            None,
            f"(event {head.seq}) does not match its MAC: rewritten without the chain key",
            where="head",
        )
    found = problems.sorted()
    first = next((p.seq for p in found if p.seq is not None), None)
    newest = max((cp for cps in trusted.values() for cp in cps), key=lambda c: c.seq, default=None)
    return ChainReport(
        ok=not found,
        events=count,
        first_bad_seq=first,
        problem=found[0].text if found else "",
        problems=tuple(found),
        keyed_from=keyed_from,
        checkpoint=newest,
        checkpoints=sum(map(len, trusted.values())),
    )


@contextmanager
def _snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection that reads the head and the events as of one moment, so events
    appended while a long verify runs are neither "after the head" nor "missing"."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        elif conn.dialect.name == "sqlite":
            # pysqlite opens no transaction for a SELECT: each would see its own moment.
            conn.exec_driver_sql("BEGIN")
        yield conn


def _said(cp: Checkpoint) -> str:
    when = f" of {cp.at:%Y-%m-%d %H:%M} UTC" if cp.at else ""
    return f"at event {cp.seq}{when} ({cp.source or 'given'})"


class _Problems:
    """Problems in the order found; a run of events with the same problem is one line."""

    def __init__(self) -> None:
        self._items: list[Problem] = []
        self._run: dict[str, int] = {}  # text -> index of the last item with it

    def add(
        self, seq: int | None, text: str, *, last_seq: int | None = None, where: str = ""
    ) -> None:
        where = where or ("event" if seq is not None else "checkpoint")
        i = self._run.get(text)
        if seq is not None and i is not None:
            run = self._items[i]
            if run.where == "event" and (run.last_seq or run.seq or 0) + 1 == seq:
                self._items[i] = Problem(run.seq, text, last_seq or seq, where)
                return
        self._run[text] = len(self._items)
        self._items.append(Problem(seq, text, last_seq, where))

    def sorted(self) -> list[Problem]:
        order = {"event": 0, "head": 1, "checkpoint": 2}
        return sorted(self._items, key=lambda p: (order[p.where], p.seq or 0))
