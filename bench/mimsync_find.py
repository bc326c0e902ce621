"""Benchmark: MimSyncConnector.search/show against the bare SQL, on a large invented metaverse.

Starts its own PostgreSQL (tests.support.postgres), loads N persons with COPY
(`--persons`, default 1,000,000), builds the indexes a MIM database has on
indexed MV attributes, then times, interleaved per lookup:
- bare psycopg and bare SQLAlchemy Core (one open connection each, autocommit,
  one round trip) running the same SELECT the connector issues,
- `MimSyncConnector.search` (employee ID: one indexed column; name: accountName
  OR displayName), and `MimSyncConnector.show`.
Setup is outside the timed region; times are `time.perf_counter()` deltas.

    .venv/bin/python bench/mimsync_find.py --persons 1000000
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.report import print_ratio
from connectors.base import ObjectRef, Query, QueryKind
from connectors.mimsync import schema as q
from connectors.mimsync.connector import MimSyncConnector, MimSyncSettings
from demo import sample_sync as gen
from tests.support.postgres import fresh_database, postgres_server

BENCH = "mimsync_find"
TARGET_RATIO = 1.5
TARGET_SHOW_MS = 50.0


def ms(samples: list[float]) -> tuple[float, float]:
    """Median and p95 in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bare_sql(engine: sa.Engine, columns: tuple[str, ...], limit: int) -> tuple[str, sa.Select]:
    """The connector's own statement: rendered for psycopg (%(name)s), and as Core."""
    with engine.connect() as conn:
        schema = q.reflect_metaverse(conn)
    stmt = q.search_stmt(schema, columns, prefix=False, limit=limit)
    return str(stmt.compile(dialect=engine.dialect)), stmt


def one_lookup(
    variants: list[Callable[[dict[str, object]], object]], params: dict[str, object], turn: int
) -> list[float]:
    """Time each variant once for one value; untimed first run puts the pages in cache."""
    variants[0](params)
    times = [0.0] * len(variants)
    # Rotate who goes first: on 2 CPUs, waking the next backend costs extra.
    for k in range(len(variants)):
        i = (turn + k) % len(variants)
        times[i] = timed(lambda i=i: variants[i](params))
    return times


def bench_search(
    pg: psycopg.Connection,
    core: sa.Connection,
    mim: MimSyncConnector,
    case: tuple[str, QueryKind, tuple[str, ...], str],
    sample: list[gen.Person],
    warmup: int,
) -> dict[str, float]:
    label, kind, columns, key = case
    sql, stmt = bare_sql(core.engine, columns, mim.settings.max_hits)
    variants: list[Callable[[dict[str, object]], object]] = [
        lambda params: pg.execute(sql, params).fetchall(),
        lambda params: core.execute(stmt, params).fetchall(),
        lambda params: mim.search(Query(kind, str(params["value"])), timeout=5),
    ]
    samples: list[list[float]] = [[], [], []]
    warm = sample[:warmup]  # warm-up, not kept
    for turn, p in enumerate(warm + sample):
        params = {"object_type": "person", "value": getattr(p, key), "param_1": 50}
        times = one_lookup(variants, params, turn)
        if turn >= len(warm):
            for kept, t in zip(samples, times, strict=True):
                kept.append(t)
    assert mim.search(Query(kind, getattr(sample[0], key)), timeout=5), "lookup found nothing"
    (r50, r95), (s50, s95), (c50, c95) = (ms(x) for x in samples)
    verdict = "ok" if c50 / r50 <= TARGET_RATIO else "ABOVE TARGET"
    print(f"\nsearch by {label}:")
    print(f"  bare psycopg         median {r50:7.3f} ms  p95 {r95:7.3f} ms")
    print(f"  bare SQLAlchemy Core median {s50:7.3f} ms  p95 {s95:7.3f} ms")
    print(f"  MimSyncConnector     median {c50:7.3f} ms  p95 {c95:7.3f} ms")
    print(
        f"  ratio connector/psycopg {c50 / r50:.2f}x (target <= {TARGET_RATIO}x: {verdict}), "
        f"connector/Core {c50 / s50:.2f}x (p95: {c95 / r95:.2f}x, {c95 / s95:.2f}x)"
    )
    return {"connector/psycopg": c50 / r50, "connector/Core": c50 / s50}


CASES = (
    ("employeeID (1 indexed column)", QueryKind.EMPLOYEE_ID, ("employeeID",), "employee_id"),
    (
        "name (accountName OR displayName)",
        QueryKind.NAME,
        ("accountName", "displayName"),
        "account",
    ),
)


def bench_show(mim: MimSyncConnector, people: list[gen.Person], warmup: int) -> None:
    refs = [ObjectRef("mimsync", str(p.object_id)) for p in people]
    warm = min(20, warmup)
    for ref in refs[:warm]:
        mim.show(ref, timeout=5)
    times = [timed(lambda ref=ref: mim.show(ref, timeout=5)) for ref in refs[warm:]]
    s50, s95 = ms(times)
    verdict = "ok" if s95 < TARGET_SHOW_MS else "ABOVE TARGET"
    print(
        f"\nshow: median {s50:.3f} ms  p95 {s95:.3f} ms over {len(times)} persons "
        f"(target < {TARGET_SHOW_MS:.0f} ms: {verdict})"
    )


def run(persons: int, lookups: int, shows: int, warmup: int) -> int:
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with postgres_server() as admin_url:
        url = fresh_database(admin_url)
        started = time.perf_counter()
        progress = lambda table, n: print(f"  {table}: {n:,} rows")  # noqa: E731
        people = gen.load_postgres_copy(url, persons, progress=progress)
        load_s = time.perf_counter() - started
        print(
            f"load: {persons:,} persons in {load_s:.1f} s "
            f"({persons / load_s:,.0f} persons/s, incl. indexes and ANALYZE)"
        )
        rng = random.Random(4711)
        hired = [p for p in people if p.employee_id]
        sample = rng.sample(hired, min(lookups + shows, len(hired)))
        engine = sa.create_engine(url)
        dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        mim = MimSyncConnector(MimSyncSettings(url=url))
        with (
            psycopg.connect(dsn, autocommit=True) as pg,
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as core,
        ):
            print(f"server: PostgreSQL {pg.info.server_version}, {lookups} lookups per variant")
            ratios = {
                case[0].split()[0]: bench_search(pg, core, mim, case, sample[:lookups], warmup)
                for case in CASES
            }
        bench_show(mim, sample[lookups:], warmup)  # persons not looked up yet
        mim.close()
        engine.dispose()
    print()
    for by, found in ratios.items():
        for name, ratio in found.items():
            target = TARGET_RATIO if name == "connector/psycopg" else None
            print_ratio(BENCH, f"search by {by} {name} median", ratio, target=target)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=500, help="timed lookups per search")
    parser.add_argument("--shows", type=int, default=200, help="persons shown (20 of them warm)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed lookups first")
    args = parser.parse_args(argv)
    return run(args.persons, args.lookups, args.shows, args.warmup)


if __name__ == "__main__":
    sys.exit(main())
