"""What Ambiguous Name Resolution costs on Samba AD: the name filter with `(anr==...)`
against the filter it replaced, at 10,000 users.

`/mim find user Smith` must find people by surname, given name and "given
surname" (issue 8). The AD connector adds `(anr==<term>)` to its exact
account / display-name / cn filter. This measures, on one bound ldaps
connection, bare ldap3 searches with the connector's attributes:

* old:       (|(sAMAccountName=v)(displayName=v)(cn=v))              the baseline
* new:       (|(sAMAccountName=v)(displayName=v)(cn=v)(anr==v))      what the connector sends
* anr only:  (anr==v)
* fallback:  (|(sAMAccountName=v)(displayName=v)(cn=v)(sn=v)(givenName=v)
              (&(givenName=a)(sn=b))(&(sn=a)(givenName=b)))          without ANR
* anr prefix: (anr=v)                                                ANR without "=": a prefix

each inside the connector's person filter, and the connector's own search
(`AdConnector.search`, paging and hit mapping included) for the new filter.
Run from the repository root (see bench/README.md):

    AD_IP=127.0.0.6 .venv/bin/python -m bench.ad_anr [--users 10000] [--rounds 300]

Setup (Samba, seeding, connections, warm-up) stays outside the timed region, as
in pyperf's bench_time_func; the variants run interleaved in the same rounds
(who goes first rotates), so drift and the neighbours' load hit all of them.
Never asserted in tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import ldap3
from ldap3.utils.conv import escape_filter_chars

from bench.find_latency import bare_connection, ensure_users, interleave, machine, stats
from bench.report import print_ratio
from connectors.ad.connector import IDENTITY_ATTRIBUTES, PERSON_FILTER, AdConnector, AdSettings
from connectors.base import Query, QueryKind
from tests.support.samba import SCRIPT, SambaAd, TestUser, start_samba

BENCH = "ad_anr"
DEFAULT_AD_DIR = "/tmp/mimbot-samba-anr-bench"
DEFAULT_AD_IP = "127.0.0.6"
OU = "AnrBench"
GIVEN = ("Ana", "Ben", "Chloé", "Dev", "Eir", "Femi", "Gus", "Hana", "Ivo", "Jun")
ATTRIBUTES = ("displayName", "mail", "department", "telephoneNumber")
BASELINE = "old"


def bench_users(count: int) -> list[TestUser]:
    """Pairs share a surname (like the issue's two John Smiths); given names repeat."""
    return [
        TestUser(f"anr{i:05d}", GIVEN[i % len(GIVEN)], f"Surname{i // 2:05d}", f"8{i:06d}")
        for i in range(count)
    ]


# -- the filters ----------------------------------------------------------------


def old(v: str) -> str:
    return f"(|(sAMAccountName={v})(displayName={v})(cn={v}))"


def new(v: str) -> str:
    return f"(|(sAMAccountName={v})(displayName={v})(cn={v})(anr=={v}))"


def anr_only(v: str) -> str:
    return f"(anr=={v})"


def fallback(v: str) -> str:
    split = ""
    if " " in v:
        a, b = v.split(" ", 1)
        split = f"(&(givenName={a})(sn={b}))(&(sn={a})(givenName={b}))"
    return f"(|(sAMAccountName={v})(displayName={v})(cn={v})(sn={v})(givenName={v}){split})"


def anr_prefix(v: str) -> str:
    return f"(anr={v})"


FILTERS: dict[str, Callable[[str], str]] = {
    "old": old,
    "new": new,
    "anr only": anr_only,
    "fallback": fallback,
    "anr prefix": anr_prefix,
}


@dataclasses.dataclass(frozen=True)
class Term:
    name: str
    value: str
    expected_new: int  # hits the new filter must find (the old one may find fewer)


def terms(users: int) -> list[Term]:
    i = users // 2 + (users // 2) % 2  # even: the first of a pair sharing a surname
    given, surname = GIVEN[i % len(GIVEN)], f"Surname{i // 2:05d}"
    return [
        Term("account", f"anr{i:05d}", 1),
        Term("surname", surname, 2),
        Term("given surname", f"{given} {surname}", 1),
        Term("surname given", f"{surname} {given}", 1),
        Term("no one", "Nobody Nowhere", 0),
    ]


# -- the benchmark --------------------------------------------------------------


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
    print(f"samba: {ad.uri} from {args.ad_dir} ({time.perf_counter() - started:.1f} s)", flush=True)
    try:
        ensure_users(ad, bench_users(args.users), OU)
        return 0 if args.seed_only else measure(ad, args)
    finally:
        if not (was_running or args.keep_running):
            ad.run("stop")


def count(conn: ldap3.Connection, base_dn: str, ldap_filter: str) -> int:
    conn.search(base_dn, ldap_filter, ldap3.SUBTREE, attributes=["sAMAccountName"])
    return sum(1 for e in conn.response if e.get("type") == "searchResEntry")


def measure(ad: SambaAd, args: argparse.Namespace) -> int:
    conn = bare_connection(ad)
    connector = AdConnector(
        AdSettings(
            url=ad.uri,
            bind_dn=ad.bind_dn,
            password=ad.password,
            base_dn=ad.base_dn,
            ca_file=ad.ca_file,  # type: ignore[arg-type]
            attributes=ATTRIBUTES,
            domain="CORP",  # no forest lookup inside the timed calls
        )
    )
    attributes = list(dict.fromkeys((*IDENTITY_ATTRIBUTES, *ATTRIBUTES)))
    print(machine())
    print(f"users in the directory: {count(conn, ad.base_dn, '(objectClass=user)')}")
    print(f"rounds {args.rounds}, warm-up {args.warmup}; times in ms; ratio = median / old's\n")
    summary, ratios = [], {}
    try:
        for term in terms(args.users):
            v = escape_filter_chars(term.value)
            filters = {name: PERSON_FILTER.format(make(v)) for name, make in FILTERS.items()}
            found = {name: count(conn, ad.base_dn, f) for name, f in filters.items()}
            query = Query(QueryKind.NAME, term.value)
            assert connector._term_filter(query) == new(v), "the connector's filter changed"
            via_connector = len(connector.search(query, timeout=5))
            if found["new"] != term.expected_new or via_connector != term.expected_new:
                print(f"{term.name}: expected {term.expected_new} hit(s), got {found}")
                return 2

            def bare(f: str) -> Callable[[], Any]:
                return lambda: conn.search(ad.base_dn, f, ldap3.SUBTREE, attributes=attributes)

            fns = {name: bare(f) for name, f in filters.items()}
            fns["connector.search (new)"] = lambda q=query: connector.search(q, timeout=5)
            times = interleave(fns, rounds=args.rounds, warmup=args.warmup)
            base = stats(times[BASELINE])[0]
            print(f"{term.name}: {term.value!r}")
            for name, samples in times.items():
                med, p95 = stats(samples)
                hits = found.get(name, via_connector)
                print(
                    f"  {name:24} median {med:7.2f}  p95 {p95:7.2f}  ratio {med / base:5.2f}"
                    f"  hits {hits}"
                )
            new_med, new_p95 = stats(times["new"])
            ratios[term.name] = new_med / base
            summary.append(
                f"{term.name:14} old {base:6.2f} ms | new {new_med:6.2f} ms (p95 {new_p95:.2f}) "
                f"| ratio {new_med / base:.2f} | hits old {found['old']}, new {found['new']}"
            )
    finally:
        conn.unbind()
        connector.close()
    print("\n" + "\n".join(summary))
    for name, ratio in ratios.items():
        print_ratio(BENCH, f"{name} new/old median", ratio)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ad_anr",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=10_000, help="users in OU=AnrBench")
    parser.add_argument("--rounds", type=int, default=300, help="timed rounds per term")
    parser.add_argument("--warmup", type=int, default=30, help="untimed rounds first")
    parser.add_argument("--ad-dir", default=DEFAULT_AD_DIR, help="this Samba instance's directory")
    parser.add_argument("--ad-ip", default=os.environ.get("AD_IP", DEFAULT_AD_IP))
    parser.add_argument("--seed-only", action="store_true", help="seed the users, measure nothing")
    parser.add_argument("--keep-running", action="store_true", help="leave Samba running")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
