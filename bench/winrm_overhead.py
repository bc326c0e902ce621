"""The WinRM systems in a `find`, and what a new WinRM shell costs against a re-used one.

Issue 9, Deliver item 8. Two parts, both against the demo estate in a temporary directory
(offline AD, SQLite metaverse, MIM Service and PAM behind the loopback WS-Management
stand-in `demo/wsman_stub.py`), run from the repository root (see bench/README.md):

    .venv/bin/python -m bench.winrm_overhead [--delay 0.2] [--rounds 30] [--shell-rounds 200]

1. `SearchService.find` (the bot's fan-out over AD, metaverse, MIM Service and PAM, audit
   write included) against each connector's own `search` called alone, interleaved in the
   same rounds, with the stand-in sleeping `--delay` seconds in every MIM Service and PAM
   script call (a wrapper around the fixture's handler: the time PowerShell would take).
   Target: the find's median at most 1.2x the slowest single system's, since the systems
   are asked in parallel.
2. `PowerShellRunner.run("ping", {})` (no delay) on a warm runner (re-used connection and
   shell), with a new shell on the same connection, and with a fresh runner per call (new
   Protocol: TCP, TLS and/or the NTLM handshake, then a new shell), beside bare pywinrm on
   one Protocol; over https with Basic and over http with NTLM (message encryption).

Setup stays outside the timed region; the variants alternate, the first rotating each
round. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import winrm

from bench.find_latency import interleave, machine, stats
from bench.report import print_ratio
from bot.frontends.console import ConsoleNotifier
from bot.services import build_services
from connectors._shared.powershell import PowerShellRunner, WinRmSettings, command_line, script_text
from connectors.base import Query, QueryKind
from demo.estate import DEMO_VIEWER, DemoEstate, demo_config
from demo.wsman_stub import BASIC_USER, NTLM_USER, WsmanStub

BENCH = "winrm_overhead"
TARGET_RATIO = 1.2
DEFAULT_ACCOUNT = "zangstrom"  # the demo person held by all four systems (mas HR, AD, FIM, PAM)
# The four systems of the find part: the demo estate also has HR, BHOLD and Certificate
# Management (bench/export_latency.py reads all seven), left out here.
SYSTEMS = ("ad", "mimsync", "mimservice", "pam")
TIMEOUT = 10.0  # per search / per run: never the limit here


# -- part 1: the fan-out against the slowest system ---------------------------


def delayed(handler: Callable[[Any], Any], delay: float) -> Callable[[Any], Any]:
    """The fixture's handler, after `delay` seconds: what PowerShell and the cmdlet take."""

    def call(args: Any) -> Any:
        time.sleep(delay)
        return handler(args)

    return call


def find_part(args: argparse.Namespace, workdir: Path) -> float | None:
    """The find's median over the slowest system's; None when it could not be timed."""
    estate = DemoEstate(workdir)
    stub = estate.winrm
    for name, handler in list(stub.handlers.items()):
        if name != "ping":
            stub.handlers[name] = delayed(handler, args.delay)
    every = estate.connectors()
    connectors = [c for c in every if c.name in SYSTEMS]
    for c in every:
        if c not in connectors:
            c.close()
    services = build_services(
        demo_config(workdir), connectors=connectors, notifier=ConsoleNotifier(io.StringIO())
    )
    try:
        actor = services.roles.actor(DEMO_VIEWER)
        query = Query(QueryKind.NAME, args.account)
        result = services.search.find(query, actor=actor)
        found = {r.system: (r.outcome.value, len(r.hits)) for r in result.systems}
        print(f"find {args.account!r}: " + ", ".join(f"{s} {o} {n}" for s, (o, n) in found.items()))
        if sorted(found) != sorted(c.name for c in connectors) or any(
            n != 1 for _, n in found.values()
        ):
            print(f"expected one hit in each of {', '.join(SYSTEMS)}; not timing")
            return None
        before = len(stub.scripts)
        for c in connectors:
            c.search(query, timeout=TIMEOUT)
        calls = len(stub.scripts) - before
        print(f"WinRM script calls per round of the single searches: {calls}\n")

        fns: dict[str, Callable[[], object]] = {
            "bot: SearchService.find": lambda: services.search.find(query, actor=actor)
        }
        for c in connectors:
            fns[f"{c.name}.search alone"] = lambda c=c: c.search(query, timeout=TIMEOUT)
        times = interleave(fns, rounds=args.rounds, warmup=args.warmup)
        for name, samples in times.items():
            med, p95 = stats(samples)
            print(f"  {name:34} median {med:8.1f}  p95 {p95:8.1f}")
        bot_med, bot_p95 = stats(times.pop("bot: SearchService.find"))
        slowest = max(times, key=lambda n: stats(times[n])[0])
        slow_med, slow_p95 = stats(times[slowest])
        ratio, ratio_p95 = bot_med / slow_med, bot_p95 / slow_p95
        met = ratio <= TARGET_RATIO
        print(
            f"\nfind median {bot_med:.1f} ms p95 {bot_p95:.1f} ms | slowest alone ({slowest}) "
            f"median {slow_med:.1f} ms p95 {slow_p95:.1f} ms | ratio {ratio:.2f} (p95 "
            f"{ratio_p95:.2f}; target <= {TARGET_RATIO}) "
            + ("met" if met else f"MISSED: ratio over {TARGET_RATIO}")
        )
        return ratio
    finally:
        services.close()
        for c in connectors:
            runner = getattr(c, "runner", None) or getattr(c, "_runner", None)
            if isinstance(runner, PowerShellRunner):
                runner.close()
        estate.close()


