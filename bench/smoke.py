"""Every benchmark at its smoke size: does each still run and measure what it says?

    .venv/bin/python -m bench.smoke                  # all of them, as .ci/run does
    .venv/bin/python -m bench.smoke find_latency     # some of them
    .venv/bin/python -m bench.smoke --list           # the commands, run nothing

Each benchmark runs as `python -m bench.<name>` in a process of its own, at the
smallest size that still goes through its whole path (a few users, a few rounds, no
profile), under a time limit. It passes when it exits 0 and prints every `RATIO` line
(bench/report.py) it should, each a finite positive number. Nothing is asserted about
speed: a missed target is printed, never a failure. One line per benchmark, then the
output of each that failed; the exit status is 1 if any failed.

The Samba benchmarks (find_latency, ad_anr, erasure_throughput) share the test suite's
Samba AD DC directory, `$MIMBOT_TEST_AD_DIR` (default /tmp/mimbot-samba-tests), on the
address it was provisioned for (its smb.conf; `$AD_IP`, else 127.0.0.1, for a new one),
instead of provisioning DCs of their own: this starts it once (provisioning it if
missing), runs them, and stops it. That is safe after the tests, not during them: each
benchmark seeds its own OUs (Bench, AnrBench, Erase*), erasure_throughput resets the
directory to its just-provisioned database as the test session does when it starts,
and a DC already answering there is refused (a test session may be using it), unless
`--running-ok` says it is yours. mimsync_find starts its own PostgreSQL
(tests/support/postgres.py; `$MIMBOT_TEST_POSTGRES_URL` points it at a running one).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import MARKER, PATTERN
from tests.support.samba import DEFAULT_DIR, SCRIPT, start_samba

TAIL = 60  # output lines shown for a failed benchmark


@dataclass(frozen=True)
class Smoke:
    label: str  # unique; the module's name, unless it runs twice
    module: str  # bench.<module>
    args: str  # the smoke size
    ratios: tuple[str, ...]  # the RATIO names it must print
    timeout: float  # seconds: several times what it takes on a 2-core CI box
    samba: bool = False  # gets --ad-dir/--ad-ip of the shared DC and --keep-running


EXPORT_BASES = ("slowest read + upload", "sum of reads + upload", "find + slowest + upload")
ANR_TERMS = ("account", "surname", "given surname", "surname given", "no one")
SMOKES = (
    Smoke(
        "ack_load",
        "ack_load",
        "--sizes 5 --rounds 1 --warmup 3",
        ("N=5 ack p99 bot/bare",),
        120,
    ),
    Smoke(
        "winrm_overhead",
        "winrm_overhead",
        "--delay 0 --rounds 3 --warmup 1 --shell-rounds 3 --shell-warmup 1",
        (
            "find/slowest system alone median",
            *(
                f"{transport} {variant}/re-used shell median"
                for transport in ("basic over https", "ntlm over http")
                for variant in ("new shell", "runner per call")
            ),
        ),
        120,
    ),
    Smoke(
        "export_latency",
        "export_latency",
        "--delay 0 --rounds 2 --warmup 1",
        tuple(f"demo export / ({b}) median" for b in EXPORT_BASES),
        120,
    ),
    Smoke(
        "export_latency (memory)",
        "export_latency",
        "--scenario memory --delay 0 --rounds 2 --warmup 1",
        tuple(f"memory export / ({b}) median" for b in EXPORT_BASES),
        120,
    ),
    Smoke(
        "mimsync_find",
        "mimsync_find",
        "--persons 200 --lookups 5 --shows 5 --warmup 2",
        tuple(
            f"search by {by} connector/{base} median"
            for by in ("employeeID", "name")
            for base in ("psycopg", "Core")
        ),
        180,
    ),
    Smoke(
        "sweep_proposal",
        "sweep_proposal",
        "--leavers 20 --rounds 2",
        (
            "sweep/bare time per candidate",
            "10N/N time per candidate",
            "10N/N memory per candidate",
        ),
        120,
    ),
    Smoke(
        "sweep_throughput",
        "sweep_throughput",
        "--leavers 20 --singles 4 --memory-leavers 10",
        (
            "batch/single erased per second",
            "batch Slack calls per person",
            "batch peak HR calls/max_parallel",
            "batch peak HR connections/max_parallel",
            "10M/M proposal memory per candidate",
            "10M/M drive peak memory",
        ),
        120,
    ),
    Smoke(
        "find_latency",
        "find_latency",
        "--users 20 --rounds 5 --warmup 1 --part-rounds 3",
        tuple(f"{term} bot/bare median" for term in ("account", "mail", "employee_id")),
        180,
        samba=True,
    ),
    Smoke(
        "ad_anr",
        "ad_anr",
        "--users 20 --rounds 3 --warmup 1",
        tuple(f"{term} new/old median" for term in ANR_TERMS),
        180,
        samba=True,
    ),
    Smoke(
        "erasure_throughput",
        "erasure_throughput",
        "--subjects 2 --warmup 1 --batch 1 --profile 0 --clicks 1",
        tuple(f"bot/{base} time per subject" for base in ("bare", "bare+verify", "bot LDAP ops")),
        300,
        samba=True,
    ),
)


@dataclass
class Outcome:
    smoke: Smoke
    seconds: float
    problems: list[str]
    ratios: dict[str, str]
    output: str

    @property
    def ok(self) -> bool:
        return not self.problems


# -- the shared Samba ---------------------------------------------------------


def samba_ip(ad_dir: str) -> str:
    """The address the directory was provisioned for (its certificate names it), else
    $AD_IP, else the tests' 127.0.0.1."""
    conf = Path(ad_dir, "etc", "smb.conf")
    found = (
        re.search(r"^\s*interfaces\s*=\s*(\S+)", conf.read_text(), re.M) if conf.exists() else None
    )
    wanted = os.environ.get("AD_IP")
    if found and wanted and wanted != found.group(1):
        raise SystemExit(
            f"smoke: {ad_dir} was provisioned for {found.group(1)}, but AD_IP={wanted}; "
            "unset AD_IP or pick another MIMBOT_TEST_AD_DIR"
        )
    return found.group(1) if found else wanted or "127.0.0.1"


