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

from bot.audit import SubjectKeyer
from bot.config import PolicyConfig
from bot.errors import AlreadyOpen, RequestStateError
from bot.lookup.calls import Outcome, call
from bot.lookup.search import SearchService
from bot.lookup.subjects import Match, single_subject
from bot.permissions.roles import Actor
from bot.workflow.manual import ManualOwners
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.requests import PlannedStep, Request, RequestKind
from bot.workflow.store import RequestStore
from bot.workflow.subject_keys import subject_keys
from bot.workflow.submission import submit_for_approval
from connectors.base import (
    Change,
    Connector,
    ManualTask,
    ObjectRef,
    PlanAction,
    Query,
    UpdatePlan,
)
from connectors.capabilities import management_agent, shows_lineage, updates
from connectors.lineage import MetaverseView

__all__ = ["RectificationService"]

DOWNSTREAM = "the next sync overwrites a change made anywhere else"


@dataclass(frozen=True)
class _Source:
    """Where one attribute is authoritative: a management agent, and its connector."""

    agent: str | None  # None: the metaverse names no MA (manual or equal precedence, ...)
    connector: Connector | None
    why: str = ""  # the metaverse's words when no MA can be named
    name: str = ""  # the attribute as the metaverse spells it
    # The attribute the source's import flow reads (a rename: MV firstName <- givenName);
    # None when the flow is scripted, constant or not one direct mapping.
    source_attribute: str | None = None
    shown_by: str = ""  # the system whose lineage said so (the metaverse)


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
        keys = subject_keys(self.keyer, subject)
        already = self.store.open_for(keys.person, RequestKind.RECTIFICATION)
        if already:
            raise AlreadyOpen(already)
        steps = self.plan(match, tuple(changes))
        return submit_for_approval(
            self.store,
            self.notifier,
            self.policy,
            kind=RequestKind.RECTIFICATION,
            actor=actor,
            subject=subject,
            keys=keys,
            steps=steps,
            reason=reason,
            approvals=self.policy.update_approvals,
        )

    def plan(self, match: Match, changes: tuple[Change, ...]) -> list[PlannedStep]:
        """Manual steps (where the bot cannot write) first, then one update per system."""
        refs = {hit.ref.system: hit.ref for hit in match.hits}
        sources = self._sources(match)  # None: no metaverse configured
        by_system: dict[str, list[Change]] = {}
        manual: list[PlannedStep] = []
        for change in changes:
            if sources is None:  # no metaverse: the one system that can write it
                by_system.setdefault(self._any_writer(change, refs).name, []).append(change)
                continue
            source = sources.get(change.attribute.lower())
            if source is None:
                raise RequestStateError(
                    f"The metaverse holds no {change.attribute} for this person, so its "
                    "source of authority is unknown: name the attribute as the metaverse "
                    f"does (e.g. {', '.join(sorted(x.name for x in sources.values())[:6])}). "
                    "Nothing was created."
                )
            c = source.connector
            named = source.source_attribute  # what the source calls it
            if source.agent and named and c is not None and c.name in refs and _can_write(c):
                by_system.setdefault(c.name, []).append(Change(named, change.value))
            else:  # no connector there, or a flow that cannot be followed back safely
                manual.append(self._by_hand(change, source, refs))
        automated = []
        for name, wanted in by_system.items():
            connector = self.connectors[name]
            planned = call(
                connector,
                lambda c=connector, r=refs[name], w=tuple(wanted): _plan(c, r, w, self.timeout),
                what="plan",
                timeout=self.timeout,
            )
            if planned.value is None and planned.outcome is Outcome.SKIPPED and sources:
                # The source refuses the bot this attribute (AD's mail, a key): by hand.
                by_source = {(x.source_attribute or "").lower(): x for x in sources.values()}
                manual += [
                    self._by_hand(c, by_source[c.attribute.lower()], refs, refused=planned.reason)
                    for c in wanted
                ]
                continue
            if planned.value is None:
                raise RequestStateError(
                    f"Cannot plan for {connector.label} ({planned.reason}). Nothing was created."
                )
            plan = planned.value
            if sources is None:
                note = f"no metaverse says where these come from: changed in {connector.label}"
                plan = replace(plan, notes=(*plan.notes, note))
            automated.append(PlannedStep(name, PlanAction.UPDATE, plan.summary, plan=plan))
        return manual + automated

    def _sources(self, match: Match) -> dict[str, _Source] | None:
        """Attribute (lower case) → who is authoritative for it (an MA and its connector,
        or the metaverse's words for why none can be named), from the metaverse's view of
        the person; None when no metaverse is configured. A metaverse that is configured
        but does not hold the person, or does not answer, creates nothing."""
        lineage = {n: v for n, c in self.connectors.items() if (v := shows_lineage(c)) is not None}
        if not lineage:
            return None
        by_agent = {agent: c for c in self.connectors.values() if (agent := management_agent(c))}
        hits = [hit for hit in match.hits if hit.ref.system in lineage]
        if not hits:
            raise RequestStateError(
                "The metaverse does not hold this person, so the sources of authority are "
                "unknown. Nothing was created."
            )
        out: dict[str, _Source] = {}
        for hit in hits:
            connector = self.connectors[hit.ref.system]
            shown = call(
                connector,
                lambda v=lineage[hit.ref.system], r=hit.ref: v.show(r, timeout=self.timeout),
                what="show",
                timeout=self.timeout,
            )
            if shown.outcome is not Outcome.FOUND or shown.value is None:
                raise RequestStateError(
                    f"Cannot tell the sources of authority: {connector.label} "
                    f"({shown.reason}). Nothing was created."
                )
            view: MetaverseView = shown.value
            for attribute in view.attributes:
                agent = attribute.source
                out[attribute.name.lower()] = _Source(
                    agent,
                    by_agent.get(agent) if agent else None,
                    attribute.authority or "unknown",
                    attribute.name,
                    attribute.source_attribute,
                    shown_by=connector.name,
                )
        return out

    def _any_writer(self, change: Change, refs: Mapping[str, ObjectRef]) -> Connector:
        """With no metaverse: the system holding the person that takes the attribute. Only a
        refusal of the attribute moves on to the next; any other failure creates nothing."""
        for name, ref in refs.items():
            c = self.connectors[name]
            if not _can_write(c):
                continue
            planned = call(
                c,
                lambda c=c, r=ref: _plan(c, r, (change,), self.timeout),
                what="plan",
                timeout=self.timeout,
            )
            if planned.value is not None:
                return c
            if planned.outcome is not Outcome.SKIPPED:
                raise RequestStateError(
                    f"Cannot plan for {c.label} ({planned.reason}). Nothing was created."
                )
        raise RequestStateError(
            f"No system that holds the person can change {change.attribute}. Nothing was created."
        )

    def _by_hand(
        self,
        change: Change,
        source: _Source,
        refs: Mapping[str, ObjectRef],
        *,
        refused: str | None = None,
    ) -> PlannedStep:
        """A person changes it at the source. The summary names no value (it outlives the
        request); the value travels in the step's plan, scrubbed when the request ends."""
        # No connector of the source: the step is the metaverse's, whose lineage named it.
        system = source.connector.name if source.connector else source.shown_by
        if source.agent is None:  # manual or equal precedence: no MA can be named
            summary = (
                f"Change {change.attribute} where the sync takes it from (the metaverse "
                f"names no source: {source.why}): {DOWNSTREAM}"
            )
        else:
            where = source.connector.label if source.connector else source.agent
            there = source.source_attribute or "the attribute its import flow reads"
            # The source's own reason (names attributes, never values): "multi-valued in
            # the directory's schema" tells the approver why a person must do it.
            cannot = (
                f"the bot cannot write it there: {refused}"
                if refused
                else ("the bot cannot write it there")
            )
            summary = (
                f"Change {change.attribute} in {where} ({there} there), its source of "
                f"authority ({cannot}): {DOWNSTREAM}"
            )
        ref = refs.get(system, ObjectRef(system, ""))
        return PlannedStep(
            system,
            PlanAction.MANUAL,
            summary,
            plan=UpdatePlan(ref, (change,), summary),
            assigned_role=self.owners.role(ManualTask.CORRECT_AT_SOURCE),
            task=ManualTask.CORRECT_AT_SOURCE,
        )


def _can_write(connector: Connector) -> bool:
    return updates(connector) is not None


def _plan(
    connector: Connector, ref: ObjectRef, changes: tuple[Change, ...], timeout: float
) -> UpdatePlan:
    updater = updates(connector)
    assert updater is not None  # planned only where `_can_write`
    return updater.plan_update(ref, changes, timeout=timeout)