# -- part 2: a new shell against a re-used one ---------------------------------


class Bare:
    """pywinrm alone on one Protocol (one connection): the same wire steps as the runner."""

    def __init__(self, settings: WinRmSettings) -> None:
        s = settings
        self.protocol = winrm.Protocol(
            endpoint=s.endpoint,
            transport=s.transport,
            username=s.username,
            password=s.password,
            server_cert_validation="validate",
            ca_trust_path=str(s.ca_file) if s.ca_file else None,  # type: ignore[arg-type]
            read_timeout_sec=s.read_timeout,
            operation_timeout_sec=s.operation_timeout,
            message_encryption="auto",
        )
        self.command = command_line(script_text("ping", {}))
        self.shell: str | None = None

    def call(self, *, new_shell: bool) -> bytes:
        if self.shell is None:
            self.shell = self.protocol.open_shell(noprofile=True)
        cid = self.protocol.run_command(self.shell, self.command, skip_cmd_shell=True)
        out = b""
        done = False
        while not done:
            chunk, _err, _code, done = self.protocol.get_command_output_raw(self.shell, cid)
            out += chunk
        self.protocol.cleanup_command(self.shell, cid)
        if new_shell:
            self.protocol.close_shell(self.shell, close_session=False)
            self.shell = None
        return out

    def close(self) -> None:
        if self.shell is not None:
            self.protocol.close_shell(self.shell, close_session=False)
        self.protocol.transport.close_session()


def new_shell_same_connection(runner: PowerShellRunner) -> None:
    """`run`, then Delete the lane's shell and keep its connection, so the next call Creates.

    The runner has no public way to do this (`close_idle` closes the connection too), so
    this reaches into its pool: single-threaded, the lane just used is on top of it.
    """
    runner.run("ping", {}, timeout=TIMEOUT)
    lane = runner._pool.get_nowait()  # bench only, see the docstring
    assert lane.shell_id is not None
    lane.protocol.close_shell(lane.shell_id, close_session=False)
    lane.shell_id = None
    runner._pool.put_nowait(lane)


def fresh_runner(settings: WinRmSettings) -> None:
    """A runner per call: new Protocol (connection, handshake), shell, and its close."""
    with PowerShellRunner(settings) as runner:
        runner.run("ping", {}, timeout=TIMEOUT)