def samba_answers(ad_dir: str, ip: str) -> bool:
    env = dict(os.environ, AD_DIR=ad_dir, AD_IP=ip)
    return (
        subprocess.run(["bash", str(SCRIPT), "status"], env=env, capture_output=True).returncode
        == 0
    )


# -- one benchmark ------------------------------------------------------------


def command(smoke: Smoke, ad_dir: str, ip: str) -> list[str]:
    cmd = [sys.executable, "-m", f"bench.{smoke.module}", *smoke.args.split()]
    if smoke.samba:
        cmd += ["--ad-dir", ad_dir, "--ad-ip", ip, "--keep-running"]
    return cmd


def run_one(smoke: Smoke, cmd: list[str], scale: float) -> Outcome:
    limit = smoke.timeout * scale
    started = time.perf_counter()
    # Its own process group, so a time-out interrupts its children too (the load
    # generator, a PostgreSQL's pg_ctl); SIGINT first, so its `finally` blocks stop
    # the servers it started.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,
    )
    problems = []
    try:
        output, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        problems.append(f"no answer within {limit:.0f} s")
        os.killpg(proc.pid, signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0 and not problems:
        problems.append(f"exit status {proc.returncode}")
    ratios: dict[str, str] = {}
    for line in output.splitlines():
        if not line.startswith(MARKER + " "):
            continue
        m = PATTERN.match(line)
        if not m:
            problems.append(f"malformed ratio line: {line!r}")
        elif m["bench"] != smoke.module:
            problems.append(f"ratio line of another benchmark: {line!r}")
        elif not (math.isfinite(value := float(m["value"])) and value > 0):
            problems.append(f"ratio not a positive number: {line!r}")
        else:
            ratios[m["name"]] = m["value"]
    missing = [name for name in smoke.ratios if name not in ratios]
    if missing:
        problems.append("no ratio for " + ", ".join(repr(n) for n in missing))
    return Outcome(smoke, seconds, problems, ratios, output)


def summary_line(o: Outcome) -> str:
    head = f"smoke {'ok  ' if o.ok else 'FAIL'} {o.smoke.label:24} {o.seconds:6.1f} s"
    if not o.ok:
        return f"{head}  " + "; ".join(o.problems)
    shown = ", ".join(f"{name} {value}x" for name, value in list(o.ratios.items())[:2])
    more = f" (+{len(o.ratios) - 2} more)" if len(o.ratios) > 2 else ""
    return f"{head}  {len(o.ratios)} ratio(s): {shown}{more}"


# -- all of them --------------------------------------------------------------


def run_with_samba(
    smokes: list[Smoke], ad_dir: str, ip: str, scale: float, was_running: bool
) -> list[Outcome]:
    """Start the shared DC once (provisioning it if missing), run these, stop it."""
    os.environ["AD_IP"] = ip  # start_samba hands the environment to the lab script
    s0 = time.perf_counter()
    try:
        ad = start_samba(ad_dir, reset=False)
    except (subprocess.SubprocessError, OSError) as exc:
        err = getattr(exc, "stderr", None) or b""
        why = f"Samba did not start from {ad_dir} on {ip}: {exc}"
        print(f"smoke: {why}\n{err.decode(errors='replace') if isinstance(err, bytes) else err}")
        outcomes = [Outcome(s, 0.0, [why], {}, "") for s in smokes]
        for o in outcomes:
            print(summary_line(o), flush=True)
        return outcomes
    print(f"smoke: samba {ad.uri} from {ad_dir} ({time.perf_counter() - s0:.1f} s)", flush=True)
    outcomes = []
    try:
        for s in smokes:
            outcomes.append(run_one(s, command(s, ad_dir, ip), scale))
            print(summary_line(outcomes[-1]), flush=True)
    finally:
        if not was_running:
            ad.run("stop")
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.smoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    labels = [s.label for s in SMOKES]
    parser.add_argument("only", nargs="*", metavar="NAME", help=f"some of: {', '.join(labels)}")
    parser.add_argument("--list", action="store_true", help="print the commands, run nothing")
    parser.add_argument(
        "--ad-dir",
        default=os.environ.get("MIMBOT_TEST_AD_DIR", DEFAULT_DIR),
        help="the Samba directory the Samba benchmarks share (default: the tests')",
    )
    parser.add_argument(
        "--running-ok", action="store_true", help="use a DC already answering there (yours)"
    )
    parser.add_argument(
        "--timeout-scale", type=float, default=1.0, help="multiply every time limit"
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.only if not any(s.label == n or s.module == n for s in SMOKES)]
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)} (choose from {', '.join(labels)})")
    chosen = [s for s in SMOKES if not args.only or s.label in args.only or s.module in args.only]
    ad_dir = args.ad_dir
    ip = samba_ip(ad_dir)
    if args.list:
        for s in chosen:
            print(f"{s.label}: {shlex.join(command(s, ad_dir, ip))}  (limit {s.timeout:.0f} s)")
        return 0

    t0 = time.perf_counter()
    outcomes: list[Outcome] = []
    was_running = any(s.samba for s in chosen) and samba_answers(ad_dir, ip)
    if was_running and not args.running_ok:
        print(
            f"smoke: a Samba DC already answers on {ip} from {ad_dir}: a test session may be "
            "using it. Stop it, point MIMBOT_TEST_AD_DIR elsewhere, or pass --running-ok if "
            "it is yours.",
            file=sys.stderr,
        )
        return 2
    for s in (s for s in chosen if not s.samba):
        outcomes.append(run_one(s, command(s, ad_dir, ip), args.timeout_scale))
        print(summary_line(outcomes[-1]), flush=True)
    with_samba = [s for s in chosen if s.samba]
    if with_samba:
        outcomes += run_with_samba(with_samba, ad_dir, ip, args.timeout_scale, was_running)
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        lines = o.output.splitlines()
        print(f"\n== {o.smoke.label}: {shlex.join(command(o.smoke, ad_dir, ip))}")
        if len(lines) > TAIL:
            print(f"   ({len(lines) - TAIL} lines before these)")
        print("\n".join(lines[-TAIL:]))
    took = time.perf_counter() - t0
    print(
        f"\nsmoke: {len(outcomes) - len(failed)} of {len(outcomes)} benchmarks ok in {took:.0f} s"
        + (f"; FAILED: {', '.join(o.smoke.label for o in failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
