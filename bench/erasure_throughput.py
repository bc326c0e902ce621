"""Erasure throughput on Samba AD: the bot's request + approve path against bare ldap3 deletes.

The issue: 1,000 subjects on Samba AD, approvals granted through the domain API
(not Slack): throughput, and the ratio against a bare ldap3 delete loop in the
same run (target: at most 2x); and the time from the approve click to
"completed" for one request. Run from the repository root (about 7.5 minutes
at 1,000 subjects on a 2-core machine):

    AD_IP=127.0.0.4 .venv/bin/python -m bench.erasure_throughput            # 1,000 subjects
    AD_IP=127.0.0.4 .venv/bin/python -m bench.erasure_throughput --subjects 100 --profile 30
    AD_IP=127.0.0.4 .venv/bin/python -m bench.erasure_throughput --postgres   # PostgreSQL store
    .venv/bin/python -m bench.erasure_throughput --help

Options: --subjects N (1000, per path), --warmup N (10 per path, untimed),
--batch N (50 subjects per path per turn), --ad-dir DIR
(/tmp/mimbot-samba-erasure-bench), --ad-ip IP ($AD_IP, else 127.0.0.4),
--db-url URL or --postgres (default: SQLite in a temporary directory),
--profile N (100; 0 skips), --top N (20), --clicks N (20; 0 skips),
--no-employee-id (seed without employeeID), --keep-running.

It resets and starts its own Samba AD DC (tests/support/samba.py, `reset=True`)
on 127.0.0.4 (127.0.0.1-.3 belong to the test suites and bench.find_latency)
and stops it at the end unless --keep-running. After an interrupted run:

    AD_IP=127.0.0.4 AD_DIR=/tmp/mimbot-samba-erasure-bench bash tests/support/samba-ad-up.sh stop

Setup, untimed: seed 4 x (N + warm-up) users with ldap3 (with employeeID, as
an HR-fed estate has), one OU per path, plus the profile and click users;
build the services as the app does (`parse_config`,
`build_services(background=False)`) with a notifier that renders the Block Kit
Slack would get and sends nothing. Timed with `time.perf_counter()` per
subject, in interleaved batches (the path that goes first rotates), so drift,
neighbours' load and the growing tombstone count hit every path alike:

* bot: `erasure.request(Query(NAME, account))` then `decisions.approve(id)`, the
  runner inline (plan, durable steps, verification with tombstone lookup,
  audit events, notifier calls); request and approve are also shown apart;
* bare: one bound ldaps connection: search by sAMAccountName, delete the DN
  (the issue's baseline);
* bare+verify: bare, then a live re-search and a show-deleted tombstone search;
* bot LDAP ops: the eight LDAP operations the AD connector sends for one subject
  (same filters, attributes and controls), replayed on one connection with
  nothing else, each also timed alone: the LDAP floor of the current design.

Then: checks (every request completed, every OU empty, audit chain intact);
unit costs without the profiler (audit write, request read, a commit, a
render); "what if" timings of the costly LDAP operations against cheaper forms;
cProfile of --profile subjects (fan-out on the caller's thread) grouped by area,
with LDAP operations, commits, audit events and request reads counted per
subject; click-to-completed latency through the real bot
(tests/support/slackbot.py, MockSlack, signed `/mim delete` as UREQ, signed
Approve click as UAPP), where "committed" is the request row's `updated_at`
against the wall clock at the click, and Bot.wait_status polls every 50 ms.
The summary block at the end repeats the figures.

Reading it: Samba is not AD. Samba answers a subtree search under a leaf and an
OR holding one unindexed attribute (employeeID) by scanning, so those costs
grow with the directory and its tombstones; real AD indexes ancestors, but not
employeeID. Never asserted in tests; the ratio is printed, not enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import math
import os
import platform
import pstats
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from datetime import UTC
from importlib import metadata
from pathlib import Path
from typing import Any

import ldap3
import sqlalchemy as sa
from ldap3.utils.conv import escape_filter_chars

from bench.report import print_ratio
from bot.config import parse_config
from bot.lookup.search import SearchService
from bot.render import requests as render_requests
from bot.render.reply import Reply
from bot.render.requests import ACTION_APPROVE
from bot.services import Services, build_services
from bot.workflow.requests import Request, Step
from bot.workflow.schema import requests as requests_table
from connectors._shared.ldap import guid_filter_value
from connectors.ad.connector import IDENTITY_ATTRIBUTES, PERSON_FILTER
from connectors.ad.settings import DEFAULT_SCRUB_ATTRIBUTES
from connectors.base import Query, QueryKind
from tests.support.postgres import fresh_database, postgres_server
from tests.support.samba import SambaAd, TestUser, seed_users, start_samba
from tests.support.slack_stub import MockSlack
from tests.support.slackbot import start_bot

BENCH = "erasure_throughput"
DEFAULT_AD_DIR = "/tmp/mimbot-samba-erasure-bench"
DEFAULT_AD_IP = "127.0.0.4"
REQUESTER, APPROVER = "UBENCHREQ", "UBENCHAPP"
REASON = "bench: data subject asked"
TARGET_RATIO = 2.0
SHOW_DELETED = ("1.2.840.113556.1.4.417", True, None)
BOT, BARE, BARE_VERIFY, BOT_LDAP = "bot", "bare", "bare+verify", "bot LDAP ops"
PATHS = (BOT, BARE, BARE_VERIFY, BOT_LDAP)
# path or purpose -> (OU, account prefix, employee ID prefix)
GROUPS = {
    BOT: ("EraseBot", "eb", "1"),
    BARE: ("EraseBare", "ex", "2"),
    BARE_VERIFY: ("EraseBareVerify", "ev", "3"),
    BOT_LDAP: ("EraseBotLdap", "el", "4"),
    "profile": ("EraseProfile", "ep", "5"),
    "click": ("EraseClick", "ec", "6"),
}
ENVIRON = {
    "BENCH_BOT_TOKEN": "xoxb-bench-not-a-token",
    "BENCH_SIGNING_SECRET": "bench-not-a-secret",
    "BENCH_SUBJECT_KEY": "bench-subject-key-not-a-secret",
    "BENCH_CHAIN_KEY": "bench-chain-key-not-a-secret-0123456789",
}


# -- setup (untimed) ----------------------------------------------------------


def accounts(group: str, count: int) -> list[str]:
    return [f"{GROUPS[group][1]}{i:05d}" for i in range(count)]


def seed(ad: SambaAd, sizes: dict[str, int], *, employee_ids: bool) -> None:
    conn = ad.admin()
    started, total = time.perf_counter(), sum(sizes.values())
    try:
        for group, count in sizes.items():
            ou, _, emp = GROUPS[group]
            users = [
                TestUser(
                    account, "Erin", f"{ou} {i:05d}", f"{emp}{i:06d}" if employee_ids else None
                )
                for i, account in enumerate(accounts(group, count))
            ]
            seed_users(conn, ad.base_dn, users, ou=ou)
    finally:
        conn.unbind()
    took = time.perf_counter() - started
    print(f"seed: {total} users in {took:.1f} s ({took / total * 1e3:.2f} ms/user), untimed")


class RenderingNotifier:
    """Renders what SlackNotifier would post (slack_sdk validation included), sends nothing."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._ts = itertools.count(1)

    def approval_requested(self, request: Request) -> tuple[str, str]:
        self.calls["approval_requested"] += 1
        render_requests.approval_message(request)
        return "CBENCH", f"1.{next(self._ts):06d}"

    def request_updated(self, request: Request) -> None:
        self.calls["request_updated"] += 1
        if request.channel and request.message_ts:
            render_requests.approval_message(request)

    def thread(self, request: Request, text: str) -> None:
        self.calls["thread"] += 1
        Reply(text=text, private=False)

    def manual_step(self, request: Request, step: Step) -> None:
        self.calls["manual_step"] += 1
        render_requests.manual_step_message(request, step)

    def finished(self, request: Request) -> None:
        self.calls["finished"] += 1
        render_requests.finished_message(request)