def shell_part(args: argparse.Namespace) -> dict[str, float]:
    """Per transport: a new shell and a runner per call, each over the re-used shell."""
    ratios: dict[str, float] = {}
    with WsmanStub() as stub:
        transports = {
            "basic over https": WinRmSettings(
                stub.https_endpoint, *BASIC_USER, "basic", ca_file=Path(stub.ca_file)
            ),
            "ntlm over http (encrypted)": WinRmSettings(stub.endpoint, *NTLM_USER, "ntlm"),
        }
        for title, settings in transports.items():
            warm = PowerShellRunner(settings)
            same_conn = PowerShellRunner(replace(settings, name="same-conn"))
            bare_warm, bare_new = Bare(settings), Bare(settings)
            counted = PowerShellRunner(replace(settings, name="counted"))
            try:
                fns: dict[str, Callable[[], object]] = {
                    "runner, re-used shell": lambda r=warm: r.run("ping", {}, timeout=TIMEOUT),
                    "runner, new shell same connection": lambda r=same_conn: (
                        new_shell_same_connection(r)
                    ),
                    "runner per call (new Protocol+shell)": lambda s=settings: fresh_runner(s),
                    "bare pywinrm, re-used shell": lambda b=bare_warm: b.call(new_shell=False),
                    "bare pywinrm, new shell same conn": lambda b=bare_new: b.call(new_shell=True),
                }
                times = interleave(fns, rounds=args.shell_rounds, warmup=args.shell_warmup)
                # What each runner variant did on the wire, for ten calls (not timed).
                s0 = (same_conn.stats.protocols, same_conn.stats.shells)
                for _ in range(10):
                    new_shell_same_connection(same_conn)
                s1 = (same_conn.stats.protocols, same_conn.stats.shells)
                for _ in range(10):
                    counted.run("ping", {}, timeout=TIMEOUT)
            finally:
                for closer in (warm, same_conn, counted, bare_warm, bare_new):
                    closer.close()
            print(f"\n{title}: ping, {args.shell_rounds} rounds, times in ms")
            for name, samples in times.items():
                med, p95 = stats(samples)
                print(f"  {name:38} median {med:7.2f}  p95 {p95:7.2f}")
            base = stats(times["runner, re-used shell"])[0]
            bare = stats(times["bare pywinrm, re-used shell"])[0]
            new_shell = stats(times["runner, new shell same connection"])[0]
            fresh = stats(times["runner per call (new Protocol+shell)"])[0]
            print(
                f"  ratios to the re-used shell: new shell same connection {new_shell / base:.2f}x"
                f" (+{new_shell - base:.2f} ms), runner per call {fresh / base:.2f}x "
                f"(+{fresh - base:.2f} ms); runner re-used / bare re-used {base / bare:.2f}x"
            )
            print(
                f"  stats for 10 calls: re-used {counted.stats.protocols} protocols, "
                f"{counted.stats.shells} shells, {counted.stats.commands} commands; "
                f"new shell same connection {s1[0] - s0[0]} protocols, {s1[1] - s0[1]} shells"
            )
            short = title.split(" (")[0]
            ratios[f"{short} new shell/re-used shell median"] = new_shell / base
            ratios[f"{short} runner per call/re-used shell median"] = fresh / base
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.winrm_overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--delay", type=float, default=0.2, help="seconds per WinRM script call")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds of the find part")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="the demo account to find")
    parser.add_argument("--shell-rounds", type=int, default=200, help="timed rounds, shell part")
    parser.add_argument("--shell-warmup", type=int, default=20, help="untimed rounds, shell part")
    parser.add_argument("--skip-find", action="store_true", help="only the shell part")
    parser.add_argument("--skip-shells", action="store_true", help="only the find part")
    args = parser.parse_args(argv)
    print(machine(("pywinrm", "requests", "pyspnego", "SQLAlchemy", "ldap3")))
    print(
        f"delay {args.delay:g} s per MIM Service / PAM script call; find rounds {args.rounds} "
        f"(warm-up {args.warmup}); times in ms\n"
    )
    find_ratio, shell_ratios = None, {}
    if not args.skip_find:
        with tempfile.TemporaryDirectory(prefix="mimbot-bench-winrm-") as workdir:
            find_ratio = find_part(args, Path(workdir))
    if not args.skip_shells:
        shell_ratios = shell_part(args)
    print()
    if find_ratio is not None:
        print_ratio(BENCH, "find/slowest system alone median", find_ratio, target=TARGET_RATIO)
    for name, ratio in shell_ratios.items():
        print_ratio(BENCH, name, ratio)
    return 2 if find_ratio is None and not args.skip_find else 0


if __name__ == "__main__":
    sys.exit(main())
