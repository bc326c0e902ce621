"""What a retention sweep's proposal costs (`/mim sweep`): HR leavers found by the rule's
bare query, against the whole sweep (each candidate resolved across the estate, as
`/mim delete` resolves a subject, checked against the holds and the open requests, the
sweep audited); and its memory at N and 10 N candidates, which should grow with what is
kept per person, not with paging.

    .venv/bin/python -m bench.sweep_proposal --leavers 1000

HR is an SQLite table (the same connector as on SQL Server or PostgreSQL; the point is
the sweep's own cost per candidate, not the database's). The batch that then erases a
sweep's people, and its throughput, is bench/sweep_throughput.py.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.report import print_ratio
from bot.config import parse_config
from bot.frontends.console import ConsoleNotifier
from bot.permissions.roles import Actor, Role
from bot.services import build_services
from connectors.capabilities import finds_stale
from demo import hr_sample

BENCH = "sweep_proposal"
ACTOR = Actor("UBENCH", frozenset({Role.REQUESTER}))
ENV = {"T": "xoxb-b", "S": "s", "K": "bench-subject-key-0123456789", "C": "c" * 40}


def estate(workdir: Path, leavers: int):
    hr_url = f"sqlite:///{workdir / 'hr.db'}"
    engine = sa.create_engine(hr_url)
    people = [
        hr_sample.Employee(
            str(700000 + i), f"lv{i}", f"Leaver {i}", "", "Sales", end_date=date(2020, 1, 1)
        )
        for i in range(leavers)
    ]
    hr_sample.create_table(engine, people)
    engine.dispose()
    raw = {
        "slack": {"bot_token": "${T}", "signing_secret": "${S}"},
        "audit": {
            "url": f"sqlite:///{workdir / 'audit.db'}",
            "subject_key": "${K}",
            "chain_key": "${C}",
        },
        "connectors": {
            "hr": {
                "url": hr_url,
                "table": "employees",
                "key": "emp_no",
                "identifiers": {"employee_id": "emp_no", "account": "login"},
            }
        },
        "retention": {
            "rules": [
                {"name": "leavers", "system": "hr", "population": "ended",
                 "older_than_months": 24, "column": "end_date"}
            ]
        },
    }  # fmt: skip
    config = parse_config(raw, environ=ENV)
    return build_services(config, notifier=ConsoleNotifier(io.StringIO(), config.roles))


def bare(services) -> float:
    """Seconds to iterate the rule's own query, every candidate."""
    (hr,) = services.connectors
    rule = services.sweeps.rules[0]
    start = time.perf_counter()
    count = sum(1 for _ in finds_stale(hr).stale(rule, now=datetime.now(UTC), timeout=60))
    elapsed = time.perf_counter() - start
    assert count == leavers_of(services), "the rule must find every leaver"
    return elapsed


def leavers_of(services) -> int:
    (hr,) = services.connectors
    with hr.session(60) as s:
        return int(s.conn.exec_driver_sql("SELECT COUNT(*) FROM employees").scalar())


def whole(services) -> tuple[float, int]:
    """Seconds for the whole sweep, and its peak Python memory (bytes)."""
    tracemalloc.start()
    start = time.perf_counter()
    sweep = services.sweeps.sweep(actor=ACTOR)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(sweep.members) == leavers_of(services)
    return elapsed, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{BENCH}", description=__doc__)
    parser.add_argument("--leavers", type=int, default=1000, help="N (memory also at 10 N)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the bare query")
    args = parser.parse_args(argv)
    rows = []
    for n in (args.leavers, 10 * args.leavers):
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as workdir:
            services = estate(Path(workdir), n)
            try:
                bare_s = statistics.median(bare(services) for _ in range(args.rounds))
                whole_s, peak = whole(services)
            finally:
                services.close()
        rows.append((n, bare_s, whole_s, peak))
        print(
            f"{n:>7} leavers: bare query {bare_s * 1e3 / n:8.3f} ms each, whole sweep"
            f" {whole_s * 1e3 / n:8.3f} ms each, peak memory {peak / 1e6:8.1f} MB"
            f" ({peak / n / 1e3:.1f} kB per candidate)",
            flush=True,
        )
    (n1, bare1, whole1, peak1), (n2, _, whole2, peak2) = rows
    print_ratio(BENCH, "sweep/bare time per candidate", (whole1 / n1) / (bare1 / n1))
    print_ratio(BENCH, "10N/N time per candidate", (whole2 / n2) / (whole1 / n1), target=1.5)
    print_ratio(BENCH, "10N/N memory per candidate", (peak2 / n2) / (peak1 / n1), target=1.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
