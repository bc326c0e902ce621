"""Everything a handler may call, built once from the configuration and passed in.

No globals: the Slack app, the console and the tests each build their own
`Services` (tests pass their own connectors or a shorter timeout).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.audit import AuditLog, SubjectKeyer
from bot.audit.records import AuditOutcome
from bot.audit.witness import CheckpointSchedule, FileWitness, Witness
from bot.config import AppConfig
from bot.config.building import build_connectors
from bot.database import create_engine, migrate
from bot.logs import log_failure
from bot.lookup.search import SearchService
from bot.lookup.show import ShowService
from bot.ops.datamap.build import TIMEOUT as DATAMAP_TIMEOUT
from bot.ops.datamap.build import build_datamap
from bot.ops.datamap.model import ART30_FIELDS, Art30, DataMap
from bot.ops.health import Readiness
from bot.permissions.authz import Authorizer
from bot.permissions.roles import RoleResolver, UsergroupLookup
from bot.workflow.access import AccessService
from bot.workflow.batch.running import BatchDriver
from bot.workflow.batch.schedule import ScheduledSweep
from bot.workflow.batch.service import SCHEDULE, BatchService
from bot.workflow.deadlines import DeadlineClock
from bot.workflow.decisions import DecisionService
from bot.workflow.erasure import ErasureService
from bot.workflow.holds import HoldStore
from bot.workflow.notifications.audited import AuditedNotifier
from bot.workflow.notifications.delivery import PackageSender
from bot.workflow.notifications.notify import Notifier
from bot.workflow.rectification import RectificationService
from bot.workflow.requests import RequestKind
from bot.workflow.residual_checks import ResidualChecker
from bot.workflow.runner import Runner
from bot.workflow.store import RequestStore
from bot.workflow.sweeps import SweepService
from connectors.base import Connector
from connectors.sweeps import HoldQuery

log = logging.getLogger(__name__)

__all__ = ["Services", "build_connectors", "build_services", "datamap_of", "scheduled_sweep"]


@dataclass
class Services:
    config: AppConfig
    engine: sa.Engine
    audit: AuditLog
    keyer: SubjectKeyer
    roles: RoleResolver
    authz: Authorizer
    connectors: Sequence[Connector]
    search: SearchService
    requests: RequestStore
    runner: Runner
    erasure: ErasureService
    decisions: DecisionService  # approve, reject, done, retry, cancel, extend: every kind
    residuals: ResidualChecker
    show: ShowService
    access: AccessService
    deadlines: DeadlineClock
    rectification: RectificationService
    readiness: Readiness  # GET /readyz
    checkpoints: CheckpointSchedule  # the audit chain's head, published to its witnesses
    jobs: ThreadPoolExecutor | None = field(default=None)  # background runs (Slack app)
    sender: PackageSender | None = None  # files to a user's DM (exports, the data map)
    notifier: Notifier | None = None  # the front end's own (unaudited): the data map watch
    holds: HoldStore | None = None  # people who must not be erased (GDPR Art. 17(3))
    sweeps: SweepService | None = None  # whom the retention rules would erase now
    batches: BatchService | None = None  # a sweep's people, approved once
    batch_driver: BatchDriver | None = None  # runs approved batches within the limit
    closers: list[Callable[[], object]] = field(default_factory=list)  # a front end's pools

    def close(self) -> None:
        for closer in self.closers:
            closer()
        if self.batch_driver is not None:
            self.batch_driver.stop()
        if self.jobs is not None:
            self.jobs.shutdown(wait=True)
        self.search.close()
        self.readiness.close()
        for connector in self.connectors:
            connector.close()
        self.engine.dispose()


def build_services(
    config: AppConfig,
    *,
    connectors: Sequence[Connector] | None = None,
    usergroup_members: UsergroupLookup | None = None,
    notifier: Notifier,
    sender: PackageSender | None = None,
    witnesses: Sequence[Witness] = (),
    clock: Callable[[], datetime] | None = None,
    background: bool = False,
) -> Services:
    """Open the database (migrating it), the audit log, roles, connectors and search."""
    # Migrations may take long: their own engine, without the per-use deadline.
    tools = create_engine(config.audit.url, timeout=None)
    try:
        migrate(tools)
    finally:
        tools.dispose()
    engine = create_engine(config.audit.url, timeout=config.audit.timeout_seconds)
    audit = AuditLog(engine, chain_key=config.audit.chain_key)
    keyer = SubjectKeyer(config.audit.subject_key)
    conns = list(connectors) if connectors is not None else build_connectors(config)
    for role in sorted(set(config.policy.manual_step_roles.values()) - set(config.roles)):
        # Its manual steps would wait for a Done nobody can press: say so at start-up.
        log.warning("policy.manual_step_roles names %s, but roles: gives it to no one", role)
    roles = RoleResolver(
        config.roles,
        usergroup_members=usergroup_members,
        cache_seconds=config.slack.usergroup_cache_seconds,
    )
    authz = Authorizer.from_config(
        config.permissions,
        four_eyes=config.policy.four_eyes,
        step_roles=config.policy.manual_step_roles.values(),
    )
    search = SearchService(
        conns,
        audit=audit,
        keyer=keyer,
        timeout=config.search.timeout_seconds,
        max_hits_per_system=config.search.max_hits_per_system,
    )
    store = RequestStore(engine, audit=audit, clock=clock)
    file_witness = config.audit.witness_file
    checkpoints = CheckpointSchedule(
        audit, [*witnesses, *([FileWitness(file_witness)] if file_witness else [])]
    )
    told = AuditedNotifier(notifier, audit)
    by_name = {c.name: c for c in conns}
    rc = config.runner
    holds = HoldStore(engine, clock=store.clock)
    runner = Runner(
        holds=holds,
        store=store,
        connectors=by_name,
        notifier=told,
        lease=timedelta(seconds=rc.lease_seconds),
        attempts=rc.attempts,
        backoff_seconds=rc.backoff_seconds,
        timeout=rc.step_timeout_seconds,
        wait_limit=timedelta(hours=rc.wait_limit_hours),
        on_completed=checkpoints.now,  # a witnessed checkpoint per completed request
    )
    jobs = ThreadPoolExecutor(max_workers=4, thread_name_prefix="runner") if background else None

    def execute(request_id: str) -> None:
        # In the Slack app a click must not wait for the run; the console runs it inline.
        if jobs is None:
            runner.run(request_id)
        else:
            jobs.submit(run_logged, request_id)

    def run_logged(request_id: str) -> None:
        # Nobody waits on the job's future: a failure would vanish. The worker's
        # periodic resume picks the request up again.
        try:
            runner.run(request_id)
        except Exception as exc:  # noqa: BLE001 - boundary of a background job
            log_failure(log, "runner: request %s could not advance", exc, request_id)

    erasure = ErasureService(
        holds=holds,
        store=store,
        search=search,
        connectors=by_name,
        keyer=keyer,
        notifier=told,
        policy=config.policy,
        timeout=rc.step_timeout_seconds,
    )
    decisions = DecisionService(
        store=store,
        notifier=told,
        policy=config.policy,
        execute=execute,
        authz=authz,
        replanners={RequestKind.ERASURE: erasure.replan_copies},
    )
    show = ShowService(
        search=search, connectors=by_name, audit=audit, timeout=config.search.timeout_seconds
    )
    # A delete checks every source of holds, as a sweep does (GDPR Art. 17(3)).
    sweeps = SweepService(
        connectors=conns,
        rules=[r.rule() for r in config.retention.rules],
        hold_query=HoldQuery(
            group=config.retention.holds.ad_group, column=config.retention.holds.hr_column
        ),
        listed_holds=config.retention.holds.subjects,
        holds=holds,
        search=search,
        store=store,
        keyer=keyer,
        audit=audit,
        clock=store.clock,
        timeout=max(30.0, config.search.timeout_seconds),
    )
    erasure.hold_check = sweeps.hold_of
    driver: BatchDriver | None = None  # set below; the service starts it on approval
    batches = BatchService(
        store=store,
        notifier=told,
        policy=config.policy,
        connectors=conns,
        execute=lambda batch_id: driver.start(batch_id) if driver else None,
        retry_request=lambda request_id, actor: decisions.retry(request_id, actor=actor),
    )
    driver = BatchDriver(
        store=store,
        erasure=erasure,
        runner=runner,
        batches=batches,
        max_parallel=config.retention.max_parallel,
        lease=timedelta(seconds=rc.lease_seconds),
        background=background,
    )
    told.member_finished = batches.member_finished
    told.batch_thread = batches.thread
    return Services(
        config=config,
        engine=engine,
        audit=audit,
        keyer=keyer,
        roles=roles,
        authz=authz,
        connectors=conns,
        search=search,
        requests=store,
        runner=runner,
        erasure=erasure,
        decisions=decisions,
        residuals=ResidualChecker(
            store=store, connectors=by_name, notifier=told, timeout=rc.step_timeout_seconds
        ),
        show=show,
        deadlines=DeadlineClock(store, told, audit, clock=store.clock),
        rectification=RectificationService(
            store=store,
            search=search,
            connectors=by_name,
            keyer=keyer,
            notifier=told,
            policy=config.policy,
            owners=erasure.owners,
            timeout=rc.step_timeout_seconds,
        ),
        access=AccessService(
            store=store,
            show=show,
            keyer=keyer,
            sender=sender,
            policy=config.policy,
            texts=config.export.systems,
        ),
        readiness=Readiness(engine, conns, timeout=config.search.timeout_seconds),
        checkpoints=checkpoints,
        jobs=jobs,
        sender=sender,
        notifier=notifier,
        holds=holds,
        sweeps=sweeps,
        batches=batches,
        batch_driver=driver,
    )


def scheduled_sweep(services: Services) -> ScheduledSweep | None:
    """The worker's sweep on `retention.schedule` (None when it is off)."""
    cron = services.config.retention.schedule
    if cron is None or services.sweeps is None or services.batches is None:
        return None
    sweeps, batches, audit = services.sweeps, services.batches, services.audit

    def failed(exc: Exception) -> None:
        audit.record(
            actor=SCHEDULE.user_id, roles=SCHEDULE.role_names, action="retention_sweep",
            outcome=AuditOutcome.FAILED, detail={"scheduled": True, "error": type(exc).__name__},
        )  # fmt: skip

    return ScheduledSweep(
        services.engine,
        cron,
        lambda: batches.propose(sweeps.sweep(actor=SCHEDULE), actor=SCHEDULE),
        clock=services.requests.clock,
        failed=failed,
    )


def datamap_of(
    config: AppConfig,
    connectors: Sequence[Connector],
    *,
    now: datetime,
    timeout: float | None = None,
) -> DataMap:
    """The estate's data map, with what app.yaml says that configuration cannot know: the
    third parties' systems and the Art. 30 columns (`datamap:`), and each system's retention
    as the access package states it (`export.systems.<name>.retention`)."""
    d = config.datamap
    return build_datamap(
        connectors,
        now=now,
        timeout=timeout or DATAMAP_TIMEOUT,
        external=d.external,
        art30=Art30(**{key: getattr(d, key) for key, _ in ART30_FIELDS}),
        retention_statements={
            name: fields["retention"]
            for name, fields in config.export.systems.items()
            if fields.get("retention")
        },
    )
