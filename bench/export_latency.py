"""Latency of `/mim export` of one person against the bare reads and the upload alone.

The issue's target: an export takes at most 1.2 x (the slowest single system's bare read
+ the upload of the package), since the systems are read in parallel. Run from the
repository root (see bench/README.md):

    .venv/bin/python bench/export_latency.py [--delay 0.2] [--rounds 15] [--scenario demo]

Two estates (`--scenario`):

* `demo` (default): the demo estate (`demo/estate.py`) in a temporary directory, so the
  real connectors and protocols run: HR in SQLite, the offline AD, the SQLite metaverse,
  the MIM Service, PAM and Certificate Management behind the loopback WS-Management
  stand-in (https, Basic), BHOLD's SOAP and Certificate Management's REST stand-ins
  (https). As in bench/winrm_overhead.py, every script call (MIM Service, PAM and
  Certificate Management; not the ping) sleeps `--delay` seconds in the stand-in (the
  time PowerShell and the cmdlet would take: a WAN and a slow host).
* `memory`: seven MemoryConnectors named like the demo's systems, each sleeping a fixed,
  plausible time per call (`MEMORY_DELAYS`, scaled by `--delay / 0.2`); those of the
  systems that find and read in one call in the demo (`ONE_TRIP`) do so here too.

The package goes through the real Slack sender (`bot/frontends/slack_sender.py`: a
progress message in the requester's DM, updated as each system answers, then
`files_upload_v2`) to the loopback Web API stand-in (`tests/support/slack_stub.py`).

Timed, interleaved in the same rounds (who goes first rotates), after warm-up rounds:

* `export`: `services.access.export(query, actor=admin)` end to end: resolve (the find
  fan-out, audited, in which each system that can, `SearchesRecords`, also reads: the
  MIM Service, PAM, BHOLD, Certificate Management and AD), read the others (HR; the
  metaverse's lineage view) in parallel (audited), progress messages, build the zip,
  upload it, conclude the request (a new access request each time).
* each system's bare read of the person, called alone on the caller's thread, exactly as
  ShowService calls it (`show` for the metaverse, whose lineage view is what it exports;
  `read` for the others); the slowest one, and the per-round sum of all.
* `upload`: `WebClient.files_upload_v2` alone, with the sender's arguments, of a copy of
  a zip the export built (same size, same covering note), to the same stand-in.
* `find` (for the reading, not the target): `SearchService.find` alone, a search only
  (no record read with it), so a third baseline is find + slowest read + upload: the
  least an export that searched every system and then read each would take.
* `export, no progress messages`: the same export with a sender whose `progress` does
  nothing (its `send` then opens the DM itself): what the progress messages cost.

In the demo estate it first counts, untimed, the WinRM script calls of one export, one
find and each read: an export asks each WinRM system once. Before timing it checks that
two exports in a row both complete with every system read, as two access requests (a
completed request is not reused).

Setup stays outside the timed region. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the root is not
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_sdk import WebClient

from bench.find_latency import interleave, machine
from bench.report import print_ratio
from bot.frontends.console import ConsoleNotifier
from bot.frontends.slack_sender import SlackPackageSender
from bot.lookup.show import SystemRecord
from bot.lookup.subjects import group_hits
from bot.services import Services, build_services
from bot.workflow.requests import Status
from connectors._shared.powershell import PowerShellRunner
from connectors.base import Capability, Connector, IdKind, ObjectRef, Query, QueryKind
from connectors.capabilities import ShowsLineage
from connectors.memory import MemoryConnector, Person, RecordsMemoryConnector
from demo.estate import DEMO_ADMIN, DemoEstate, demo_config
from tests.support.slack_stub import MockSlack

BENCH = "export_latency"
TARGET_RATIO = 1.2
# In all seven demo systems: HR, metaverse, AD, MIM Service, PAM (one of the three
# privileged accounts), BHOLD and Certificate Management (the first twelve AD accounts).
DEFAULT_ACCOUNT = "sobrien"
TIMEOUT = 10.0  # per read: never the limit here
# The memory scenario's per-call time at --delay 0.2 (scaled linearly): a local HR
# database, the Sync SQL server, a domain controller, two PowerShell hosts over WinRM,
# and two web services.
MEMORY_DELAYS = {
    "hr": 0.015,
    "mimsync": 0.010,
    "ad": 0.020,
    "mimservice": 0.200,
    "pam": 0.200,
    "bhold": 0.060,
    "cm": 0.080,
}
# The memory systems that find and read in one call, as their demo connectors do.
ONE_TRIP = frozenset({"mimservice", "pam", "bhold", "cm", "ad"})


# -- the estate ---------------------------------------------------------------


def delayed(handler: Callable[[Any], Any], delay: float) -> Callable[[Any], Any]:
    """The stand-in's handler, after `delay` seconds: what PowerShell and the cmdlet take."""

    def call(args: Any) -> Any:
        time.sleep(delay)
        return handler(args)

    return call


