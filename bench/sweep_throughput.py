"""A retention batch's throughput (`/mim sweep`, then one approval): a sweep of N HR
leavers proposed as one batch, approved by another approver and driven `max_parallel`
at a time, against as many other leavers erased one at a time (`/mim delete` and
Approve, one after another) in the same run: people erased per second on each path,
Slack calls per person (target: at most 0.1), the most calls and connections HR saw at
once (at most `retention.max_parallel`), and the memory of the proposal and of the drive
at M and 10 M candidates (the drive's should stay flat, not grow with the batch). Run
from the repository root (about 10 minutes at the defaults on a 2-core machine, most of it
the 10,000-person memory run, slowed by tracemalloc):

    .venv/bin/python -m bench.sweep_throughput                      # 1,000 leavers
    .venv/bin/python -m bench.sweep_throughput --leavers 200 --memory-leavers 100
    .venv/bin/python -m bench.sweep_throughput --postgres           # HR in PostgreSQL
    .venv/bin/python -m bench.sweep_throughput --delay 0.002        # HR 2 ms away
    .venv/bin/python -m bench.sweep_throughput --hr-url postgresql+psycopg://u:p@host/db
    .venv/bin/python -m bench.sweep_throughput --help

Options: --leavers N (1000: the batch's people), --singles N (erased one at a time;
default N), --max-parallel N (4, `retention.max_parallel`), --delay S (0: seconds added
to each SQL statement HR runs, a round trip to a database across the network),
--memory-leavers M (1000: memory at M and 10 M candidates; 0 skips it), --hr-url URL
(HR's database; default an SQLite file in a temporary directory; the table
`bench_sweep_employees` is created there, replacing one of that name, and dropped at
the end), --postgres (HR in a throwaway PostgreSQL server, tests/support/postgres.py;
`$MIMBOT_TEST_POSTGRES_URL` points it at a running one). The bot's own database is
SQLite in the temporary directory either way.

Setup, untimed, for each run: the HR table (demo/hr_sample.py's columns) holds the N
batch leavers (an end date in 2020), one more on a legal hold for every hundred (found
by the rule, kept out of the batch), and the single path's leavers, whose end date is
90 days ago (so the rule leaves them alone); app.yaml as a deployment writes it: HR with
`allow_delete: true`, the rule `leavers` (ended, older than 24 months, `end_date`),
`retention.holds.hr_column: legal_hold`, the approvals and notifications channels;
`build_services(background=False)`, so the approval drives the batch on the caller's
thread (its lanes in a pool of their own) and each erasure runs inline, as the console
does.

* batch: `sweeps.sweep`, `batches.propose` (the message, and the CSV of its members in
  its thread) and `batches.approve` by the other approver, which drives the batch to
  done: each member resolved, checked and planned again, stored as its own approved
  erasure and run. Erased per second = people / seconds from the sweep to done (the
  parts are printed too); the batch must be done, every member's erasure completed,
  every row gone and those on hold kept.
* single: `erasure.request(Query(EMPLOYEE_ID, ...))` then `decisions.approve`, each
  erasure run before the next starts; half of them before the batch and half after, so
  the store's growth weighs on both paths alike.
* Slack calls: every request the Web API stand-in received during each path (the file
  upload's three among them), per person. The front end's own answers (the command's
  reply, the click's ack: one each per batch, one each per single request) are not
  made by these services and not counted.
* at once in HR: the connector's methods are wrapped on the instance (the class is
  left as it is, so capability detection, which on Python 3.12 looks attributes up
  statically, still finds what it implements) to count calls in flight, a call within
  a call on one thread counted once; HR's SQL engine (handed to the connector) counts
  the connections checked out at once (its pool's events). Both against `max_parallel`.
* memory: `tracemalloc` peak during the proposal, per candidate, and during the
  approval's drive above what it started with, at M and 10 M candidates (all 10 M
  erased), each in a fresh estate; the 10 M / M ratios say whether they stay flat.

What is real: the bot's services and its store, the HR connector on a real SQLite (or
PostgreSQL) database, `SlackNotifier` and slack_sdk's `WebClient` over HTTP. Stand-in:
Slack is the loopback Web API stub (tests/support/slack_stub.py), in a process of its
own so that it neither competes with the lanes for the GIL nor counts in the memory
figures; it answers in well under a millisecond. AD is not in this run, nor the MIM Sync
database, the MIM Service or the other systems: each erasure here is one HR row
(resolved, read, deleted, read back, verified), so the figures are the bot's own cost
per person, not a directory's (bench/erasure_throughput.py erases on a real Samba AD
DC). Nothing is asserted about speed: the ratios are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import multiprocessing as mp
import platform
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from slack_sdk import WebClient

from bench.report import print_ratio
from bot.config import AppConfig, parse_config
from bot.frontends.slack_notifier import SlackNotifier
from bot.services import Services, build_services
from bot.workflow.batch.model import BatchStatus, Place
from bot.workflow.requests import Status
from connectors.base import Connector, Query, QueryKind
from connectors.hr import HrConnector, HrSettings
from demo import hr_sample
from tests.support.postgres import fresh_database, postgres_server
from tests.support.slack_stub import MockSlack

BENCH = "sweep_throughput"
REQUESTER, APPROVER = "UBENCHREQ", "UBENCHAPP"
REASON = "bench: left the company"
TABLE = "bench_sweep_employees"
SLACK_TARGET = 0.1  # Slack calls per person, the target
MEMORY_TARGET = 1.5  # 10 M / M: flat within half again
ENV = {
    "BENCH_BOT_TOKEN": "xoxb-bench-not-a-token",
    "BENCH_SIGNING_SECRET": "bench-not-a-secret",
    "BENCH_SUBJECT_KEY": "bench-subject-key-not-a-secret",
    "BENCH_CHAIN_KEY": "bench-chain-key-not-a-secret-0123456789",
}
# The methods a connector's system is asked through (those the class has are wrapped).
CALLS = ("search", "read", "plan_delete", "apply_delete", "verify_absent", "health")
PAGED = ("stale", "on_hold")  # these answer an iterator: in flight while it fetches


# -- counting what each system is asked at once --------------------------------------


@dataclass
class Meter:
    """How many of something are under way at once, and the most there were."""

    now: int = 0
    peak: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _depth: threading.local = field(default_factory=threading.local)

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1

    def reset(self) -> None:
        with self._lock:
            self.peak = self.now

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """One call in flight on this thread, however deep: a method that calls another
        of its own (`plan_delete` reads first) is still one thing asked of the system."""
        depth = getattr(self._depth, "n", 0)
        self._depth.n = depth + 1
        if not depth:
            self.enter()
        try:
            yield
        finally:
            self._depth.n = depth
            if not depth:
                self.leave()


def metered(connector: Connector, meter: Meter) -> Connector:
    """The same connector, each of its methods counted in `meter` while it runs. The
    wrappers are set on the instance, so its class (and every `runtime_checkable`
    capability protocol, which Python 3.12 checks statically) sees it as before."""
    for name in CALLS + PAGED:
        if not hasattr(type(connector), name):
            continue
        original = getattr(connector, name)
        if name in PAGED:
            wrapper = functools.partial(_paged, original, meter)
        else:
            wrapper = functools.partial(_call, original, meter)
        setattr(connector, name, functools.update_wrapper(wrapper, original))
    return connector


def _call(method: Callable[..., Any], meter: Meter, *args: Any, **kwargs: Any) -> Any:
    with meter.inside():
        return method(*args, **kwargs)


def _paged(method: Callable[..., Any], meter: Meter, *args: Any, **kwargs: Any) -> Iterator[Any]:
    with meter.inside():
        it = iter(method(*args, **kwargs))
    while True:
        with meter.inside():  # a page is fetched inside next()
            try:
                item = next(it)
            except StopIteration:
                return
        yield item


def pooled(engine: sa.Engine, meter: Meter, delay: float) -> sa.Engine:
    """Count the engine's connections checked out at once; each statement `delay`
    seconds slower (a round trip to a database across the network)."""
    sa.event.listen(engine, "checkout", lambda *_: meter.enter())
    sa.event.listen(engine, "checkin", lambda *_: meter.leave())
    if delay:
        sa.event.listen(engine, "before_cursor_execute", lambda *_: time.sleep(delay))
    return engine


class RemoteSlack:
    """The Web API stub in a process of its own, started before any thread of this one:
    Slack is not inside the bot's process, so its handler threads do not compete with the
    lanes for the GIL and what it records of each call (the redrawn message's blocks)
    is not in this process's memory. `calls()` says how many of each method it had."""

    def __init__(self) -> None:
        ctx = mp.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._child = ctx.Process(target=_serve_slack, args=(child,), daemon=True)
        self._child.start()
        self.api_url: str = self._conn.recv()

    def calls(self) -> Counter[str]:
        self._conn.send("calls")
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._child.join(timeout=10)


def _serve_slack(conn: Any) -> None:
    slack = MockSlack().start()
    conn.send(slack.api_url)
    while conn.recv() == "calls":
        methods = [r.method for r in list(slack.requests)]  # a copy: handlers append
        conn.send(Counter("file upload" if m.startswith("/upload/") else m for m in methods))
    slack.stop()


# -- the estate (untimed) ---------------------------------------------------------


@dataclass
class Estate:
    services: Services
    slack: RemoteSlack  # not its own: one for the whole run
    hr_engine: sa.Engine  # HR's own (the connector's), for the checks
    calls: Meter  # calls in flight in HR
    connections: Meter  # HR connections checked out
    leavers: list[str]  # the batch's people (emp_no)
    held: list[str]  # found by the rule, on hold
    singles: list[str]  # erased one at a time

    def close(self) -> None:
        try:
            self.services.close()
        finally:
            self.hr_engine.dispose()


def people(leavers: int, singles: int) -> tuple[list[hr_sample.Employee], list[str], list[str]]:
    """HR's rows: the batch's leavers first, then those on hold, then the single path's;
    with the emp_no of those on hold and of the single path's."""

    def leaver(i: int, prefix: str, ended: date, hold: str | None = None) -> hr_sample.Employee:
        return hr_sample.Employee(
            str(i), f"{prefix}{i}", f"Leaver {i}", "", "Sales", end_date=ended, legal_hold=hold
        )

    long_ago, recent = date(2020, 1, 1), date.today() - timedelta(days=90)
    rows = [leaver(700000 + i, "lv", long_ago) for i in range(leavers)]
    held = [
        leaver(790000 + i, "lh", long_ago, "litigation 2026-044")
        for i in range(max(1, leavers // 100))
    ]
    baseline = [leaver(800000 + i, "ls", recent) for i in range(singles)]
    return rows + held + baseline, [p.emp_no for p in held], [p.emp_no for p in baseline]


def app_config(workdir: Path, hr_url: str, max_parallel: int) -> AppConfig:
    raw = {
        "slack": {
            "bot_token": "${BENCH_BOT_TOKEN}",
            "signing_secret": "${BENCH_SIGNING_SECRET}",
            "approvals_channel": "CAPPROVALS",
            "notifications_channel": "CNOTIFY",
        },
        "roles": {"requester": {"users": [REQUESTER]}, "approver": {"users": [APPROVER]}},
        "audit": {
            "url": f"sqlite:///{workdir / 'audit.db'}",
            "subject_key": "${BENCH_SUBJECT_KEY}",
            "chain_key": "${BENCH_CHAIN_KEY}",
        },
        "connectors": {
            "hr": {
                "url": hr_url,
                "table": TABLE,
                "key": "emp_no",
                "identifiers": {"employee_id": "emp_no", "account": "login",
                                "display_name": "full_name"},
                "allow_delete": True,
            }
        },
        "retention": {
            "rules": [
                {"name": "leavers", "system": "hr", "population": "ended",
                 "older_than_months": 24, "column": "end_date"}
            ],
            "holds": {"hr_column": "legal_hold"},
            "max_parallel": max_parallel,
        },
    }  # fmt: skip
    return parse_config(raw, environ=ENV, source="bench")


def estate(
    workdir: Path, hr_url: str, slack: RemoteSlack, args: argparse.Namespace, leavers: int,
    singles: int,
) -> Estate:  # fmt: skip
    rows, held, baseline = people(leavers, singles)
    engine = sa.create_engine(hr_url, hide_parameters=True)
    hr_sample.create_table(engine, rows, name=TABLE)
    config = app_config(workdir, hr_url, args.max_parallel)
    calls, connections = Meter(), Meter()
    (settings,) = [s for spec, s in config.connectors.enabled() if spec.name == "hr"]
    assert isinstance(settings, HrSettings)
    settings = replace(settings, max_hits=config.search.max_hits_per_system)
    hr = metered(HrConnector(settings, engine=pooled(engine, connections, args.delay)), calls)
    client = WebClient(token=ENV["BENCH_BOT_TOKEN"], base_url=slack.api_url)
    services = build_services(
        config,
        connectors=[hr],
        notifier=SlackNotifier.from_config(client, config),
        background=False,
    )
    return Estate(
        services, slack, engine, calls, connections,
        [r.emp_no for r in rows[:leavers]], held, baseline,
    )  # fmt: skip


def hr_left(e: Estate, emp_nos: list[str]) -> int:
    """How many of these rows HR still holds."""
    t = sa.table(TABLE, sa.column("emp_no"))
    with e.hr_engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(t).where(t.c.emp_no.in_(emp_nos))
        return int(conn.execute(query).scalar_one())


def drop_table(hr_url: str) -> None:
    engine = sa.create_engine(hr_url)
    try:
        hr_sample.table(sa.MetaData(), TABLE).drop(engine, checkfirst=True)
    finally:
        engine.dispose()


# -- the timed paths ----------------------------------------------------------------


@dataclass
class Run:
    label: str
    people: int = 0
    seconds: float = 0.0
    slack: Counter[str] = field(default_factory=Counter)
    peak_calls: int = 0
    peak_connections: int = 0
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.people / self.seconds

    @property
    def slack_per_person(self) -> float:
        return sum(self.slack.values()) / self.people


@contextlib.contextmanager
def watched(e: Estate, run: Run) -> Iterator[None]:
    """Count Slack calls and the peaks while the block runs (added to `run`)."""
    before = e.slack.calls()
    e.calls.reset()
    e.connections.reset()
    try:
        yield
    finally:
        run.slack.update(e.slack.calls() - before)
        run.peak_calls = max(run.peak_calls, e.calls.peak)
        run.peak_connections = max(run.peak_connections, e.connections.peak)


def singles(e: Estate, emp_nos: list[str], run: Run) -> None:
    svc = e.services
    requester, approver = svc.roles.actor(REQUESTER), svc.roles.actor(APPROVER)
    ids = []
    with watched(e, run):
        t0 = time.perf_counter()
        for emp_no in emp_nos:
            query = Query(QueryKind.EMPLOYEE_ID, emp_no)
            request = svc.erasure.request(query, actor=requester, reason=REASON)
            svc.decisions.approve(request.id, actor=approver)
            ids.append(request.id)
        run.seconds += time.perf_counter() - t0
    run.people += len(emp_nos)
    done = {Status.COMPLETED, Status.COMPLETED_WITH_RESIDUALS}
    bad = [i for i in ids if svc.requests.get(i).status not in done]
    if bad:
        raise RuntimeError(f"{len(bad)} single erasures did not complete, e.g. {bad[0]}")


def batch(e: Estate, run: Run) -> None:
    svc = e.services
    assert svc.sweeps is not None and svc.batches is not None
    requester, approver = svc.roles.actor(REQUESTER), svc.roles.actor(APPROVER)
    with watched(e, run):
        t0 = time.perf_counter()
        sweep = svc.sweeps.sweep(actor=requester)
        t1 = time.perf_counter()
        proposed = svc.batches.propose(sweep, actor=requester)
        t2 = time.perf_counter()
        assert proposed is not None, "the sweep proposed nobody"
        svc.batches.approve(proposed.id, actor=approver)
        t3 = time.perf_counter()
    check_batch(e, proposed.id)
    run.people = len(e.leavers)
    run.seconds = t3 - t0
    run.parts = {"sweep": t1 - t0, "propose": t2 - t1, "approve + drive": t3 - t2}


def check_batch(e: Estate, batch_id: str) -> None:
    svc = e.services
    assert svc.batches is not None
    done = svc.requests.batches.get(batch_id)
    if done.status is not BatchStatus.DONE:
        raise RuntimeError(f"{batch_id} is {done.status.value} after its approval, not done")
    statuses = svc.requests.batch_statuses(batch_id)
    erased = statuses.get(Status.COMPLETED, 0) + statuses.get(Status.COMPLETED_WITH_RESIDUALS, 0)
    if erased != len(e.leavers) or done.count(Place.KEPT_OUT) != len(e.held):
        raise RuntimeError(
            f"{batch_id}: {erased} of {len(e.leavers)} erased ({statuses}), "
            f"{done.count(Place.KEPT_OUT)} kept out of {len(e.held)} on hold"
        )
    if left := hr_left(e, e.leavers):
        raise RuntimeError(f"{batch_id}: HR still holds {left} of its people")
    if hr_left(e, e.held) != len(e.held):
        raise RuntimeError(f"{batch_id}: someone on hold was erased")


def throughput(
    args: argparse.Namespace, hr_url: Callable[[Path], str], slack: RemoteSlack
) -> list[Run]:
    n, s = args.leavers, args.singles
    bat, one = Run("batch"), Run("single")
    with tempfile.TemporaryDirectory(prefix="mimbot-bench-sweep-tp-") as tmp:
        url = hr_url(Path(tmp))
        e = estate(Path(tmp), url, slack, args, n, s)
        try:
            t0 = time.perf_counter()
            singles(e, e.singles[: s // 2], one)
            batch(e, bat)
            singles(e, e.singles[s // 2 :], one)
            if left := hr_left(e, e.singles):
                raise RuntimeError(f"HR still holds {left} of the single path's people")
            print(f"throughput run: {time.perf_counter() - t0:.1f} s", flush=True)
        finally:
            e.close()
            drop_table(url)
    return [bat, one]


# -- memory -----------------------------------------------------------------------------


@dataclass
class Memory:
    candidates: int
    propose: int  # peak bytes during the proposal
    drive: int  # peak bytes during the approval's drive, above its start
    seconds: float


def memory(
    args: argparse.Namespace, hr_url: Callable[[Path], str], slack: RemoteSlack, n: int
) -> Memory:
    with tempfile.TemporaryDirectory(prefix="mimbot-bench-sweep-mem-") as tmp:
        url = hr_url(Path(tmp))
        e = estate(Path(tmp), url, slack, args, n, 0)
        try:
            svc = e.services
            assert svc.sweeps is not None and svc.batches is not None
            requester, approver = svc.roles.actor(REQUESTER), svc.roles.actor(APPROVER)
            sweep = svc.sweeps.sweep(actor=requester)
            t0 = time.perf_counter()
            tracemalloc.start()
            try:
                proposed = svc.batches.propose(sweep, actor=requester)
                propose_peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.reset_peak()
                start = tracemalloc.get_traced_memory()[0]
                assert proposed is not None
                svc.batches.approve(proposed.id, actor=approver)
                drive_peak = tracemalloc.get_traced_memory()[1] - start
            finally:
                tracemalloc.stop()
            seconds = time.perf_counter() - t0
            check_batch(e, proposed.id)
            candidates = len(sweep.members)
        finally:
            e.close()
            drop_table(url)
    print(
        f"memory run: {candidates:>6} candidates, proposal peak {propose_peak / 1e6:7.2f} MB"
        f" ({propose_peak / candidates / 1e3:5.2f} kB each), drive peak"
        f" {drive_peak / 1e6:7.2f} MB ({drive_peak / candidates / 1e3:5.2f} kB each),"
        f" {seconds:.0f} s under tracemalloc",
        flush=True,
    )
    return Memory(candidates, propose_peak, drive_peak, seconds)


# -- the report ---------------------------------------------------------------------------


def report(paths: list[Run], mem: list[Memory], max_parallel: int) -> None:
    bat, one = paths
    print(f"\n== {bat.people} in one batch against {one.people} one at a time ==")
    for p in paths:
        parts = "".join(f", {k} {v:.2f} s" for k, v in p.parts.items())
        print(
            f"  {p.label:6} {p.people:>6} people in {p.seconds:7.1f} s: {p.rate:7.1f} erased/s"
            f" ({p.seconds / p.people * 1e3:6.1f} ms each{parts})"
        )
    print("\n== Slack calls ==")
    for p in paths:
        calls = ", ".join(f"{m} {c}" for m, c in sorted(p.slack.items()))
        print(
            f"  {p.label:6} {sum(p.slack.values()):>6} calls, {p.slack_per_person:.3f} per person"
            f" ({calls})"
        )
    print(f"\n== at once in HR (the limit: max_parallel {max_parallel}) ==")
    for p in paths:
        print(
            f"  {p.label:6} peak {p.peak_calls} calls in flight,"
            f" {p.peak_connections} connections checked out"
        )
    if mem:
        small, big = mem
        print("\n== memory (tracemalloc peaks) ==")
        for m in mem:
            print(
                f"  {m.candidates:>6} candidates: proposal {m.propose / m.candidates / 1e3:6.2f}"
                f" kB each, drive {m.drive / 1e6:6.2f} MB in all"
                f" ({m.drive / m.candidates / 1e3:6.3f} kB each)"
            )
    print()
    print_ratio(BENCH, "batch/single erased per second", bat.rate / one.rate)
    print_ratio(BENCH, "batch Slack calls per person", bat.slack_per_person, target=SLACK_TARGET)
    print_ratio(BENCH, "batch peak HR calls/max_parallel", bat.peak_calls / max_parallel, target=1)
    print_ratio(
        BENCH,
        "batch peak HR connections/max_parallel",
        bat.peak_connections / max_parallel,
        target=1,
    )
    if mem:
        small, big = mem
        per = [m.propose / m.candidates for m in mem]
        print_ratio(
            BENCH, "10M/M proposal memory per candidate", per[1] / per[0], target=MEMORY_TARGET
        )
        print_ratio(BENCH, "10M/M drive peak memory", big.drive / small.drive, target=MEMORY_TARGET)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m bench.{BENCH}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--leavers", type=int, default=1000, help="the batch's people (N)")
    parser.add_argument("--singles", type=int, help="erased one at a time (default: N)")
    parser.add_argument("--max-parallel", type=int, default=4, help="retention.max_parallel")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds added to each HR SQL statement"
    )
    parser.add_argument(
        "--memory-leavers", type=int, default=1000, help="memory at M and 10 M (0: skip)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--hr-url", help="HR's database (default: SQLite in a temporary dir)")
    where.add_argument("--postgres", action="store_true", help="HR in a throwaway PostgreSQL")
    args = parser.parse_args(argv)
    args.singles = args.leavers if args.singles is None else args.singles
    if args.leavers < 1 or args.singles < 2:
        parser.error("--leavers must be at least 1 and --singles at least 2")
    m = args.memory_leavers
    if args.postgres:
        hr_kind = "PostgreSQL (a throwaway server)"
    elif args.hr_url:
        hr_kind = sa.make_url(args.hr_url).render_as_string(hide_password=True)
    else:
        hr_kind = "SQLite (a temporary file)"
    print(
        f"python {platform.python_version()}, {platform.machine()}; leavers {args.leavers},"
        f" singles {args.singles}, max_parallel {args.max_parallel}, HR delay {args.delay:g} s, "
        + (f"memory at {m} and {10 * m} candidates" if m else "no memory runs")
        + f"; HR: {hr_kind}",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        slack = RemoteSlack()  # first: forked while this process has no other thread
        stack.callback(slack.stop)
        admin = stack.enter_context(postgres_server()) if args.postgres else None

        def hr_url(workdir: Path) -> str:
            """A database for one run's HR table."""
            if admin is not None:
                return fresh_database(admin)
            return args.hr_url or f"sqlite:///{workdir / 'hr.db'}"

        paths = throughput(args, hr_url, slack)
        mem = [memory(args, hr_url, slack, size) for size in (m, 10 * m)] if m else []
    report(paths, mem, args.max_parallel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
