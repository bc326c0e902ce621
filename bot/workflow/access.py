"""Access requests (GDPR Art. 15): a copy of everything the estate holds about a person.

`/mim export <subject>` resolves the subject exactly as an erasure does, reads every
system that holds them (in parallel, under the search deadline), builds the package
(bot/workflow/export_package.py) in memory, and sends it to the requester: nothing is written
to disk, so the bot keeps no package even when it is killed mid-export. The request is
a record like an erasure's (id, due date, audit trail); it completes, and is scrubbed,
once every system was read. A system that could not be read is named in the package
and the reply, and the request stays open (failed) until a later export of the same
person by the same exporter reads it, or an approver closes it with a reason.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from bot.audit import SubjectKeyer
from bot.config import PolicyConfig
from bot.errors import RequestStateError
from bot.logs import log_failure
from bot.lookup.show import PersonView, ShowService, SystemRecord
from bot.permissions.roles import Actor
from bot.workflow.events import Exported, RequestCreated
from bot.workflow.export_package import Package, build_package, remove_stale_folders
from bot.workflow.notifications.delivery import NotDelivered, PackageSender
from bot.workflow.requests import Request, RequestKind, Status, add_calendar_month
from bot.workflow.store import RequestStore
from bot.workflow.subject_keys import subject_keys
from connectors.base import Query

__all__ = ["AccessService", "ExportResult"]

# How long one export holds its request against a second at once: longer than reading
# every system and an upload take, short enough that a crashed export blocks no one long.
EXPORT_LEASE = timedelta(minutes=10)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    request: Request
    files: tuple[str, ...]
    unread: tuple[str, ...]  # labels of the systems that could not be read
    sha256: str  # of the zip that was sent
    reasons: tuple[str, ...] = ()  # why each of `unread` could not be read (safe text)


@dataclass
class AccessService:
    store: RequestStore
    show: ShowService
    keyer: SubjectKeyer
    sender: PackageSender | None  # None: this front end cannot deliver (the worker)
    policy: PolicyConfig
    texts: Mapping[str, Mapping[str, str]] | None = None  # README overrides per system

    def __post_init__(self) -> None:
        # Built once at the start of serve, worker and console: a version that wrote
        # the package to disk may have left plaintext behind when it was killed.
        remove_stale_folders()

    def export(self, query: Query, *, actor: Actor) -> ExportResult:
        """Resolve, read, package, send, forget the package. Nothing is created when the
        subject is not exactly one person or nobody can be read."""
        sender = self.sender
        if sender is None:
            raise RequestStateError("This front end cannot deliver an access package.")
        answered: list[SystemRecord] = []

        def progress(records: tuple[SystemRecord, ...]) -> None:
            answered.extend(records)
            try:  # a progress message is a courtesy: it never stops the export
                sender.progress(actor.user_id, tuple(answered))
            except Exception as exc:  # noqa: BLE001 - boundary of a courtesy
                log_failure(log, "export progress message not sent", exc)

        try:
            return self._export(query, actor, sender, progress)
        finally:
            sender.finished(actor.user_id)

    def _export(
        self,
        query: Query,
        actor: Actor,
        sender: PackageSender,
        progress: Callable[[tuple[SystemRecord, ...]], None],
    ) -> ExportResult:
        view = self.show.show(query, actor=actor, command="export", progress=progress)
        request = self._request(view, actor)
        owner = f"export-{uuid.uuid4().hex[:12]}"
        until = self.store.clock() + EXPORT_LEASE
        if not self.store.decisions.claim_access(request.id, owner, until):
            raise RequestStateError(
                f"An export of {request.id} is already running; its package comes to your "
                "DM. Nothing more was sent."
            )
        try:
            return self._send(view, request, actor, sender)
        finally:
            self.store.decisions.release_access(request.id, owner)  # a no-op once concluded

    def _send(
        self, view: PersonView, request: Request, actor: Actor, sender: PackageSender
    ) -> ExportResult:
        # Policy may encrypt the zip; its password is then shown once, apart from it.
        password = secrets.token_urlsafe(18) if self.policy.export_encrypt else None
        package = build_package(
            request_id=request.id,
            created=self.store.clock(),
            subject_name=view.subject.display_name,
            systems=(*view.systems, *view.absent),
            texts=self.texts,
            password=password,
        )
        digest = hashlib.sha256(package.data).hexdigest()
        self._deliver(sender, actor, request.id, package, password)
        # Recorded once it arrived: a failed upload leaves the request open, unaudited
        # as "export", so the next `/mim export` tries again.
        event = Exported(
            actor=actor.user_id,
            roles=tuple(actor.role_names),
            request_id=request.id,
            systems=tuple((s.system, s.outcome.value) for s in view.systems),
            files=len(package.files),
            sha256=digest,
            complete=not package.unread,
        )
        self.store.decisions.conclude_access(request.id, event)
        return ExportResult(
            self.store.get(request.id),
            package.files,
            tuple(package.unread),
            digest,
            tuple(package.reasons),
        )

    def _deliver(
        self,
        sender: PackageSender,
        actor: Actor,
        request_id: str,
        package: Package,
        password: str | None,
    ) -> None:
        """Send the package, then its password; a failure says, truthfully, that the
        request exists and is open (the front end's own error would say nothing changed)."""
        try:
            sender.send(actor.user_id, request_id, package)
        except Exception as exc:  # any sender failure (Slack's, the network's): told
            log_failure(log, "access package for %s not delivered", exc, request_id)
            raise NotDelivered(request_id) from exc
        if password:
            try:
                sender.send_password(actor.user_id, request_id, password)
            except Exception as exc:  # as above
                log_failure(log, "password for %s not shown", exc, request_id)
                raise NotDelivered(request_id, password=True) from exc

    def _request(self, view: PersonView, actor: Actor) -> Request:
        """The caller's own open access request for the person (a second export reads
        what the first could not), or a new one. Another exporter's open request is
        refused rather than completed: its requester would be told it was done with
        data they never received, and one person has one open access request."""
        subject = view.subject
        keys = subject_keys(self.keyer, subject)
        open_id = self.store.open_for(keys.person, RequestKind.ACCESS)
        if open_id:
            request = self.store.get(open_id)
            if request.requester != actor.user_id:
                raise RequestStateError(
                    f"{open_id}, another exporter's access request for this person, is "
                    "open: they complete it by running the export again, or an approver "
                    f"closes it with /mim cancel {open_id} <reason>. Nothing was sent."
                )
            if request.status not in (Status.PLANNED, Status.FAILED):
                raise RequestStateError(f"{open_id} is {request.status.value}.")
            return request
        now = self.store.clock()
        due = add_calendar_month(now, self.policy.deadline_months)
        return self.store.create(
            requester=actor.user_id,
            reason=None,
            subject=subject,
            keys=keys,
            steps=[],
            approvals_needed=0,
            due_at=due,
            expires_at=due + timedelta(days=1),
            event=RequestCreated(
                actor=actor.user_id,
                roles=tuple(actor.role_names),
                kind=RequestKind.ACCESS,
                steps=(),
            ),
        )