def memory_connectors(delay: float) -> list[Connector]:
    """Seven in-memory systems holding the same person, each as slow as MEMORY_DELAYS says."""
    ids = {
        IdKind.ACCOUNT: DEFAULT_ACCOUNT,
        IdKind.DISPLAY_NAME: "Siobhán O'Brien",
        IdKind.MAIL: "siobhan.obrien@contoso.test",
        IdKind.EMPLOYEE_ID: "100001",
    }
    attributes = {
        "displayName": ("Siobhán O'Brien",),
        "givenName": ("Siobhán",),
        "sn": ("O'Brien",),
        "mail": ("siobhan.obrien@contoso.test",),
        "department": ("Finance",),
        "telephoneNumber": ("+44 20 7946 0001",),
        "employeeID": ("100001",),
    }
    scale = delay / 0.2
    return [
        (RecordsMemoryConnector if name in ONE_TRIP else MemoryConnector)(
            name,
            name.upper(),
            [Person(f"{name}-1", dict(ids), dict(attributes))],
            delay=seconds * scale,
        )
        for name, seconds in MEMORY_DELAYS.items()
    ]


class NoProgress(SlackPackageSender):
    """The Slack sender without the progress messages: shows what they cost the export."""

    def progress(self, user_id: str, answered: Sequence[SystemRecord]) -> None:
        pass


