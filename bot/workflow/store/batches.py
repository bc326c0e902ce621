"""Retention batches in the database: created with their members, each move a
compare-and-set audited in its own transaction, one driver at a time by lease, members
claimed one by one (so a driver that died leaves nobody started twice), and the summary's
redraws throttled across replicas."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.audit import Entry
from bot.audit.records import AuditOutcome
from bot.errors import NotFound
from bot.workflow.batch.model import ENDED, Batch, BatchMember, BatchStatus, Place
from bot.workflow.schema import batch_members, batches
from bot.workflow.store.base import StoreContext, utc
from connectors.base import Query, QueryKind

__all__ = ["AlreadyProposed", "BatchStore", "NewMember"]


class AlreadyProposed(Exception):
    """Another batch, stored meanwhile, already proposes some of these people."""

    def __init__(self, taken: Mapping[str, str]) -> None:
        super().__init__(f"{len(taken)} already proposed")
        self.taken = dict(taken)  # audit key -> the batch that has them


@dataclass(frozen=True)
class NewMember:
    rule: str
    place: Place  # PROPOSED or KEPT_OUT
    label: str
    query: Query | None
    note: str | None = None
    subject_key: str | None = None
    since: datetime | None = None


class BatchStore:
    def __init__(self, ctx: StoreContext) -> None:
        self.ctx = ctx
        self.engine = ctx.engine

    # -- create and read ----------------------------------------------------------

    def create(
        self,
        *,
        requester: str,
        roles: Sequence[str],
        rules: Sequence[str],
        members: Iterable[NewMember],
        expires_at: datetime,
    ) -> Batch:
        """Store a batch awaiting approval with its members, audited (`batch_proposed`)."""
        now = self.ctx.clock()
        members = list(members)
        claims = [m.subject_key for m in members if m.place is Place.PROPOSED and m.subject_key]
        for _ in range(100):
            batch_id = self._next_id(now.year)
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        sa.insert(batches).values(
                            id=batch_id, status=BatchStatus.AWAITING_APPROVAL.value, version=1,
                            requester=requester, rules=list(rules), created_at=now,
                            expires_at=expires_at, updated_at=now,
                        )
                    )  # fmt: skip
                    rows = [_member_row(batch_id, seq, m) for seq, m in enumerate(members, 1)]
                    for chunk in range(0, len(rows), 500):
                        conn.execute(sa.insert(batch_members), rows[chunk : chunk + 500])
                    places: dict[str, int] = {}
                    for r in rows:
                        places[r["place"]] = places.get(r["place"], 0) + 1
                    self._log(conn, batch_id, requester, roles, "batch_proposed",
                              {"rules": list(rules), "places": places})  # fmt: skip
                break
            except sa.exc.IntegrityError:
                taken = self._taken(claims)
                if taken:
                    raise AlreadyProposed(taken) from None
                continue  # another replica took the id first
        else:  # pragma: no cover - a hundred lost races
            raise RuntimeError("could not allocate a batch id")
        return self.get(batch_id)

    def get(self, batch_id: str) -> Batch:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(batches).where(batches.c.id == batch_id)).first()
            if row is None:
                raise NotFound(f"There is no batch {batch_id}.")
            m = batch_members.c
            places = {
                Place(p): n
                for p, n in conn.execute(
                    sa.select(m.place, sa.func.count()).where(m.batch_id == batch_id)
                    .group_by(m.place)
                )
            }  # fmt: skip
            rule_counts = dict(
                conn.execute(
                    sa.select(m.rule, sa.func.count())
                    .where(m.batch_id == batch_id, m.place != Place.KEPT_OUT.value,
                           m.place != Place.DROPPED.value)
                    .group_by(m.rule)
                ).all()
            )  # fmt: skip
        return _batch(row, places, rule_counts)

    def status(self, batch_id: str) -> BatchStatus:
        """The batch's status alone (a lane asks before each member: no counts)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(batches.c.status).where(batches.c.id == batch_id)
            ).scalar_one_or_none()
        if value is None:
            raise NotFound(f"There is no batch {batch_id}.")
        return BatchStatus(value)

    def ids(self, statuses: Iterable[BatchStatus]) -> list[str]:
        query = (
            sa.select(batches.c.id)
            .where(batches.c.status.in_([s.value for s in statuses]))
            .order_by(batches.c.created_at)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def members(
        self, batch_id: str, places: Iterable[Place] | None = None, *, limit: int | None = None
    ) -> list[BatchMember]:
        """Members in their order (of `places`), at most `limit`."""
        m = batch_members.c
        query = sa.select(batch_members).where(m.batch_id == batch_id).order_by(m.seq)
        if places is not None:
            query = query.where(m.place.in_([p.value for p in places]))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_member(r) for r in conn.execute(query)]

    def proposed_in(self, subject_key: str) -> str | None:
        """The open batch (awaiting approval, running or paused) that still has this
        person to erase, if any: a second sweep must not propose them again."""
        return self._taken([subject_key]).get(subject_key)

    def _taken(self, keys: Sequence[str]) -> dict[str, str]:
        m = batch_members.c
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in range(0, len(keys), 500):
                statement = sa.select(m.open_key, m.batch_id).where(
                    m.open_key.in_(list(keys[chunk : chunk + 500]))
                )
                found |= {key: batch for key, batch in conn.execute(statement)}
        return found

    def labels(self, request_ids: Sequence[str]) -> dict[str, str | None]:
        """The names of the members whose erasures these are."""
        m = batch_members.c
        with self.engine.connect() as conn:
            return dict(
                conn.execute(sa.select(m.request_id, m.label).where(m.request_id.in_(request_ids)))
                .tuples()
                .all()
            )

    # -- decisions ----------------------------------------------------------------

    def posted(self, batch_id: str, message: tuple[str, str] | None) -> None:
        if message is None:
            return
        channel, ts = message
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(batches).where(batches.c.id == batch_id)
                .values(channel=channel, message_ts=ts)
            )  # fmt: skip

    def drop(
        self, batch_id: str, seqs: Sequence[int], *, actor: str, roles: Sequence[str]
    ) -> list[int]:
        """Take proposed members out of a batch still awaiting approval; the seqs dropped."""
        m = batch_members.c
        with self.engine.begin() as conn:
            if not self._touch(conn, batch_id, {BatchStatus.AWAITING_APPROVAL}):
                return []
            dropped = list(
                conn.execute(
                    sa.select(m.seq).where(m.batch_id == batch_id, m.seq.in_(list(seqs)),
                                           m.place == Place.PROPOSED.value)
                ).scalars()
            )  # fmt: skip
            if dropped:
                conn.execute(
                    sa.update(batch_members)
                    .where(m.batch_id == batch_id, m.seq.in_(dropped))
                    .values(place=Place.DROPPED.value, note="dropped by an approver", open_key=None)
                )
                self._log(conn, batch_id, actor, roles, "batch_dropped",
                          {"dropped": len(dropped)})  # fmt: skip
            return dropped

    def move(
        self,
        batch_id: str,
        from_: Iterable[BatchStatus],
        to: BatchStatus,
        *,
        actor: str,
        roles: Sequence[str],
        action: str,
        detail: Mapping[str, Any] | None = None,
        unexpired: bool = False,
        **values: Any,
    ) -> bool:
        """Move the batch's status if it is one of `from_` (and, `unexpired`, its approval
        window is still open), audited (`action`) with it. An end state scrubs its
        members' names and identifiers."""
        now = self.ctx.clock()
        if to is BatchStatus.RUNNING and BatchStatus.AWAITING_APPROVAL in set(from_):
            values.setdefault("started_at", now)
        if to in ENDED:
            values.setdefault("finished_at", now)
        with self.engine.begin() as conn:
            moved = conn.execute(
                sa.update(batches)
                .where(batches.c.id == batch_id, batches.c.status.in_([s.value for s in from_]),
                       batches.c.expires_at > now if unexpired else sa.true())
                .values(status=to.value, version=batches.c.version + 1, updated_at=now, **values)
            ).rowcount == 1  # fmt: skip
            if not moved:
                return False
            if to in ENDED:
                conn.execute(
                    sa.update(batch_members).where(batch_members.c.batch_id == batch_id)
                    .values(label=None, query=None, lease_owner=None, lease_until=None,
                            open_key=None)
                )  # fmt: skip
            self._log(conn, batch_id, actor, roles, action, dict(detail or {}))
            return True

    def awaiting_past(self, now: datetime) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(batches.c.id).where(
                        batches.c.status == BatchStatus.AWAITING_APPROVAL.value,
                        batches.c.expires_at <= now,
                    )
                ).scalars()
            )

    # -- the driver and its members -----------------------------------------------

    def claim_driver(self, batch_id: str, owner: str, lease: timedelta) -> bool:
        """Become the batch's one driver (or renew it) while it runs."""
        now = self.ctx.clock()
        b = batches.c
        with self.engine.begin() as conn:
            return conn.execute(
                sa.update(batches)
                .where(b.id == batch_id, b.status == BatchStatus.RUNNING.value,
                       sa.or_(b.lease_until.is_(None), b.lease_until < now, b.lease_owner == owner))
                .values(lease_owner=owner, lease_until=now + lease)
            ).rowcount == 1  # fmt: skip

    def release_driver(self, batch_id: str, owner: str) -> None:
        b = batches.c
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(batches).where(b.id == batch_id, b.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )  # fmt: skip

    def claim_member(self, batch_id: str, owner: str, lease: timedelta) -> BatchMember | None:
        """The next proposed member nobody is starting (or whose starter died), leased to
        this claim alone (`BatchMember.claim`): a lane whose lease ran out cannot settle
        the member after another took it."""
        m = batch_members.c
        token = f"{owner}/{uuid.uuid4().hex[:8]}"
        for _ in range(20):
            now = self.ctx.clock()
            free = sa.or_(m.lease_until.is_(None), m.lease_until < now)
            with self.engine.begin() as conn:
                row = conn.execute(
                    sa.select(batch_members)
                    .where(m.batch_id == batch_id, m.place == Place.PROPOSED.value, free)
                    .order_by(m.seq).limit(1)
                ).first()  # fmt: skip
                if row is None:
                    return None
                won = conn.execute(
                    sa.update(batch_members)
                    .where(m.batch_id == batch_id, m.seq == row.seq,
                           m.place == Place.PROPOSED.value, free)
                    .values(lease_owner=token, lease_until=now + lease)
                ).rowcount == 1  # fmt: skip
                if won:
                    return replace(_member(row), claim=token)
        return None

    def started(self, member: BatchMember, request_id: str) -> bool:
        """The member's erasure is stored; False when the claim was lost meanwhile."""
        return self._settle(member, place=Place.STARTED, request_id=request_id)

    def not_started(self, member: BatchMember, note: str) -> bool:
        return self._settle(member, place=Place.NOT_STARTED, note=note)

    def later(self, member: BatchMember, after: timedelta) -> int:
        """A system did not answer while the member was started: proposed again, claimed
        by nobody until `after` has passed. How many tries it has had."""
        m = batch_members.c
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(batch_members)
                .where(m.batch_id == member.batch_id, m.seq == member.seq,
                       m.place == Place.PROPOSED.value, m.lease_owner == member.claim)
                .values(lease_owner="later", lease_until=self.ctx.clock() + after,
                        attempts=m.attempts + 1)
            )  # fmt: skip
            return int(
                conn.execute(
                    sa.select(m.attempts).where(m.batch_id == member.batch_id, m.seq == member.seq)
                ).scalar_one()
            )

    def summary_due(self, batch_id: str, every: timedelta) -> bool:
        """True for the one caller that may redraw the summary now (at most once per
        `every`, whichever replica asks)."""
        now = self.ctx.clock()
        b = batches.c
        with self.engine.begin() as conn:
            return conn.execute(
                sa.update(batches)
                .where(b.id == batch_id,
                       sa.or_(b.summary_at.is_(None), b.summary_at <= now - every))
                .values(summary_at=now)
            ).rowcount == 1  # fmt: skip

    def file_listed(self, batch_id: str, file_id: str | None) -> None:
        """Where the file of every member is (None: there is none, or it was deleted)."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(batches).where(batches.c.id == batch_id).values(file_id=file_id))

    def file_of(self, batch_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(batches.c.file_id).where(batches.c.id == batch_id)
            ).scalar_one_or_none()

    def files_owed(self) -> list[str]:
        """Ended batches whose member file is still in Slack (its deletion failed)."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(batches.c.id).where(
                        batches.c.file_id.is_not(None),
                        batches.c.status.in_([s.value for s in ENDED]),
                    )
                ).scalars()
            )

    def summary_missed(self, batch_id: str) -> None:
        """The redraw failed (Slack down, 429s past the retry): owed at the next round."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(batches).where(batches.c.id == batch_id).values(summary_at=None))

    def summaries_owed(self) -> list[str]:
        """Batches, ended or running, whose last redraw failed."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(batches.c.id).where(
                        batches.c.summary_at.is_(None),
                        batches.c.status != BatchStatus.AWAITING_APPROVAL.value,
                    )
                ).scalars()
            )

    # -- parts ----------------------------------------------------------------------

    def _settle(self, member: BatchMember, *, place: Place, **values: Any) -> bool:
        """Move a claimed member on, if the claim still holds it (compare-and-set)."""
        m = batch_members.c
        with self.engine.begin() as conn:
            return conn.execute(
                sa.update(batch_members)
                .where(m.batch_id == member.batch_id, m.seq == member.seq,
                       m.place == Place.PROPOSED.value, m.lease_owner == member.claim)
                .values(place=place.value, lease_owner=None, lease_until=None, open_key=None,
                        **values)
            ).rowcount == 1  # fmt: skip

    def _touch(self, conn: sa.Connection, batch_id: str, statuses: set[BatchStatus]) -> bool:
        """Lock the batch's row while it is in `statuses` (a drop and an approval queue)."""
        b = batches.c
        return conn.execute(
            sa.update(batches)
            .where(b.id == batch_id, b.status.in_([s.value for s in statuses]))
            .values(version=b.version + 1, updated_at=self.ctx.clock())
        ).rowcount == 1  # fmt: skip

    def _next_id(self, year: int) -> str:
        prefix = f"BATCH-{year}-"
        with self.engine.connect() as conn:
            last = conn.execute(
                sa.select(sa.func.max(batches.c.id)).where(batches.c.id.like(prefix + "%"))
            ).scalar_one_or_none()
        n = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        return f"{prefix}{n:04d}"

    def _log(
        self,
        conn: sa.Connection,
        batch_id: str,
        actor: str,
        roles: Sequence[str],
        action: str,
        detail: Mapping[str, Any],
    ) -> None:
        if self.ctx.audit is None:
            raise RuntimeError("this store was built without an audit log")
        entry = Entry(actor, list(roles), action, AuditOutcome.OK, None, batch_id, detail)
        self.ctx.audit.append(conn, entry)