def services_for(ad: SambaAd, db_url: str, notifier: RenderingNotifier) -> Services:
    raw = {
        "slack": {"bot_token": "${BENCH_BOT_TOKEN}", "signing_secret": "${BENCH_SIGNING_SECRET}"},
        "roles": {"requester": {"users": [REQUESTER]}, "approver": {"users": [APPROVER]}},
        "audit": {
            "url": db_url,
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
    config = parse_config(raw, environ={**ENVIRON, "BENCH_AD_PASS": ad.password}, source="bench")
    return build_services(config, notifier=notifier, background=False)


class InlineExecutor(Executor):
    """Runs the fan-out on the caller's thread, so cProfile (one thread) sees the LDAP calls."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the future, as a pool would
            fut.set_exception(exc)
        return fut


def inline_variant(services: Services) -> Services:
    search = SearchService(
        services.connectors,
        audit=services.audit,
        keyer=services.keyer,
        timeout=services.config.search.timeout_seconds,
        max_hits_per_system=services.config.search.max_hits_per_system,
        executor=InlineExecutor(),  # type: ignore[arg-type]
    )
    return replace(services, search=search, erasure=replace(services.erasure, search=search))


def bare_connection(ad: SambaAd) -> ldap3.Connection:
    """One bound ldaps connection, TLS set up as the connector sets up its own."""
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED, ca_certs_file=ad.ca_file, version=ssl.PROTOCOL_TLS_CLIENT
    )
    server = ldap3.Server(ad.uri, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    return ldap3.Connection(server, ad.bind_dn, ad.password, auto_bind=True, raise_exceptions=True)


# -- the timed paths ------------------------------------------------------------


@dataclass
class Bench:
    ad: SambaAd
    services: Services
    conn: ldap3.Connection  # the baselines' one connection
    attributes: list[str]  # what the connector's fan-out search asks for
    samples: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PATHS})
    request_s: list[float] = field(default_factory=list)
    approve_s: list[float] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    ops: dict[str, list[float]] = field(default_factory=dict)  # bot LDAP ops, one by one
    last_terms: list[str] = field(default_factory=list)  # the last replayed subject's filters

    def bot(self, account: str, services: Services | None = None, *, timed: bool = True) -> None:
        svc = services or self.services
        requester, approver = svc.roles.actor(REQUESTER), svc.roles.actor(APPROVER)
        t0 = time.perf_counter()
        request = svc.erasure.request(
            Query(QueryKind.NAME, account), actor=requester, reason=REASON
        )
        t1 = time.perf_counter()
        svc.decisions.approve(request.id, actor=approver)
        t2 = time.perf_counter()
        if timed:
            self.request_s.append(t1 - t0)
            self.approve_s.append(t2 - t1)
            self.samples[BOT].append(t2 - t0)
            self.request_ids.append(request.id)

    def search(
        self, base: str, flt: str, attrs: list[str], op: str = "", **kw: Any
    ) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        self.conn.search(base, flt, attributes=attrs, **kw)
        if op:
            self.ops.setdefault(op, []).append(time.perf_counter() - t0)
        return [e for e in self.conn.response if e.get("type") == "searchResEntry"]

    def bare(self, account: str, *, verify: bool = False) -> None:
        base, acc = self.ad.base_dn, escape_filter_chars(account)
        (entry,) = self.search(base, f"(sAMAccountName={acc})", ["objectGUID"])
        self.conn.delete(entry["dn"])
        if verify:
            guid = guid_filter_value(_guid(entry))
            assert not self.search(base, f"(sAMAccountName={acc})", ["objectGUID"])
            deleted = f"CN=Deleted Objects,{base}"
            attrs = ["objectGUID", "isDeleted", "isRecycled", "lastKnownParent", "whenChanged"]
            flt = f"(&(isDeleted=TRUE)(objectGUID={guid}))"
            assert self.search(deleted, flt, attrs, controls=[SHOW_DELETED])

    def bot_ldap(self, account: str) -> None:
        """The connector's operations for one subject (filters, attributes, controls alike),
        each timed on its own (`ops`) to show which of them cost."""
        base, v = self.ad.base_dn, escape_filter_chars(account)
        name = f"(|(sAMAccountName={v})(displayName={v})(cn={v}))"
        (hit,) = self.search(
            base,
            PERSON_FILTER.format(name),
            self.attributes,
            "request: fan-out search (paged)",
            paged_size=200,
            time_limit=2,
        )
        raw = hit["raw_attributes"]
        guid = guid_filter_value(_guid(hit))
        limits = {"time_limit": 10, "size_limit": 200}
        by_guid = f"(objectGUID={guid})"
        (found,) = self.search(
            base, by_guid, [ldap3.NO_ATTRIBUTES], "plan: objectGUID search", **limits
        )
        dn = found["dn"]
        self.search(
            dn,
            "(objectClass=*)",
            ["objectClass", "adminCount", "tokenGroups"],
            "plan: BASE read (tokenGroups)",
            search_scope=ldap3.BASE,
            **limits,
        )
        self.search(
            dn,
            "(objectClass=*)",
            [ldap3.NO_ATTRIBUTES],
            "plan: children (one level, 1 entry)",
            search_scope=ldap3.LEVEL,
            time_limit=10,
            size_limit=1,
        )
        scrub = ["objectClass", *DEFAULT_SCRUB_ATTRIBUTES, "userAccountControl"]
        self.search(base, by_guid, scrub, "apply: objectGUID search (scrub attributes)", **limits)
        t0 = time.perf_counter()
        self.conn.delete(dn)  # no children: no tree delete, no second try
        self.ops.setdefault("apply: delete", []).append(time.perf_counter() - t0)
        text = {a: raw[a][0].decode() for a in ("sAMAccountName", "userPrincipalName", "mail")}
        terms = [
            by_guid,
            f"(sAMAccountName={escape_filter_chars(text['sAMAccountName'])})",
            f"(userPrincipalName={escape_filter_chars(text['userPrincipalName'])})",
            f"(|(mail={escape_filter_chars(text['mail'])})"
            f"(proxyAddresses=smtp:{escape_filter_chars(text['mail'])}))",
            f"(distinguishedName={escape_filter_chars(hit['dn'])})",
        ]
        self.last_terms = terms
        attrs = ["objectGUID", "isDeleted", "isRecycled", "lastKnownParent", "whenChanged"]
        show = {"controls": [SHOW_DELETED], **limits}
        found = self.search(
            base, f"(|{''.join(terms)})", attrs,
            "verify: show-deleted search, OR of indexed identifiers", **show,
        )  # fmt: skip
        assert found and all(e["raw_attributes"].get("isDeleted") for e in found)
        if raw.get("employeeID"):  # unindexed: a search of its own, as the connector does
            by_id = f"(employeeID={escape_filter_chars(raw['employeeID'][0].decode())})"
            self.last_terms = [*terms, by_id]
            assert not self.search(base, f"(|{by_id})", attrs,
                                   "verify: show-deleted search, employeeID", **show)  # fmt: skip

    def timed(self, path: str) -> Callable[[str], None]:
        if path == BOT:
            return self.bot
        run = {
            BARE: self.bare,
            BARE_VERIFY: lambda a: self.bare(a, verify=True),
            BOT_LDAP: self.bot_ldap,
        }[path]

        def call(account: str) -> None:
            t0 = time.perf_counter()
            run(account)
            self.samples[path].append(time.perf_counter() - t0)

        return call


def _guid(entry: dict[str, Any]) -> str:
    return str(uuid.UUID(bytes_le=entry["raw_attributes"]["objectGUID"][0]))


def interleaved(b: Bench, n: int, warmup: int, batch: int) -> float:
    """Warm-up rounds, then batches of `batch` subjects per path; the first path rotates."""
    names = {p: accounts(p, n + warmup) for p in PATHS}
    for p in PATHS:  # connection pool, lifetimes cache, SQLAlchemy's compiled statements
        for account in names[p][n:]:
            if p == BOT:
                b.bot(account, timed=False)
            else:
                b.timed(p)(account)
    for p in PATHS:
        b.samples[p].clear()
    b.ops.clear()
    started = time.perf_counter()
    turns = range(0, n, batch)
    for k, at in enumerate(turns):
        order = PATHS[k % len(PATHS) :] + PATHS[: k % len(PATHS)]
        for p in order:
            run = b.timed(p)
            for account in names[p][at : at + batch]:
                run(account)
        if (k + 1) % max(1, len(turns) // 5) == 0 or k + 1 == len(turns):
            took = time.perf_counter() - started
            print(f"  {min(at + batch, n)}/{n} subjects per path, {took:.0f} s", flush=True)
    return time.perf_counter() - started


# -- figures --------------------------------------------------------------------


def pct(samples: list[float], q: float) -> float:
    ms = sorted(s * 1e3 for s in samples)
    return ms[math.ceil(q * len(ms)) - 1]


def line(name: str, samples: list[float]) -> str:
    total = sum(samples)
    return (
        f"  {name:26} {total:8.2f} s  {len(samples) / total:8.1f} subj/s  "
        f"median {statistics.median(samples) * 1e3:7.2f} ms  p95 {pct(samples, 0.95):7.2f} ms"
    )


def machine(args: argparse.Namespace, db: str) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [
        ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")
    ]
    versions = ", ".join(
        f"{p} {metadata.version(p)}" for p in ("ldap3", "SQLAlchemy", "slack_sdk", "tenacity")
    )
    samba = subprocess.run(["samba", "--version"], capture_output=True, text=True).stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
        f"{models[0] if models else platform.processor()}, {platform.platform()}, load {load}\n"
        f"python {platform.python_version()}; {versions}; {samba}; store {db}; "
        f"employeeID {'set' if args.employee_ids else 'unset'}"
    )


def throughput(b: Bench, n: int, wall: float) -> tuple[dict[str, float], list[str]]:
    print(f"\n== throughput: {n} subjects per path, interleaved in batches (wall {wall:.1f} s) ==")
    lines = []
    for p in PATHS:
        lines.append(line(p, b.samples[p]))
        if p == BOT:
            lines.append(line("  request (search, plan)", b.request_s))
            lines.append(line("  approve (run, verify)", b.approve_s))
    print("\n".join(lines))
    print(f"  {BOT_LDAP}, one operation at a time:")
    for op, samples in b.ops.items():
        print(
            f"    {op:42} median {statistics.median(samples) * 1e3:6.2f} ms  "
            f"p95 {pct(samples, 0.95):6.2f} ms"
        )
    per = {p: sum(b.samples[p]) / n for p in PATHS}
    print(f"  bot minus its own LDAP ops: {(per[BOT] - per[BOT_LDAP]) * 1e3:.1f} ms/subject")
    return per, lines


def check(b: Bench) -> tuple[str, bool]:
    """After timing: every request finished, every OU empty, the audit chain intact."""
    statuses = Counter(b.services.requests.get(r).status.value for r in b.request_ids)
    left = {}
    for p in PATHS:
        ou = f"OU={GROUPS[p][0]},{b.ad.base_dn}"
        b.conn.search(ou, "(objectClass=user)", attributes=[ldap3.NO_ATTRIBUTES])
        left[p] = sum(e.get("type") == "searchResEntry" for e in b.conn.response)
    t0 = time.perf_counter()
    chain = b.services.audit.verify()
    took = time.perf_counter() - t0
    text = (
        f"checks: bot requests {dict(statuses)}; users left per path {left}; audit chain "
        f"{'ok' if chain.ok else 'BROKEN: ' + chain.problem}, {chain.events} events "
        f"(verified in {took:.1f} s)"
    )
    print(text)
    done = {"completed", "completed_with_residuals"}
    ok = bool(statuses) and set(statuses) <= done and not any(left.values()) and chain.ok
    if not ok:
        print("checks FAILED: the figures above did not time completed erasures")
    return text, ok


# -- profile --------------------------------------------------------------------

AREAS = (  # first match wins: (label, predicate on "file:function")
    ("PostgreSQL driver and wire (psycopg)", ("/psycopg/", "psycopg", "epoll")),
    ("LDAP wire: TLS socket I/O (waiting on Samba)", ("_ssl.", "/ssl.py", "socket")),
    ("ldap3 + pyasn1 (BER codec, Python)", ("/ldap3/", "/pyasn1/")),
    ("SQLite commit (fsync)", ("'commit' of 'sqlite3",)),
    ("SQLite execute/fetch (C)", ("sqlite3.",)),
    ("SQLAlchemy (Python)", ("/sqlalchemy/",)),
    ("Block Kit rendering (slack_sdk models)", ("/slack_sdk/", "/bot/render")),
    ("tenacity", ("/tenacity/",)),
    ("hashing (hashlib/hmac)", ("hashlib", "hmac", "_hashlib")),
    ("JSON", ("/json/", "_json")),
    ("dates (datetime, strptime)", ("datetime", "_strptime")),
    ("threads, locks, queues", ("threading", "/queue.py", "concurrent", "_thread")),
    ("bot/ own code", ("/bot/",)),
    ("connectors/ own code", ("/connectors/",)),
)
KEYS = (  # (label, file suffix, function): inclusive time and calls
    ("ErasureService.request", "bot/workflow/erasure.py", "request"),
    ("  SearchService.find (fan-out + audit)", "bot/lookup/search.py", "find"),
    ("  ErasureService.plan", "bot/workflow/erasure.py", "plan"),
    ("  RequestStore.create", "bot/workflow/store/store.py", "create"),
    ("  RequestIds.ensure", "bot/workflow/store/ids.py", "ensure"),
    ("DecisionService.approve", "bot/workflow/decisions.py", "approve"),
    ("  Runner.run", "bot/workflow/runner.py", "run"),
    ("    Runner._apply (tenacity + renew + apply)", "bot/workflow/runner.py", "_apply"),
    ("      AdEraser.apply", "connectors/ad/erasure.py", "apply"),
    ("    Runner._verify", "bot/workflow/runner.py", "_verify"),
    ("      AdEraser.verify_absent", "connectors/ad/erasure.py", "verify_absent"),
    ("AuditLog.record (all callers)", "bot/audit/chain.py", "record"),
    ("RequestStore.get (all callers)", "bot/workflow/store/store.py", "get"),
    ("ldap3 Connection.search", "ldap3/core/connection.py", "search"),
    ("ldap3 Connection.delete", "ldap3/core/connection.py", "delete"),
    ("sqlite3 commit", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("psycopg commit", "psycopg/connection.py", "commit"),
    ("render approval_message", "bot/render/requests.py", "approval_message"),
    ("render finished_message", "bot/render/requests.py", "finished_message"),
    ("AdEraser._lookup", "connectors/ad/erasure.py", "_lookup"),
    ("AdEraser._children", "connectors/ad/erasure.py", "_children"),
)


def what_if(b: Bench, rounds: int = 100) -> list[str]:
    """The LDAP operations that were costly ("before") against the forms the connector
    now uses ("bot"), on the last erased subject."""
    base, terms = b.ad.base_dn, b.last_terms
    guid, deleted = terms[0], f"CN=Deleted Objects,{base}"
    indexed = f"(|{''.join(t for t in terms if not t.startswith('(employeeID='))})"
    any_of = f"(|{''.join(terms)})"
    attrs = ["objectGUID", "isDeleted", "isRecycled", "lastKnownParent", "whenChanged"]
    admin = f"CN=Administrator,CN=Users,{base}"
    fns: dict[str, Callable[[], object]] = {
        "verify live: OR of all identifiers (before)": lambda: b.search(
            base, any_of, ["objectGUID"]
        ),
        "verify live: OR without employeeID (bot)": lambda: b.search(base, indexed, ["objectGUID"]),
        "verify: live, then tombstone by GUID: 2 searches (before)": lambda: (
            b.search(base, indexed, ["objectGUID"]),
            b.search(deleted, f"(&(isDeleted=TRUE){guid})", attrs, controls=[SHOW_DELETED]),
        ),
        "verify: live and deleted, 1 show-deleted search (bot)": lambda: b.search(
            base, indexed, attrs, controls=[SHOW_DELETED]
        ),
        "children: subtree, all (before)": lambda: b.search(
            admin, "(objectClass=*)", [ldap3.NO_ATTRIBUTES]
        ),
        "children: one level, size limit 1 (bot)": lambda: b.search(
            admin, "(objectClass=*)", [ldap3.NO_ATTRIBUTES], search_scope=ldap3.LEVEL, size_limit=1
        ),
    }
    print(f"\n== what if: costly LDAP operations vs cheaper forms ({rounds} rounds each) ==")
    out = []
    for name, fn in fns.items():
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out.append(
            f"  {name:56} median {statistics.median(times) * 1e3:6.2f} ms  "
            f"p95 {pct(times, 0.95):6.2f} ms"
        )
        print(out[-1])
    return out


def profile(b: Bench, count: int, top: int) -> dict[str, tuple[int, float]]:
    svc = inline_variant(b.services)
    names = accounts("profile", count)
    b.bot(names[0], svc, timed=False)  # warm the inline variant
    prof = cProfile.Profile()
    prof.enable()
    for account in names[1:]:
        b.bot(account, svc, timed=False)
    prof.disable()
    n = count - 1
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values())  # type: ignore[attr-defined]
    print(f"\n== profile: {n} subjects, bot path, connector inline (cProfile inflates Python) ==")
    print(
        f"  profiled total {total:.2f} s = {total / n * 1e3:.1f} ms/subject\n  by area (own time):"
    )
    areas: Counter[str] = Counter()
    for (file, _, func), (_, _, tt, _, _) in st.stats.items():  # type: ignore[attr-defined]
        where = f"{file}:{func}"
        areas[
            next((a for a, keys in AREAS if any(k in where for k in keys)), "other Python/stdlib")
        ] += tt
    for area, tt in areas.most_common():
        print(f"    {area:46} {tt:7.2f} s {tt / total:6.1%} {tt / n * 1e3:7.2f} ms/subject")
    print("  key functions (inclusive; nested lines are part of the line above):")
    found: dict[str, tuple[int, float]] = {}
    for label, suffix, func in KEYS:
        hits = [
            (nc, ct)
            for (file, _, f), (_, nc, _, ct, _) in st.stats.items()  # type: ignore[attr-defined]
            if f == func and file.replace("\\", "/").endswith(suffix)
        ]
        calls, cum = sum(h[0] for h in hits), sum(h[1] for h in hits)
        found[label.strip()] = (calls, cum)
        print(
            f"    {label:46} {calls / n:6.1f} calls/subj "
            f"{cum / n * 1e3:8.2f} ms/subj {cum / total:6.1%}"
        )
    print(f"\n  top {top} by own time:")
    st.sort_stats("tottime").print_stats(top)
    return {k: (c / n, t / n) for k, (c, t) in found.items()}


def unit_costs(b: Bench, rounds: int = 200) -> dict[str, float]:
    """Single operations without the profiler; times the profile's counts, a cost model."""
    svc, request_id = b.services, b.request_ids[-1]
    request = svc.requests.get(request_id)
    fns: dict[str, Callable[[], object]] = {
        "LDAP indexed search (bare conn)": lambda: b.conn.search(
            b.ad.base_dn, "(sAMAccountName=Administrator)", attributes=["objectGUID"]
        ),
        "AuditLog.record": lambda: svc.audit.record(
            actor=APPROVER,
            roles=["approver"],
            action="bench_unit",
            outcome="ok",
            request_id=request_id,
            subject_key=request.subject_keys[0],
            detail={"seq": 1},
        ),
        "RequestStore.get": lambda: svc.requests.get(request_id),
        # A finished request cannot start running: one compare-and-set that loses, 1 commit.
        "Decisions.start_running (lost CAS)": lambda: svc.requests.decisions.start_running(
            request_id
        ),
        "render approval_message": lambda: render_requests.approval_message(request),
    }
    print(f"\n== unit costs, no profiler ({rounds} rounds each) ==")
    out = {}
    for name, fn in fns.items():
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
        print(f"  {name:34} median {out[name] * 1e3:6.2f} ms  p95 {pct(times, 0.95):6.2f} ms")
    return out


# -- click to completed, through the real bot -------------------------------------


def click_latency(ad: SambaAd, rounds: int, db_url: str | None) -> list[str]:
    names = accounts("click", rounds + 2)
    stub = MockSlack(usergroups={"SIAM": []}).start()
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mimbot-bench-click-") as tmp:
        overrides = {"audit__url": db_url} if db_url else {}
        bot = start_bot(Path(tmp), stub, ad, **overrides)
        figures: dict[str, list[float]] = {k: [] for k in ("ack", "db", "poll", "notice", "slash")}
        try:
            for i, account in enumerate(names):
                t0 = time.perf_counter()
                bot.slash(f"delete {account} {REASON}", "UREQ", name=f"r{i}")
                text = bot.answer(f"r{i}", timeout=20)["text"]
                slash = time.perf_counter() - t0
                if not text.startswith("Erasure request REQ-"):
                    raise RuntimeError(f"unexpected answer to /mim delete: {text!r}")
                request_id = text.split()[2]
                noticed: dict[str, float] = {}
                waiter = threading.Thread(
                    target=_wait_notice, args=(stub, request_id, noticed), daemon=True
                )
                waiter.start()
                wall, t0 = time.time(), time.perf_counter()
                status, _, ack = bot.click(ACTION_APPROVE, request_id, "UAPP", name=f"c{i}")
                bot.wait_status(request_id, "completed", "completed_with_residuals")
                poll = time.perf_counter() - t0
                waiter.join(30)
                with bot.services.engine.connect() as c:
                    updated = c.execute(
                        sa.select(requests_table.c.updated_at).where(
                            requests_table.c.id == request_id
                        )
                    ).scalar_one()
                updated = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
                if i < 2 or status != 200:  # warm-up (first TLS bind, first renders)
                    continue
                figures["slash"].append(slash)
                figures["ack"].append(ack)
                figures["db"].append(updated.timestamp() - wall)
                figures["poll"].append(poll)
                if "t" in noticed:
                    figures["notice"].append(noticed["t"] - t0)
        finally:
            bot.stop()
            stub.stop()
    if len(figures["ack"]) < rounds:
        raise RuntimeError(f"{rounds - len(figures['ack'])} of {rounds} clicks not acked 200")
    labels = {
        "slash": "/mim delete -> answer (request created)",
        "ack": "Approve click -> HTTP 200 (ack)",
        "db": "click -> 'completed' committed (row time)",
        "poll": "click -> Bot.wait_status returned (50 ms poll)",
        "notice": "click -> outcome posted to notifications",
    }
    print(f"\n== click to completed: real bot, signed requests, {rounds} rounds after 2 warm-up ==")
    for key, label in labels.items():
        s = figures[key]
        if s:
            out.append(
                f"  {label:46} median {statistics.median(s) * 1e3:7.1f} ms  "
                f"p95 {pct(s, 0.95):7.1f} ms  (n={len(s)})"
            )
            print(out[-1])
    return out


def _wait_notice(stub: MockSlack, request_id: str, noticed: dict[str, float]) -> None:
    """Stamp the moment the outcome reaches the notifications channel (the stub wakes us)."""
    count = len(stub.calls("chat.postMessage")) + 1
    with contextlib.suppress(AssertionError):
        while True:
            calls = stub.wait_for("chat.postMessage", count=count, timeout=30)
            if any(
                c.body.get("channel") == "CNOTIFY" and request_id in (c.body.get("text") or "")
                for c in calls
            ):
                noticed["t"] = time.perf_counter()
                return
            count = len(calls) + 1


# -- the benchmark ------------------------------------------------------------------


@contextlib.contextmanager
def database(
    args: argparse.Namespace, workdir: str
) -> Iterator[tuple[str, Callable[[], str] | None]]:
    """The bench store's URL, and a maker of fresh ones for the click bot (None: its own SQLite)."""
    if args.postgres:
        with postgres_server() as admin:
            yield fresh_database(admin), lambda: fresh_database(admin)
    else:
        yield args.db_url or f"sqlite:///{workdir}/bench-erasure.db", None


def run(args: argparse.Namespace) -> int:
    os.environ["AD_IP"] = args.ad_ip  # start_samba hands the environment to the lab script
    n, w = args.subjects, args.warmup
    t0 = time.perf_counter()
    ad = start_samba(args.ad_dir, reset=True)
    print(
        f"samba: {ad.uri} from {args.ad_dir}, reset and started in {time.perf_counter() - t0:.1f} s"
    )
    try:
        sizes = {p: n + w for p in PATHS}
        sizes.update(profile=args.profile + 1 if args.profile else 0, click=args.clicks + 2)
        seed(ad, {g: c for g, c in sizes.items() if c}, employee_ids=args.employee_ids)
        with (
            tempfile.TemporaryDirectory(prefix="mimbot-bench-") as workdir,
            database(args, workdir) as (db_url, fresh),
        ):
            return measure(ad, args, db_url, fresh)
    finally:
        if not args.keep_running:
            ad.run("stop")
            print(f"samba: stopped ({args.ad_dir})")


def measure(
    ad: SambaAd, args: argparse.Namespace, db_url: str, fresh: Callable[[], str] | None
) -> int:
    notifier = RenderingNotifier()
    services = services_for(ad, db_url, notifier)
    ad_config = services.config.connectors.ad
    assert ad_config is not None
    b = Bench(
        ad=ad,
        services=services,
        conn=bare_connection(ad),
        attributes=list(dict.fromkeys((*IDENTITY_ATTRIBUTES, *ad_config.attributes))),
    )
    db = db_url.split(":", 1)[0].split("+", 1)[0]
    info = machine(args, db)
    print(info)
    print(f"paths {', '.join(PATHS)}; batch {args.batch}; warm-up {args.warmup} per path")
    try:
        wall = interleaved(b, args.subjects, args.warmup, args.batch)
        per, lines = throughput(b, args.subjects, wall)
        checked, ok = check(b)
        units = unit_costs(b)
        alternatives = what_if(b)
        counts = profile(b, args.profile + 1, args.top) if args.profile else {}
    finally:
        b.conn.unbind()
        services.close()
    clicks: list[str] = []
    if args.clicks:
        try:
            clicks = click_latency(ad, args.clicks, fresh() if fresh else None)
        except Exception as exc:  # noqa: BLE001 - keep the throughput figures already measured
            clicks = [f"  failed: {exc.__class__.__name__}: {exc}"]
            print(clicks[0])
            ok = False  # the figures are printed; the run still fails
    measured = {"units": units, "counts": counts, "what_if": alternatives, "clicks": clicks}
    summary(args, info, (per, lines), checked, measured, dict(notifier.calls))
    return 0 if ok else 2


def summary(
    args: argparse.Namespace,
    info: str,
    figures: tuple[dict[str, float], list[str]],
    checked: str,
    measured: dict[str, Any],
    notified: dict[str, int],
) -> None:
    n, (per, lines) = args.subjects, figures
    units, counts = measured["units"], measured["counts"]
    ratio = per[BOT] / per[BARE]
    print("\n" + "=" * 88 + "\nSUMMARY  bench/erasure_throughput.py\n" + info)
    print(f"subjects per path: {n} (interleaved, batch {args.batch}); {checked}")
    print("\n".join(lines))
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"ratio bot/bare: {ratio:.1f}x (target <= {TARGET_RATIO:g}x): {verdict}")
    print(
        f"ratio bot/bare+verify: {per[BOT] / per[BARE_VERIFY]:.1f}x; bot/bot LDAP ops: "
        f"{per[BOT] / per[BOT_LDAP]:.1f}x (same LDAP work, nothing else)"
    )
    if counts:
        runs = n + args.warmup + args.profile + 1  # every bot subject went through the notifier
        ldap = counts["ldap3 Connection.search"][0] + counts["ldap3 Connection.delete"][0]
        audits = counts["AuditLog.record (all callers)"][0]
        commits = counts["sqlite3 commit"][0] + counts["psycopg commit"][0]
        reads = counts["RequestStore.get (all callers)"][0]
        renders = counts["render approval_message"][0]
        model = {
            f"{ldap:.0f} LDAP ops (the {BOT_LDAP} path)": per[BOT_LDAP],
            f"{audits:.0f} audit events": audits * units["AuditLog.record"],
            f"{commits - audits:.0f} other commits": (commits - audits)
            * units["Decisions.start_running (lost CAS)"],
            f"{reads:.0f} request reads": reads * units["RequestStore.get"],
            f"{renders:.0f} approval renders": renders * units["render approval_message"],
        }
        print(
            f"per subject: {ldap:.0f} LDAP operations (bare: 2, bare+verify: 4), "
            f"{commits:.0f} commits ({audits:.0f} of them audit events), "
            f"{reads:.0f} request reads; notifier calls "
            f"{ {k: round(v / runs, 1) for k, v in notified.items()} }"
        )
        rest = per[BOT] - sum(model.values())
        print(
            f"cost model, ms/subject (calls x unit cost measured without profiler; bot "
            f"{per[BOT] * 1e3:.1f}): "
            + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in model.items())
            + f"; rest (multi-statement transactions, thread hand-off, glue) {rest * 1e3:.1f}"
        )
    print("what if (single operations on the last erased subject):")
    print("\n".join(measured["what_if"]))
    print("click to completed (real bot over signed Slack requests):")
    print("\n".join(measured["clicks"]) or "  skipped")
    print("=" * 88)
    print_ratio(BENCH, "bot/bare time per subject", ratio, target=TARGET_RATIO)
    print_ratio(BENCH, "bot/bare+verify time per subject", per[BOT] / per[BARE_VERIFY])
    print_ratio(BENCH, "bot/bot LDAP ops time per subject", per[BOT] / per[BOT_LDAP])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.erasure_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--subjects", type=int, default=1000, help="timed subjects per path")
    parser.add_argument("--warmup", type=int, default=10, help="untimed subjects per path first")
    parser.add_argument("--batch", type=int, default=50, help="subjects per path per turn")
    parser.add_argument("--ad-dir", default=DEFAULT_AD_DIR, help="this Samba instance's directory")
    parser.add_argument("--ad-ip", default=os.environ.get("AD_IP", DEFAULT_AD_IP))
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--db-url", help="audit/request database URL (default: temp SQLite)")
    store.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server")
    parser.add_argument("--profile", type=int, default=100, metavar="N", help="0 to skip")
    parser.add_argument("--top", type=int, default=20, help="profile lines by own time")
    parser.add_argument("--clicks", type=int, default=20, help="click rounds; 0 to skip")
    parser.add_argument(
        "--no-employee-id",
        dest="employee_ids",
        action="store_false",
        help="seed users without employeeID (unindexed in AD: verification then scans less)",
    )
    parser.add_argument("--keep-running", action="store_true", help="leave Samba running")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
