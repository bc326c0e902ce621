"""Acks under load: the bot's HTTP front end against a bare Bolt app that only acks.

N signed slash commands are sent at once (N = 50, 200, 500 by default) to each of:
  * the bot: `bot.frontends.http_server.SlackHttpServer` (waitress) with the real
    Bolt app, `/mim find user <account>` over an in-memory directory; each ack writes
    the command to the inbox in the store (a PostgreSQL started here, or SQLite with
    `--store sqlite`, or `--audit-url`), and a worker process (`--answers worker`, at
    `--nice` 10, as `python -m bot worker` would run beside `serve`) or serve's own
    listener threads (`--answers serve`) answer it through the Slack Web API stub;
  * the baseline: the same waitress settings serving a Bolt app whose /mim only acks.
The load comes from a separate process (its own interpreter, so the client's threads
do not share the servers' GIL). Printed: ack p50/p99, commands lost (not acked 200),
and for the bot, answers per second until every response_url post arrived.
Target (issues 8 and 20): ack p99 under 100 ms at 200 concurrent, at most 1.5x the
bare app, no command lost. Run from the repository root:

    .venv/bin/python -m bench.ack_load [--sizes 50,200,500] [--rounds 3]

Setup stays outside the timed region; both apps run in the same run, alternately.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bench.report import print_ratio
from bot.audit.schema import audit_events
from bot.config import HttpConfig, parse_config
from bot.frontends.http_server import SlackHttpServer
from bot.frontends.intake import favour_acks
from bot.frontends.slack_app import create_app, slack_client, start_answering
from bot.frontends.slack_notifier import SlackNotifier
from bot.services import build_services
from bot.workflow.schema import inbox
from connectors.base import IdKind
from connectors.memory import MemoryConnector, Person
from tests.support.keys import CHAIN_KEY
from tests.support.postgres import fresh_database, postgres_server
from tests.support.slack_requests import SlackRequestFactory, post
from tests.support.slack_stub import MockSlack

BENCH = "ack_load"
SECRET = "bench-signing-secret"
TARGET_P99_MS = 100.0
TARGET_RATIO = 1.5


class RemoteStub:
    """The Web API stub in a process of its own: Slack is not inside the bot's process,
    and its handler threads must not compete with the acks measured here."""

    def __init__(self) -> None:
        ctx = mp.get_context("fork")
        self._stop = ctx.Event()
        reply = ctx.Queue()
        self._child = ctx.Process(target=self._serve, args=(reply, self._stop), daemon=True)
        self._child.start()
        self.base_url = reply.get(timeout=30)
        self.api_url = self.base_url + "/api/"

    @staticmethod
    def _serve(reply: Any, stop: Any) -> None:
        stub = MockSlack().start()
        reply.put(stub.base_url)
        stop.wait()
        stub.stop()

    def stop(self) -> None:
        self._stop.set()
        self._child.join(timeout=10)


def load(url: str, stub_base: str, n: int, tag: str, out: Any) -> None:
    """In a child process: N signed commands at once; (status, seconds) each."""
    factory = SlackRequestFactory(SECRET)
    bodies = [
        factory.slash_command(
            "/mim", f"find user p{i % 1000}", "UVIEW", "C0", f"{stub_base}/response_url/{tag}{i}"
        )
        for i in range(n)
    ]
    headers = [factory.headers(b) for b in bodies]

    def one(i: int) -> tuple[int, float]:
        try:
            status, _, seconds = post(url, bodies[i], headers[i], timeout=30)
        except OSError:
            return 0, 30.0
        return status, seconds

    with ThreadPoolExecutor(max_workers=n) as pool:
        out.put(list(pool.map(one, range(n))))


def run_load(url: str, stub: RemoteStub, n: int, tag: str) -> list[tuple[int, float]]:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=load, args=(url, stub.base_url, n, tag, queue))
    child.start()
    results = queue.get(timeout=300)
    child.join()
    return results


def bare_app() -> App:
    app = App(
        # Authorised as the bot is (no auth.test call): both apps do the same work to ack.
        client=WebClient(),
        authorize=lambda **_: AuthorizeResult(enterprise_id=None, team_id=None,
                                              bot_token="xoxb-bench"),
        signing_secret=SECRET,
        process_before_response=True,
    )  # fmt: skip
    app.command("/mim")(lambda ack: ack())
    return app


ENV = {"BOT": "xoxb-bench", "SIGN": SECRET, "KEY": "bench-subject-key-0123456789",
       "CHAIN": CHAIN_KEY}  # fmt: skip


def bot_config(stub: RemoteStub, audit_url: str, listeners: int, answers: str) -> Any:
    return parse_config(
        {
            "slack": {
                "bot_token": "${BOT}",
                "signing_secret": "${SIGN}",
                "api_url": stub.api_url,
                "listener_threads": listeners,
                # "worker": serve only acks; the answers are a `worker` process's.
                "inbox": {"answer_in_serve": answers == "serve", "poll_seconds": 0.05},
            },
            "roles": {"viewer": {"users": ["UVIEW"]}},
            "audit": {"url": audit_url, "subject_key": "${KEY}", "chain_key": "${CHAIN}"},
        },
        environ=ENV,
    )


def bot_services(config: Any) -> tuple[Any, WebClient]:
    client = slack_client(config)
    people = [
        Person(f"g{i}", {IdKind.ACCOUNT: f"p{i}", IdKind.DISPLAY_NAME: f"Person {i}"})
        for i in range(1000)
    ]
    services = build_services(
        config,
        connectors=[MemoryConnector("ad", "AD", people)],
        notifier=SlackNotifier(client, approvals_channel=None, notifications_channel=None),
        background=True,
    )
    return services, client


class RemoteWorker:
    """The answers in a process of their own, as `python -m bot worker` runs them, at a
    lower CPU priority than the process that acks (`nice`)."""

    def __init__(self, config: Any, nice: int) -> None:
        ctx = mp.get_context("fork")
        self._stop = ctx.Event()
        ready = ctx.Event()
        self._child = ctx.Process(
            target=self._serve, args=(config, nice, ready, self._stop), daemon=True
        )
        self._child.start()
        ready.wait(timeout=60)

    @staticmethod
    def _serve(config: Any, nice: int, ready: Any, stop: Any) -> None:
        os.nice(nice)
        services, client = bot_services(config)
        every = config.slack.inbox.poll_seconds
        _, _, pool, poller = start_answering(config, services, client, unclaimed=0, every=every)
        ready.set()
        stop.wait()
        poller.stop()
        pool.shutdown()
        services.close()

    def stop(self) -> None:
        self._stop.set()
        self._child.join(timeout=30)


def bot_server(
    stub: RemoteStub, audit_url: str, http: HttpConfig, listeners: int, answers: str, nice: int
) -> tuple[SlackHttpServer, Any, RemoteWorker | None]:
    config = bot_config(stub, audit_url, listeners, answers)
    services, client = bot_services(config)  # migrates the store before the worker opens it
    worker = RemoteWorker(config, nice) if answers == "worker" else None
    app, _ = create_app(config, services=services, client=client)
    server = SlackHttpServer(app, host="127.0.0.1", port=0, http=http).start()
    return server, services, worker


def finds(services: Any) -> int:
    with services.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(audit_events)
            .where(audit_events.c.action == "find")
        ).scalar_one()


def pending(services: Any) -> int:
    with services.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(inbox)).scalar_one()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50,200,500", help="concurrent commands per burst")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per size and app")
    parser.add_argument("--audit-url", default=None, help="a store of your own (see --store)")
    parser.add_argument(
        "--store", choices=["postgres", "sqlite"], default="postgres",
        help="postgres (the default): a server started here, commits flushed to disk, the "
        "store a worker beside serve shares; sqlite: one file, whose single write lock "
        "the two processes take in turns",
    )  # fmt: skip
    parser.add_argument("--listeners", type=int, default=32, help="slack.listener_threads")
    parser.add_argument(
        "--answers", choices=["worker", "serve", "later"], default="worker",
        help="who answers: a worker process (the default), serve's listener threads, or "
        "later: nobody during the burst (serve takes over after unclaimed_seconds), to "
        "time the ack path alone",
    )  # fmt: skip
    parser.add_argument("--nice", type=int, default=10, help="the worker process's niceness")
    parser.add_argument("--warmup", type=int, default=20, help="commands per app first, untimed")
    args = parser.parse_args(argv)
    favour_acks()  # as `serve` does; both apps are in this process, so both have it
    stub = RemoteStub()
    tmp = Path(tempfile.mkdtemp(prefix="mimbot-ackload-"))
    with contextlib.ExitStack() as stack:
        if args.store == "postgres" and not args.audit_url:
            admin = stack.enter_context(postgres_server(durable=True))
            args.audit_url = fresh_database(admin)
        return run(args, tmp, stub)


def run(args: argparse.Namespace, tmp: Path, stub: RemoteStub) -> int:
    sizes = [int(s) for s in args.sizes.split(",")]
    http = HttpConfig()
    audit_url = args.audit_url or f"sqlite:///{tmp / 'audit.db'}"
    bot, services, worker = bot_server(
        stub, audit_url, http, args.listeners, args.answers, args.nice
    )
    bare = SlackHttpServer(bare_app(), host="127.0.0.1", port=0, http=http).start()
    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"load {os.getloadavg()[0]:.2f}; Python {sys.version.split()[0]}, "
        f"slack-bolt {metadata.version('slack-bolt')}, waitress {metadata.version('waitress')}; "
        f"server threads {http.threads}, backlog {http.backlog}, listeners {args.listeners}; "
        f"answers in {args.answers}" + (f" (nice {args.nice})" if worker else "")
    )
    run_load(bot.url, stub, args.warmup, "warm")  # warm-up: imports, pools, first audit writes
    run_load(bare.url, stub, args.warmup, "warmbare")
    deadline = time.monotonic() + 60  # the warm-up's answers, so they are not counted below
    while finds(services) < args.warmup and time.monotonic() < deadline:
        time.sleep(0.02)
    done = finds(services)
    print(f"{'N':>5} {'app':<6} {'ack p50':>9} {'ack p99':>9} {'lost':>5} {'answers/s':>10}")
    verdicts, unanswered = [], 0
    for n in sizes:
        p99 = {}
        for r in range(args.rounds):
            for name, server in (("bot", bot), ("bare", bare)):
                tag = f"{name}{n}r{r}x"
                t0 = time.perf_counter()
                results = run_load(server.url, stub, n, tag)
                acks = [s for status, s in results if status == 200]
                lost = n - len(acks)
                rate = ""
                if name == "bot":  # answered: each find's audit event is written
                    deadline = time.monotonic() + 120
                    while (got := finds(services) - done) < len(acks):
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.02)
                    done += got
                    unanswered += max(0, len(acks) - got)
                    rate = f"{got / (time.perf_counter() - t0):10.0f}"
                    # Untimed: the last answers' posts and deletes end before the next
                    # burst, so no burst is measured against the one before's tail.
                    while pending(services) and time.monotonic() < deadline:
                        time.sleep(0.02)
                p50_ms, p99_ms = pct(acks, 0.5) * 1000, pct(acks, 0.99) * 1000
                p99.setdefault(name, []).append(p99_ms)
                print(f"{n:>5} {name:<6} {p50_ms:7.1f}ms {p99_ms:7.1f}ms {lost:>5} {rate:>10}")
        bot_p99, bare_p99 = statistics.median(p99["bot"]), statistics.median(p99["bare"])
        verdicts.append((n, bot_p99, bare_p99))
    print("\nmedian of the rounds' ack p99:")
    for n, bot_p99, bare_p99 in verdicts:
        ratio = bot_p99 / bare_p99 if bare_p99 else float("inf")
        goal = (
            f" (target: under {TARGET_P99_MS:.0f} ms and at most {TARGET_RATIO}x)"
            if n == 200
            else ""
        )
        print(f"  N={n}: bot {bot_p99:.1f} ms, bare {bare_p99:.1f} ms, ratio {ratio:.2f}x{goal}")
    bot.stop()
    bare.stop()
    if worker is not None:
        worker.stop()
    services.close()
    stub.stop()
    for n, bot_p99, bare_p99 in verdicts:
        ratio = bot_p99 / bare_p99 if bare_p99 else float("inf")
        target = TARGET_RATIO if n == 200 else None
        print_ratio(BENCH, f"N={n} ack p99 bot/bare", ratio, target=target)
    if unanswered:
        print(f"{unanswered} acked command(s) never answered: answers/s above are wrong")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