def _member_row(batch_id: str, seq: int, m: NewMember) -> dict[str, Any]:
    return {
        "batch_id": batch_id, "seq": seq, "rule": m.rule, "place": m.place.value,
        "label": m.label, "note": m.note, "subject_key": m.subject_key, "since": m.since,
        "query": {"kind": m.query.kind.value, "value": m.query.value} if m.query else None,
        "open_key": m.subject_key if m.place is Place.PROPOSED else None,
    }  # fmt: skip


def _member(row: Any) -> BatchMember:
    q = row.query
    return BatchMember(
        batch_id=row.batch_id,
        seq=row.seq,
        rule=row.rule,
        place=Place(row.place),
        label=row.label,
        query=Query(QueryKind(q["kind"]), q["value"]) if q else None,
        note=row.note,
        subject_key=row.subject_key,
        since=utc(row.since),
        request_id=row.request_id,
        attempts=row.attempts,
    )


def _batch(row: Any, places: Mapping[Place, int], rule_counts: Mapping[str, int]) -> Batch:
    return Batch(
        id=row.id,
        status=BatchStatus(row.status),
        version=row.version,
        requester=row.requester,
        rules=tuple(row.rules),
        created_at=utc(row.created_at),  # type: ignore[arg-type]
        expires_at=utc(row.expires_at),  # type: ignore[arg-type]
        places=dict(places),
        rule_counts=dict(rule_counts),
        decided_by=row.decided_by,
        decided_at=utc(row.decided_at),
        channel=row.channel,
        message_ts=row.message_ts,
        started_at=utc(row.started_at),
        finished_at=utc(row.finished_at),
    )
