"""The request store: requests created and read here; their status moves, step leases
and residual checks in the parts it holds (`decisions`, `steps`, `residuals`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from bot.audit import AuditLog
from bot.errors import AlreadyOpen
from bot.workflow.events import ApprovalGiven, RequestCreated
from bot.workflow.requests import PlannedStep, Request, RequestKind, Status, Subject
from bot.workflow.schema import batches, request_approvals, request_person_keys, requests
from bot.workflow.store.base import Clock, StoreContext
from bot.workflow.store.batches import BatchStore
from bot.workflow.store.decisions import Decisions
from bot.workflow.store.ids import RequestIds
from bot.workflow.store.reminders import Reminders
from bot.workflow.store.residuals import ResidualChecks
from bot.workflow.store.rows import insert_steps, read_request, read_requests
from bot.workflow.store.steps import StepLeases
from bot.workflow.subject_keys import SubjectKeys

__all__ = ["RequestStore", "open_key"]


def open_key(kind: str, subject_key: str) -> str:
    """The unique key an open request holds, from its first person key: the key itself for
    an erasure (as stored since migration 0006), a hash of kind and key for other kinds."""
    if kind == RequestKind.ERASURE:
        return subject_key
    return hashlib.sha256(f"{kind}:{subject_key}".encode()).hexdigest()


class RequestStore:
    def __init__(
        self, engine: sa.Engine, *, clock: Clock | None = None, audit: AuditLog | None = None
    ) -> None:
        self.ctx = StoreContext(engine, audit=audit, **({"clock": clock} if clock else {}))
        self.engine = engine
        self.clock = self.ctx.clock
        self._ids = RequestIds(engine)
        self.decisions = Decisions(self.ctx)
        self.steps = StepLeases(self.ctx)
        self.residuals = ResidualChecks(self.ctx)
        self.reminders = Reminders(self.ctx)
        self.batches = BatchStore(self.ctx)

    def create(
        self,
        *,
        requester: str,
        reason: str | None,
        subject: Subject,
        keys: SubjectKeys,
        steps: Sequence[PlannedStep],
        approvals_needed: int,
        due_at: datetime,
        expires_at: datetime,
        event: RequestCreated,
        batch: tuple[str, ApprovalGiven] | None = None,
    ) -> Request:
        """Store a new request (audited); `AlreadyOpen` when one is open for the person.
        A member of an approved retention batch (`batch`: its id and the batch's approval)
        is stored approved, by the batch's approver, with both events in one transaction."""
        now = self.clock()
        self._ids.ensure(now.year)
        kind = event.kind
        open_id = self.open_for(keys.person, kind)
        if open_id:
            raise AlreadyOpen(open_id)
        row = {
            "kind": event.kind,
            "status": Status.PLANNED.value,
            "version": 1,
            "requester": requester,
            "reason": reason,
            "received_at": now,
            "due_at": due_at,
            "expires_at": expires_at,
            "subject_keys": list(keys.subject),
            "subject": subject.to_json(),
            "plan": [s.summary for s in steps],
            "approvals_needed": approvals_needed,
            "updated_at": now,
            "open_key": open_key(kind, keys.person[0]) if keys.person else None,
        }
        if batch is not None:
            row |= {
                "batch_id": batch[0],
                "status": Status.APPROVED.value,
                "decided_by": batch[1].actor,
                "decided_at": now,
            }
        try:
            with self.engine.begin() as conn:
                request_id = self._ids.next(conn, now.year)
                conn.execute(sa.insert(requests).values(id=request_id, **row))
                if keys.person:  # the claim: a key another open request holds fails here
                    conn.execute(
                        sa.insert(request_person_keys),
                        [{"kind": kind, "key": k, "request_id": request_id} for k in keys.person],
                    )
                insert_steps(conn, request_id, steps, first=1)
                self.ctx.log(conn, event, request_id)
                if batch is not None:
                    conn.execute(
                        sa.insert(request_approvals).values(
                            request_id=request_id, approver=batch[1].actor, at=now
                        )
                    )
                    self.ctx.log(conn, batch[1], request_id)
                return read_request(conn, request_id)
        except sa.exc.IntegrityError:
            open_id = self.open_for(keys.person, kind)  # another replica was first
            if open_id:
                raise AlreadyOpen(open_id) from None
            raise

    def open_for(
        self, person_keys: Sequence[str], kind: RequestKind = RequestKind.ERASURE
    ) -> str | None:
        """The id of an open request of `kind` about the person any of `person_keys`
        names (bot/workflow/subject_keys.py; one of each kind at a time: an access request may run
        beside an erasure). A request opened before migration 0009 holds no person keys:
        its subject keys are compared, which hold the same person's mail, UPN, GUID and
        ids (and a domain's too, which `person_keys` never holds, so it blocks no one
        else)."""
        wanted = sorted(set(person_keys))
        pk = request_person_keys.c
        claimed = sa.select(pk.request_id).where(pk.kind == kind, pk.key.in_(wanted)).limit(1)
        legacy = sa.select(requests.c.id, requests.c.subject_keys).where(
            requests.c.open_key.is_not(None),
            requests.c.kind == kind,
            ~sa.exists().where(pk.request_id == requests.c.id),
        )
        with self.engine.connect() as conn:
            found = conn.execute(claimed).scalar_one_or_none() if wanted else None
            if found is not None:
                return str(found)
            for request_id, keys in conn.execute(legacy):
                if set(wanted) & set(keys):
                    return str(request_id)
        return None

    def get(self, request_id: str) -> Request:
        with self.engine.connect() as conn:
            return read_request(conn, request_id)

    def many(self, request_ids: Sequence[str]) -> list[Request]:
        """The requests `ids` lists, in that order, read together in one transaction."""
        with self.engine.connect() as conn:
            return read_requests(conn, request_ids)

    def ids(
        self,
        *,
        statuses: Iterable[Status] | None = None,
        requester: str | None = None,
        limit: int = 50,
    ) -> list[str]:
        query = sa.select(requests.c.id).order_by(requests.c.received_at.desc()).limit(limit)
        if statuses is not None:
            query = query.where(requests.c.status.in_([s.value for s in statuses]))
        if requester is not None:
            query = query.where(requests.c.requester == requester)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def runnable(self) -> list[str]:
        """Requests a runner should look at: approved, running or verifying; not those of
        a retention batch whose driver is at work (it runs its own, within its limit)."""
        b = batches.c
        driven = sa.exists().where(b.id == requests.c.batch_id, b.lease_until > self.clock())
        query = (
            sa.select(requests.c.id)
            .where(
                requests.c.status.in_(
                    [s.value for s in (Status.APPROVED, Status.RUNNING, Status.VERIFYING)]
                ),
                ~driven,
            )
            .order_by(requests.c.received_at.desc())
            .limit(500)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def of_batch(self, batch_id: str, statuses: Iterable[Status] | None = None) -> list[str]:
        """The ids of a batch's erasures (of `statuses`), oldest first."""
        query = sa.select(requests.c.id).where(requests.c.batch_id == batch_id)
        if statuses is not None:
            query = query.where(requests.c.status.in_([s.value for s in statuses]))
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(requests.c.id)).scalars())

    def batch_statuses(self, batch_id: str) -> dict[Status, int]:
        """How many of a batch's erasures stand at each status."""
        query = (
            sa.select(requests.c.status, sa.func.count())
            .where(requests.c.batch_id == batch_id)
            .group_by(requests.c.status)
        )
        with self.engine.connect() as conn:
            return {Status(s): n for s, n in conn.execute(query)}
