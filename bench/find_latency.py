"""Latency of `/mim find` against Samba AD, with a bare ldap3 search as the baseline.

The issue's target: with 10,000 users in the directory, the bot's find path
(parse, authorise, fan-out, audit write, render; no Slack network) takes at
most 1.3 times a bare ldap3 search for the same term, and its median is under
10 ms. Run from the repository root (see bench/README.md):

    AD_IP=127.0.0.3 .venv/bin/python -m bench.find_latency [--users 10000] [--rounds 300]

Setup (Samba, seeding, services, warm-up) stays outside the timed region, as in
pyperf's bench_time_func. The bot and the baseline run alternately in the same
run, so drift and the neighbours' load hit both. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import math
import os
import platform
import pstats
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPNoSuchObjectResult

from bench.report import print_ratio
from bot import render
from bot.commands.parser import FindCommand, parse
from bot.config import parse_config
from bot.frontends.console import ConsoleNotifier
from bot.frontends.dispatch import run_command
from bot.lookup.search import SearchService
from bot.render.reply import Reply
from bot.services import Services, build_services
from connectors.ad.connector import IDENTITY_ATTRIBUTES, PERSON_FILTER
from tests.support.samba import SCRIPT, SambaAd, TestUser, seed_users, start_samba

BENCH = "find_latency"
DEFAULT_AD_DIR = "/tmp/mimbot-samba-bench"
DEFAULT_AD_IP = "127.0.0.3"  # 127.0.0.1 and .2 belong to the test suites
BENCH_USER = "UBENCHVIEWER"
OU = "Bench"
GIVEN = ("Ana", "Ben", "Chloé", "Dev", "Eir", "Femi", "Gus", "Hana", "Ivo", "Jun")
TARGET_RATIO = 1.3
TARGET_MEDIAN_MS = 10.0


@dataclasses.dataclass(frozen=True)
class Term:
    name: str
    text: str  # what follows `/mim`
    ldap: str  # the connector's term filter for it, written out for the bare search


def terms(index: int) -> list[Term]:
    account, mail, employee = f"bench{index:05d}", f"bench{index:05d}@example.test", f"7{index:06d}"
    return [
        Term(
            "account",
            f"find user {account}",
            f"(|(sAMAccountName={account})(displayName={account})(cn={account}))",
        ),
        Term(
            "mail",
            f"find user {mail}",
            f"(|(userPrincipalName={mail})(mail={mail})(proxyAddresses=smtp:{mail}))",
        ),
        Term("employee_id", f"find user {employee}", f"(employeeID={employee})"),
    ]


# -- setup (untimed) ----------------------------------------------------------


def bench_users(count: int) -> list[TestUser]:
    return [
        TestUser(f"bench{i:05d}", GIVEN[i % len(GIVEN)], f"Tester{i:05d}", employee_id=f"7{i:06d}")
        for i in range(count)
    ]


def ensure_users(ad: SambaAd, users: list[TestUser], ou: str = OU) -> None:
    """Seed the users missing from OU=`ou` (all of them on the first run) in one connection."""
    conn = ad.admin()
    try:
        try:
            entries = conn.extend.standard.paged_search(
                f"OU={ou},{ad.base_dn}",
                "(objectClass=user)",
                attributes=["sAMAccountName"],
                paged_size=1000,
                generator=False,
            )
            have = {e["raw_attributes"]["sAMAccountName"][0].decode() for e in entries}
        except LDAPNoSuchObjectResult:
            have = set()
        missing = [u for u in users if u.account not in have]
        print(f"seed: {len(have)} users present in OU={ou}, {len(missing)} to add", flush=True)
        started = time.perf_counter()
        for at in range(0, len(missing), 1000):
            seed_users(conn, ad.base_dn, missing[at : at + 1000], ou=ou)
            print(f"seed: {at + len(missing[at : at + 1000])}/{len(missing)}", flush=True)
        if missing:
            took = time.perf_counter() - started
            per_user = took / len(missing) * 1e3
            print(f"seed: {len(missing)} users in {took:.1f} s ({per_user:.2f} ms/user)")
    finally:
        conn.unbind()


def services_for(ad: SambaAd, workdir: str, audit_url: str | None) -> Services:
    raw = {
        "slack": {"bot_token": "${BENCH_BOT_TOKEN}", "signing_secret": "${BENCH_SIGNING_SECRET}"},
        "roles": {"viewer": {"users": [BENCH_USER]}},
        "audit": {
            "url": audit_url or f"sqlite:///{workdir}/bench-audit.db",
            "subject_key": "${BENCH_SUBJECT_KEY}",
            "chain_key": "${BENCH_CHAIN_KEY}",
        },
        "connectors": {
            "ad": {
                "url": ad.uri,
                "bind_dn": ad.bind_dn,
                "password": "${BENCH_AD_PASS}",
                "base_dn": ad.base_dn,
                "ca_file": ad.ca_file,
            }
        },
    }
    environ = {
        "BENCH_BOT_TOKEN": "xoxb-bench-not-a-token",
        "BENCH_SIGNING_SECRET": "bench-not-a-secret",
        "BENCH_SUBJECT_KEY": "bench-subject-key-not-a-secret",
        "BENCH_CHAIN_KEY": "bench-chain-key-not-a-secret-0123456789",
        "BENCH_AD_PASS": ad.password,
    }
    # find never notifies; the erasure workflow's notices would go nowhere.
    notifier = ConsoleNotifier(io.StringIO())
    return build_services(parse_config(raw, environ=environ, source="bench"), notifier=notifier)


class NoAudit:
    """Stands in for AuditLog, only here, to show what the audit write costs."""

    def record(self, **_: Any) -> int:
        return 0


class InlineExecutor(Executor):
    """Runs the connector on the caller's thread: shows the pool hand-off; lets cProfile see it."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the future, as a pool would
            fut.set_exception(exc)
        return fut


