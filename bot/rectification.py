"""Rectification requests (GDPR Art. 16): correct a person's data at its source of authority.

For each attribute the metaverse says which management agent is authoritative (its
import precedence). Where the connector of that system can write (AD, BHOLD: `Updates`),
the change is planned there; where it cannot (HR, or a system without a connector), the
request carries a manual step saying exactly where to change it and why: a change made
downstream is overwritten by the next sync. Without a metaverse, or for an attribute it
does not hold, a system that holds the person and can write the attribute is used, and
the plan says the source of authority is unknown.

Like an erasure the request is approved in its thread (four eyes), its steps run durably
and each change is read back. Old values are never read into the request or the audit
chain; the new values live only in the steps' plans, scrubbed when the request ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from bot.audit import SubjectKeyer
from bot.audited_notifier import AuditedNotifier
from bot.calls import Outcome, call
from bot.config import PolicyConfig
from bot.errors import AlreadyOpen, RequestStateError
from bot.events import RequestCreated
from bot.manual import ManualOwners
from bot.requests import PlannedStep, Request, Status, add_calendar_month
from bot.roles import Actor
from bot.search import SearchService
from bot.store import RequestStore
from bot.subjects import Match, single_subject
from connectors.base import (
    Capability,
    Change,
    Connector,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    ShowsLineage,
    UpdatePlan,
    Updates,
)
from connectors.errors import NotSupported

__all__ = ["RectificationService"]

DOWNSTREAM = "the next sync overwrites a change made anywhere else"


@dataclass(frozen=True)
class _Source:
    """Where one attribute is authoritative: a management agent, and its connector."""

    agent: str | None  # None: the metaverse does not say
    connector: Connector | None


@dataclass
class RectificationService:
    store: RequestStore
    search: SearchService
    connectors: Mapping[str, Connector]
    keyer: SubjectKeyer
    notifier: AuditedNotifier
    policy: PolicyConfig
    owners: ManualOwners
    timeout: float = 5.0

    def request(
        self, query: Query, changes: Sequence[Change], *, actor: Actor, reason: str | None
    ) -> Request:
        """Resolve to one person, route each change to its source, store, post for approval."""
        result = self.search.find(query, actor=actor, command="update")
        match = single_subject(result)
        subject = match.subject()
        keys = self.keyer.keys(
            subject.account or subject.display_name, subject.identifiers.values()
        )
        already = self.store.open_for(keys, "rectification")
        if already:
            raise AlreadyOpen(already)
        steps = self.plan(match, tuple(changes))
        now = self.store.clock()
        request = self.store.create(
            requester=actor.user_id,
            reason=reason,
            subject=subject,
            subject_keys=keys,
            steps=steps,
            approvals_needed=self.policy.erasure_approvals,
            due_at=add_calendar_month(now, self.policy.deadline_months),
            expires_at=now + timedelta(hours=self.policy.approval_expires_hours),
            event=RequestCreated(
                actor=actor.user_id,
                roles=tuple(actor.role_names),
                kind="rectification",
                steps=tuple((s.system, s.action.value) for s in steps),
            ),
        )
        posted = self.notifier.approval_requested(replace(request, status=Status.AWAITING_APPROVAL))
        self.store.decisions.posted(request.id, posted)
        return self.store.get(request.id)

    def plan(self, match: Match, changes: tuple[Change, ...]) -> list[PlannedStep]:
        """Manual steps (where the bot cannot write) first, then one update per system."""
        refs = {hit.ref.system: hit.ref for hit in match.hits}
        sources = self._sources(match)
        by_system: dict[str, list[Change]] = {}
        manual: list[PlannedStep] = []
        for change in changes:
            source = sources.get(change.attribute.lower(), _Source(None, None))
            target = self._writer(source, change, refs)
            if target is not None:
                by_system.setdefault(target.name, []).append(change)
            elif source.agent is not None:
                manual.append(self._by_hand(change, source, refs))
            else:
                raise RequestStateError(
                    f"No system that holds the person can change {change.attribute}, and the "
                    "metaverse does not say where it comes from. Nothing was created."
                )
        automated = []
        for name, wanted in by_system.items():
            connector = self.connectors[name]
            planned = call(
                connector,
                lambda c=connector, r=refs[name], w=tuple(wanted): _plan(c, r, w, self.timeout),
                what="plan",
                timeout=self.timeout,
            )
            if planned.value is None:
                raise RequestStateError(
                    f"Cannot plan for {connector.label} ({planned.reason}). Nothing was created."
                )
            plan = planned.value
            unknown = _Source(None, None)
            if all(sources.get(c.attribute.lower(), unknown).agent is None for c in wanted):
                note = f"the source of authority is not known: changed in {connector.label}"
                plan = replace(plan, notes=(*plan.notes, note))
            automated.append(PlannedStep(name, PlanAction.UPDATE, plan.summary, plan=plan))
        return manual + automated

    def _sources(self, match: Match) -> dict[str, _Source]:
        """Attribute (lower case) → its authoritative MA and that MA's connector, from the
        metaverse's view of the person (none when there is no metaverse)."""
        by_agent = {
            getattr(c, "management_agent", None): c
            for c in self.connectors.values()
            if getattr(c, "management_agent", None)
        }
        out: dict[str, _Source] = {}
        for hit in match.hits:
            connector = self.connectors.get(hit.ref.system)
            if not isinstance(connector, ShowsLineage):
                continue
            shown = call(
                connector,
                lambda c=connector, r=hit.ref: c.show(r, timeout=self.timeout),
                what="show",
                timeout=self.timeout,
            )
            if shown.outcome is not Outcome.FOUND or shown.value is None:
                raise RequestStateError(
                    f"Cannot tell the sources of authority: {connector.label} "
                    f"({shown.reason}). Nothing was created."
                )
            for attribute in getattr(shown.value, "attributes", ()):
                agent = attribute.source
                if agent:
                    out[attribute.name.lower()] = _Source(agent, by_agent.get(agent))
        return out

    def _writer(
        self, source: _Source, change: Change, refs: Mapping[str, ObjectRef]
    ) -> Connector | None:
        """The connector to write `change` with: the source's own, if it can; with no
        source known, the first system holding the person that can write it."""
        if source.agent is not None:
            c = source.connector
            ok = c is not None and c.name in refs and _can_write(c)
            return c if ok else None
        for name, ref in refs.items():
            c = self.connectors[name]
            if _can_write(c) and _accepts(c, ref, change, self.timeout):
                return c
        return None

    def _by_hand(
        self, change: Change, source: _Source, refs: Mapping[str, ObjectRef]
    ) -> PlannedStep:
        """A person changes it at the source. The summary names no value (it outlives the
        request); the value travels in the step's plan, scrubbed when the request ends."""
        where = source.connector.label if source.connector else source.agent
        system = source.connector.name if source.connector else "mimsync"
        summary = (
            f"Change {change.attribute} in {where}, its source of authority "
            f"(the bot cannot write there): {DOWNSTREAM}"
        )
        ref = refs.get(system, ObjectRef(system, ""))
        return PlannedStep(
            system,
            PlanAction.MANUAL,
            summary,
            plan=UpdatePlan(ref, (change,), summary),
            assigned_role=self.owners.role(ManualTask.CORRECT_AT_SOURCE).value,
            task=ManualTask.CORRECT_AT_SOURCE,
        )


def _can_write(connector: Connector) -> bool:
    return Capability.UPDATE in connector.capabilities and isinstance(connector, Updates)


def _plan(connector: Connector, ref: ObjectRef, changes: tuple[Change, ...], timeout: float) -> Any:
    assert isinstance(connector, Updates)
    return connector.plan_update(ref, changes, timeout=timeout)


def _accepts(connector: Connector, ref: ObjectRef, change: Change, timeout: float) -> bool:
    """Whether the connector would write this attribute (it refuses one it cannot)."""
    try:
        _plan(connector, ref, (change,), timeout)
    except NotSupported:
        return False
    except Exception:  # noqa: BLE001 - any other failure: try the next system
        return False
    return True