class RecordingClient(WebClient):
    """The Web API client, keeping the arguments of the first `files_upload_v2` the sender
    makes: the upload baseline replays exactly that call (same zip, name, title, note)."""

    def __init__(self, keep: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keep = keep
        self.upload: dict[str, Any] | None = None

    def files_upload_v2(self, **kwargs: Any) -> Any:  # type: ignore[override]
        if self.upload is None:
            kept = dict(kwargs)
            if isinstance(kept.get("file"), str | Path):  # a zip on disk the export removes
                copy = self.keep / Path(kept["file"]).name
                shutil.copyfile(kept["file"], copy)
                kept["file"] = str(copy)
            self.upload = kept
        return super().files_upload_v2(**kwargs)

    def upload_size(self) -> int:
        assert self.upload is not None
        file = self.upload["file"]
        return len(file) if isinstance(file, bytes) else Path(file).stat().st_size


def bare_reader(connector: Connector, ref: ObjectRef) -> Callable[[], object]:
    """The call ShowService makes for this system (bot/lookup/show.py `_reader`), alone."""
    if isinstance(connector, ShowsLineage):
        return lambda: connector.show(ref, timeout=TIMEOUT)
    if Capability.READ in connector.capabilities:
        return lambda: connector.read(ref, timeout=TIMEOUT)
    raise SystemExit(f"{connector.name} cannot read: it would not be in the package")


# -- figures ------------------------------------------------------------------


def stats(samples: list[float]) -> tuple[float, float]:
    """Median and p90 (nearest rank) in milliseconds."""
    ms = sorted(s * 1e3 for s in samples)
    return statistics.median(ms), ms[math.ceil(0.9 * len(ms)) - 1]


def line(name: str, samples: list[float]) -> str:
    med, p90 = stats(samples)
    return f"  {name:38} median {med:8.1f}  p90 {p90:8.1f}"


# -- the benchmark ------------------------------------------------------------


def check(services: Services, client: RecordingClient, query: Query, actor: Any) -> bool:
    """Two untimed exports: both complete, every system read, a new request each time."""
    first = services.access.export(query, actor=actor)
    second = services.access.export(query, actor=actor)
    for r in (first, second):
        print(
            f"export {r.request.id}: {r.request.status.value}, {len(r.files)} files, "
            f"unread {list(r.unread) or 'none'}"
        )
    if client.upload is None:
        print("the exports uploaded nothing; not timing")
        return False
    print(f"zip: {client.upload_size()} bytes, files {', '.join(first.files)}")
    ok = (
        first.request.id != second.request.id
        and not first.unread
        and not second.unread
        and first.request.status is Status.COMPLETED
        and second.request.status is Status.COMPLETED
    )
    if not ok:
        print("expected two completed exports, every system read, two requests; not timing")
    return ok


def measure(
    services: Services,
    client: RecordingClient,
    estate: DemoEstate | None,
    args: argparse.Namespace,
) -> dict[str, float] | None:
    """Time the export and its baselines; the ratios, or None when it could not be timed."""
    actor = services.roles.actor(DEMO_ADMIN)
    query = Query(QueryKind.NAME, args.account)
    result = services.search.find(query, actor=actor)
    matches = group_hits(result)
    found = ", ".join(f"{r.system} {r.outcome.value} {len(r.hits)}" for r in result.systems)
    print(f"find {args.account!r}: {found}")
    if len(matches) != 1:
        print(f"expected one person, got {len(matches)}; not timing")
        return None
    refs = [hit.ref for hit in matches[0].hits]
    held = ", ".join(r.system for r in refs)
    print(f"held by {len(refs)} of {len(services.connectors)} systems: {held}")
    if not check(services, client, query, actor):
        return None
    by_name = {c.name: c for c in services.connectors}
    sent = dict(client.upload or {})

    def upload() -> object:
        return client.files_upload_v2(**sent)

    quiet = dataclasses.replace(services.access, sender=NoProgress(client))
    fns: dict[str, Callable[[], object]] = {
        "export": lambda: services.access.export(query, actor=actor),
        "export, no progress messages": lambda: quiet.export(query, actor=actor),
        "upload": upload,
        "find (search only)": lambda: services.search.find(query, actor=actor),
    }
    reads = [f"{ref.system} read" for ref in refs]
    for ref, name in zip(refs, reads, strict=True):
        fns[name] = bare_reader(by_name[ref.system], ref)
    if estate is not None:  # what each call costs in WinRM script calls (untimed)
        calls: dict[str, int] = {}
        for name in ("export", "find (search only)", *reads):
            before = len(estate.winrm.scripts)
            fns[name]()
            calls[name] = len(estate.winrm.scripts) - before
        print("WinRM script calls: " + ", ".join(f"{n} {k}" for n, k in calls.items() if k))
    t0 = time.perf_counter()
    times = interleave(fns, rounds=args.rounds, warmup=args.warmup)
    took = time.perf_counter() - t0

    slowest = max(reads, key=lambda n: stats(times[n])[0])
    per_round = list(zip(*(times[n] for n in reads), strict=True))
    summed = [sum(r) for r in per_round]
    up = times["upload"]
    slow_up = [a + b for a, b in zip(times[slowest], up, strict=True)]
    sum_up = [a + b for a, b in zip(summed, up, strict=True)]
    find_slow_up = [a + b for a, b in zip(times["find (search only)"], slow_up, strict=True)]

    print(f"\n{args.rounds} rounds (+{args.warmup} warm-up) in {took:.0f} s; times in ms")
    for name in reads:
        print(line(name, times[name]))
    print(line(f"slowest read ({slowest})", times[slowest]))
    print(line("sum of the reads (per round)", summed))
    print(line("upload (files_upload_v2)", up))
    print(line("find (search only)", times["find (search only)"]))
    print(line("export", times["export"]))
    print(line("export, no progress messages", times["export, no progress messages"]))
    print(line("baseline: slowest + upload", slow_up))
    print(line("baseline: sum + upload", sum_up))
    print(line("find + slowest + upload (reading only)", find_slow_up))

    exp_med, exp_p90 = stats(times["export"])
    rows = (
        ("export / (slowest read + upload)", slow_up),
        ("export / (sum of reads + upload)", sum_up),
        ("export / (find + slowest + upload)", find_slow_up),
    )
    print()
    ratios = {}
    for title, base in rows:
        b_med, b_p90 = stats(base)
        ratios[title] = exp_med / b_med
        print(f"  {title:38} median {exp_med / b_med:5.2f}  p90 {exp_p90 / b_p90:5.2f}")
    ratio = exp_med / stats(slow_up)[0]
    met = ratio <= TARGET_RATIO
    print(
        f"\nexport median {exp_med:.1f} ms vs slowest read ({slowest}) + upload "
        f"{stats(slow_up)[0]:.1f} ms: ratio {ratio:.2f} (target <= {TARGET_RATIO}) "
        + ("PASS" if met else f"FAIL: ratio over {TARGET_RATIO}")
    )
    print(
        "(an export resolves the person in every system first; each system that can also "
        "reads in that call, so a slow system is asked once: find + slowest + upload is what "
        "searching, then reading, would take at least)"
    )
    return ratios


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="mimbot-bench-export-") as tmp:
        workdir = Path(tmp)
        keep = workdir / "kept"
        keep.mkdir()
        slack = MockSlack().start()
        estate: DemoEstate | None = None
        try:
            if args.scenario == "demo":
                estate = DemoEstate(workdir)
                stub = estate.winrm
                for name, handler in list(stub.handlers.items()):
                    if name != "ping":
                        stub.handlers[name] = delayed(handler, args.delay)
                connectors = estate.connectors()
                print(f"demo estate; delay {args.delay:g} s per WinRM script call")
            else:
                connectors = memory_connectors(args.delay)
                scale = args.delay / 0.2
                print(
                    "memory estate; delay per call, s: "
                    + ", ".join(f"{n} {d * scale:g}" for n, d in MEMORY_DELAYS.items())
                )
            client = RecordingClient(keep, token="xoxb-bench-not-a-token", base_url=slack.api_url)
            services = build_services(
                demo_config(workdir),
                connectors=connectors,
                notifier=ConsoleNotifier(io.StringIO()),
                sender=SlackPackageSender(client),
            )
            try:
                ratios = measure(services, client, estate, args)
            finally:
                services.close()
                for c in connectors:
                    runner = getattr(c, "runner", None) or getattr(c, "_runner", None)
                    if isinstance(runner, PowerShellRunner):
                        runner.close()
        finally:
            slack.stop()
            if estate is not None:
                estate.close()
    if ratios is None:
        return 2
    print()
    for title, ratio in ratios.items():
        target = TARGET_RATIO if title == "export / (slowest read + upload)" else None
        print_ratio(BENCH, f"{args.scenario} {title} median", ratio, target=target)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/export_latency.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scenario", choices=("demo", "memory"), default="demo")
    parser.add_argument(
        "--delay",
        type=float,
        default=0.2,
        help="demo: seconds per WinRM script call; memory: scales MEMORY_DELAYS",
    )
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="the person to export")
    args = parser.parse_args(argv)
    print(machine(("slack_sdk", "pywinrm", "requests", "SQLAlchemy", "ldap3")))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