def variant(services: Services, *, audit: Any, executor: Executor) -> Services:
    search = SearchService(
        services.connectors,
        audit=audit,
        keyer=services.keyer,
        timeout=services.config.search.timeout_seconds,
        max_hits_per_system=services.config.search.max_hits_per_system,
        executor=executor,  # type: ignore[arg-type]
    )
    return dataclasses.replace(services, search=search)


def bare_connection(ad: SambaAd) -> ldap3.Connection:
    """One persistent, bound ldaps connection, set up as the connector sets up its own."""
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED, ca_certs_file=ad.ca_file, version=ssl.PROTOCOL_TLS_CLIENT
    )
    server = ldap3.Server(ad.uri, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    return ldap3.Connection(server, ad.bind_dn, ad.password, auto_bind=True, raise_exceptions=True)


# -- timing -------------------------------------------------------------------


def interleave(
    fns: dict[str, Callable[[], object]], *, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Time each callable once a round; who goes first rotates, so none always follows another."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            fn = fns[name]
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def stats(samples: list[float]) -> tuple[float, float]:
    """Median and p95 (nearest rank) in milliseconds."""
    ms = sorted(s * 1e3 for s in samples)
    return statistics.median(ms), ms[math.ceil(0.95 * len(ms)) - 1]


def machine(packages: tuple[str, ...] = ("ldap3", "SQLAlchemy", "slack_sdk", "pydantic")) -> str:
    """The machine, its load and the versions that matter, printed beside every figure."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [
        ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")
    ]
    model = models[0] if models else platform.processor() or "?"
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in packages)
    try:
        samba = subprocess.run(["samba", "--version"], capture_output=True, text=True).stdout
    except OSError:
        samba = "samba not installed"
    samba = samba.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {model}, "
        f"{platform.platform()}, load {load}\n"
        f"python {platform.python_version()} ({sys.implementation.name}); {versions}; {samba}"
    )


def profile(fn: Callable[[], object], *, rounds: int, title: str, top: int) -> None:
    """cProfile `rounds` calls: the top functions by own time, then our own code by cumulative."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(rounds):
        fn()
    prof.disable()
    print(f"\n== profile: {title}, {rounds} calls (cProfile inflates Python-heavy code) ==")
    pstats.Stats(prof, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(top)
    ours = r"/(bot|connectors|handlers)/|commit|_execute_context|connection.py.*search|to_dict\b"
    pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(ours, top)


# -- the benchmark ------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    os.environ["AD_IP"] = args.ad_ip  # start_samba hands the environment to the lab script
    status = subprocess.run(
        ["bash", str(SCRIPT), "status"],
        env=dict(os.environ, AD_DIR=args.ad_dir),
        capture_output=True,
    )
    was_running = status.returncode == 0
    started = time.perf_counter()
    ad = start_samba(args.ad_dir, reset=False)
    print(f"samba: {ad.uri} from {args.ad_dir} ({time.perf_counter() - started:.1f} s)")
    try:
        ensure_users(ad, bench_users(args.users))
        with tempfile.TemporaryDirectory(prefix="mimbot-bench-") as workdir:
            return measure(ad, args, workdir)
    finally:
        if not (was_running or args.keep_running):
            ad.run("stop")


@dataclasses.dataclass
class Bench:
    """Everything the timed calls need, built before any timing starts."""

    ad: SambaAd
    services: Services  # as the app builds them: pool fan-out, SQLite audit
    no_audit: Services  # the same, with the audit write left out
    inline: Services  # the same, with the connector run on the caller's thread
    inline_no_audit: Services  # neither pool nor audit: the floor of this design
    bare_conn: ldap3.Connection
    attributes: list[str]
    replies: list[Reply] = dataclasses.field(default_factory=list)

    def bot(self, text: str, services: Services | None = None) -> None:
        svc = services or self.services
        run_command(text, user_id=BENCH_USER, services=svc, respond=self.replies.append)

    def bare(self, ldap_filter: str, *, paged_size: int = 0) -> list[dict[str, Any]]:
        self.bare_conn.search(
            self.ad.base_dn,
            ldap_filter,
            ldap3.SUBTREE,
            attributes=self.attributes,
            paged_size=paged_size or None,
        )
        return self.bare_conn.response


def pieces(b: Bench, text: str, ldap_filter: str) -> dict[str, Callable[[], object]]:
    """The path taken apart, so the reader sees where the time goes."""
    svc, connector = b.services, b.services.connectors[0]
    page = svc.config.search.max_hits_per_system  # the connector pages by min(page_size, max_hits)
    cmd = parse(text)
    assert isinstance(cmd, FindCommand)
    actor = svc.roles.actor(BENCH_USER)
    result = svc.search.find(cmd.query, actor=actor)
    key = svc.search.subject_key(cmd.query)
    detail = {
        "query_kind": cmd.query.kind.value,
        "attribute": None,
        "systems": {"ad": {"outcome": "found", "hits": 1}},
    }
    return {
        "whole path (bot, again)": lambda: b.bot(text),
        "whole path, no audit write": lambda: b.bot(text, b.no_audit),
        "whole path, no thread pool": lambda: b.bot(text, b.inline),
        "whole path, no pool, no audit": lambda: b.bot(text, b.inline_no_audit),
        "bare + paged control": lambda: b.bare(ldap_filter, paged_size=page),
        "parse + authorise": lambda: svc.authz.require(
            svc.roles.actor(BENCH_USER), parse(text).name
        ),
        "connector.search (caller thread)": lambda: connector.search(cmd.query, timeout=2.0),
        "fan-out via pool, no audit": lambda: b.no_audit.search.find(cmd.query, actor=actor),
        "audit write (record)": lambda: svc.audit.record(
            actor=BENCH_USER,
            roles=actor.role_names,
            action="find",
            outcome="ok",
            subject_key=key,
            detail=detail,
        ),
        "render (find_result)": lambda: render.find_result(result),
    }


def measure_term(b: Bench, term: Term, args: argparse.Namespace) -> tuple[str, float] | None:
    """Time one term; print its table; return its summary line and ratio (None if bot and
    bare disagree)."""
    ldap_filter = PERSON_FILTER.format(term.ldap)
    # Both must find the same one person, or the comparison means nothing.
    b.bot(term.text)
    dns = [e["dn"] for e in b.bare(ldap_filter) if e.get("type") == "searchResEntry"]
    if len(dns) != 1 or "found 1" not in b.replies[-1].text:
        print(f"{term.name}: expected one hit each; bare {dns}, bot {b.replies[-1].text!r}")
        return None
    times = interleave(
        {"bot": lambda: b.bot(term.text), "bare": lambda: b.bare(ldap_filter)},
        rounds=args.rounds,
        warmup=args.warmup,
    )
    part_rounds = args.part_rounds if args.part_rounds is not None else max(50, args.rounds // 3)
    parts = interleave(
        pieces(b, term.text, ldap_filter), rounds=part_rounds, warmup=min(5, args.warmup)
    )
    b.replies.clear()
    print(f"{term.name}: /mim {term.text}")
    for name, samples in {**times, **parts}.items():
        med, p95 = stats(samples)
        print(f"  {name:34} median {med:7.2f}  p95 {p95:7.2f}")
    (bot_med, bot_p95), (bare_med, bare_p95) = stats(times["bot"]), stats(times["bare"])
    ratio = bot_med / bare_med
    misses = [
        *([f"ratio over {TARGET_RATIO}"] if ratio > TARGET_RATIO else []),
        *([f"median over {TARGET_MEDIAN_MS:g} ms"] if bot_med >= TARGET_MEDIAN_MS else []),
        *(["bare alone is over it too"] if bare_med >= TARGET_MEDIAN_MS else []),
    ]
    return (
        f"{term.name:12} bot median {bot_med:.1f} ms p95 {bot_p95:.1f} ms | "
        f"bare median {bare_med:.1f} ms p95 {bare_p95:.1f} ms | ratio {ratio:.2f} "
        f"(target <= {TARGET_RATIO}) " + (f"MISSED: {', '.join(misses)}" if misses else "met")
    ), ratio


def measure(ad: SambaAd, args: argparse.Namespace, workdir: str) -> int:
    services = services_for(ad, workdir, args.audit_url)
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bench-fanout")
    ad_config = services.config.connectors.ad
    assert ad_config is not None
    b = Bench(
        ad=ad,
        services=services,
        no_audit=variant(services, audit=NoAudit(), executor=pool),
        inline=variant(services, audit=services.audit, executor=InlineExecutor()),
        inline_no_audit=variant(services, audit=NoAudit(), executor=InlineExecutor()),
        bare_conn=bare_connection(ad),
        attributes=list(dict.fromkeys((*IDENTITY_ATTRIBUTES, *ad_config.attributes))),
    )
    print(machine())
    print(
        f"audit: {services.config.audit.url.split(':', 1)[0]}; rounds {args.rounds}, "
        f"warm-up {args.warmup}; times in ms\n"
    )
    try:
        measured = {term.name: measure_term(b, term, args) for term in terms(args.users // 2)}
        if None in measured.values():
            return 2
        summary = [m[0] for m in measured.values() if m]
        if args.profile:
            term = terms(args.users // 2)[0]
            title = f"whole path ({term.name}), connector inline so cProfile sees it"
            profile(
                lambda: b.bot(term.text, b.inline), rounds=args.profile, title=title, top=args.top
            )
        missed = sum("MISSED" in line for line in summary)
        print("\n" + "\n".join(summary))
        print(f"target missed for {missed} of {len(summary)} term(s)" if missed else "target met")
        for name, m in measured.items():
            if m:
                print_ratio(BENCH, f"{name} bot/bare median", m[1], target=TARGET_RATIO)
        return 0
    finally:
        b.bare_conn.unbind()
        pool.shutdown()
        services.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.find_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=10_000, help="bench users in the directory")
    parser.add_argument("--rounds", type=int, default=300, help="timed rounds per term")
    parser.add_argument("--warmup", type=int, default=30, help="untimed rounds first")
    parser.add_argument(
        "--part-rounds",
        type=int,
        metavar="N",
        help="timed rounds of the where-the-time-goes loop (default: a third of --rounds, >= 50)",
    )
    parser.add_argument("--ad-dir", default=DEFAULT_AD_DIR, help="this Samba instance's directory")
    parser.add_argument("--ad-ip", default=os.environ.get("AD_IP", DEFAULT_AD_IP))
    parser.add_argument("--audit-url", help="audit database URL (default: a temp SQLite file)")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="then cProfile N calls of the account path and of the connector",
    )
    parser.add_argument("--top", type=int, default=25, help="profile lines to print")
    parser.add_argument("--keep-running", action="store_true", help="leave Samba running")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
