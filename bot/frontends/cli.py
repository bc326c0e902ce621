"""`python -m bot <serve|worker|console|check|doctor|datamap|audit verify|audit subject ID>`;
the demo is `python -m demo`."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.audit.records import AuditOutcome
from bot.config import AppConfig, load_config
from bot.errors import ConfigError
from bot.logs import configure_logging

if TYPE_CHECKING:
    from bot.audit import AuditLog
    from connectors.base import Connector

DEFAULT_CONFIG = os.environ.get("MIMBOT_CONFIG", "app.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="app.yaml path")
    parser.add_argument("-v", "--verbose", action="store_true")
    # The same options after the sub-command: `audit verify --config X` as well.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="app.yaml path")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="cmd", required=True)
    add = functools.partial(sub.add_parser, parents=[common])
    add("serve", help="run the Slack app (HTTP or Socket Mode, per app.yaml)")
    console = add("console", help="run /mim commands in a terminal")
    console.add_argument("--as", dest="user", required=True, help="the caller's Slack user id")
    console.add_argument("--script", type=Path, help="commands from a file, one a line")
    # The demo has an entry point of its own, so the bot never imports its stand-ins.
    add("demo", help="moved: the demo is `python -m demo`", add_help=False)
    add(
        "worker",
        help="run approved requests only (no Slack listener); resumes unfinished work at start",
    )
    add("check", help="test each configured connector")
    doctor = add(
        "doctor",
        help="check, read-only, what each connector assumes about its live system"
        " (exit 0 all ok, 1 something wrong, 3 something could not be told)",
    )
    doctor.add_argument(
        "--timeout", type=float, default=None, help="seconds for all the checks (default 60)"
    )
    datamap = add(
        "datamap", help="the estate's data map (GDPR Art. 30), from its configuration alone"
    )
    datamap.add_argument(
        "--format",
        choices=["markdown", "html", "csv", "xlsx", "json"],
        default="markdown",
        help="markdown (default), html (with the diagram), csv, xlsx, or json (for --since)",
    )
    datamap.add_argument("--out", type=Path, help="write to this file (default: stdout)")
    datamap.add_argument(
        "--since", type=Path, metavar="FILE", help="list what changed since this earlier JSON map"
    )
    audit = add("audit", help="audit store tools")
    audit.add_argument("action", choices=["verify", "subject"])
    audit.add_argument(
        "identifier", nargs="?", help="subject: an account, mail, UPN or employee ID"
    )
    audit.add_argument(
        "--checkpoint",
        action="append",
        metavar="SEQ:HASH",
        help="verify: a checkpoint copied from the notifications channel (repeatable)",
    )
    args, unknown = parser.parse_known_args(argv)
    if args.cmd != "demo" and unknown:
        parser.parse_args(argv)  # says what is wrong, and exits 2
    if not logging.getLogger().handlers:  # a process of its own (not a host, nor a test)
        configure_logging(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        if args.cmd == "demo":
            print("The demo has its own entry point: python -m demo", file=sys.stderr)
            return 2
        config = load_config(args.config)
        commands = {
            "serve": _serve,
            "worker": _worker,
            "console": _console,
            "check": _check,
            "doctor": _doctor,
            "datamap": _datamap,
            "audit": _audit,
        }
        return commands[args.cmd](config, args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _serve(config: AppConfig, args: argparse.Namespace) -> int:
    from bot.frontends.slack_app import create_app

    logging.getLogger().setLevel(logging.INFO)
    app, services = create_app(config)
    return serve_app(config, app, services)


def serve_app(config: AppConfig, app: Any, services: Any) -> int:
    """Serve a built Bolt app until SIGTERM: `serve`'s process, whatever its connectors."""
    import signal

    from bot.frontends.intake import favour_acks

    favour_acks()
    # Resume what a previous process left unfinished, then keep expiring and re-checking.
    worker = _background(config, services)
    if config.slack.mode == "socket":
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(app, config.slack.app_token).start()
        return 0
    from bot.frontends.http_server import SlackHttpServer

    server = SlackHttpServer(
        app,
        host=config.slack.host,
        port=config.slack.port,
        path=config.slack.path,
        http=config.slack.http,
        ready=services.readiness,
    )
    logging.getLogger("bot").info("listening on %s", server.url)
    # A rolling restart sends SIGTERM: stop accepting, then finish every command already
    # acked (Slack will not send it again) before the process ends.
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.serve_forever()
    finally:
        worker.stop()
        services.close()
    return 0


def _background(config: AppConfig, services: Any) -> Any:
    """The worker loop: resume runs, expire approvals, re-check residuals, housekeeping."""
    from bot.frontends.once import Once
    from bot.frontends.worker import Worker
    from bot.services import scheduled_sweep

    once = Once(services.engine)
    chores = [once.forget_old, services.checkpoints.tick, services.deadlines.tick]
    if services.batches is not None and services.batch_driver is not None:
        chores += [services.batches.expire_stale, services.batch_driver.resume_all]
    if (schedule := scheduled_sweep(services)) is not None:
        chores.append(schedule.tick)
    if config.datamap.watch and hasattr(services.notifier, "datamap_changed"):
        chores.append(_datamap_watch(config, services).tick)
    return Worker(
        services.runner,
        services.decisions,
        services.residuals,
        every=config.runner.poll_seconds,
        chores=chores,
    ).start()


def _datamap_watch(config: AppConfig, services: Any) -> Any:
    """The weekly data map watch (`datamap.watch`), posting through the front end's notifier."""
    from datetime import timedelta

    from bot.ops.datamap.watch import DatamapWatch
    from bot.services import datamap_of

    clock = services.requests.clock
    return DatamapWatch(
        services.engine,
        lambda: datamap_of(config, services.connectors, now=clock()),
        services.notifier,
        services.audit,
        every=timedelta(days=config.datamap.watch_days),
        clock=clock,
    )


def _worker(config: AppConfig, args: argparse.Namespace) -> int:
    from bot.frontends.slack_app import services_for, slack_client

    logging.getLogger().setLevel(logging.INFO)
    client = slack_client(config)
    return run_worker(config, services_for(config, client), client)


def run_worker(config: AppConfig, services: Any, client: Any) -> int:
    """The `worker` process until SIGTERM: the background loop, and answers from the inbox
    (at once when `serve` only acks, else what a replica left: a lease run out, or an
    entry nobody claimed in time)."""
    import signal
    import threading

    from bot.frontends.slack_app import start_answering

    settings = config.slack.inbox
    unclaimed = 0.0 if not settings.answer_in_serve else settings.unclaimed_seconds
    _, _, pool, poller = start_answering(
        config, services, client, unclaimed=unclaimed, every=settings.poll_seconds
    )
    services.closers += [poller.stop, pool.shutdown]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = _background(config, services)
    logging.getLogger("bot").info("worker %s running", services.runner.owner)
    try:
        stop.wait()
    finally:
        worker.stop()
        services.close()
    return 0


def _console(config: AppConfig, args: argparse.Namespace) -> int:
    from bot.frontends.console import ConsoleNotifier, ConsolePackageSender, run_console
    from bot.services import build_services

    services = build_services(
        config,
        notifier=ConsoleNotifier(sys.stdout, config.roles),
        sender=ConsolePackageSender(sys.stdout),
    )
    services.runner.resume_all()
    try:
        return run_console(services, args.user, args.script)
    finally:
        services.close()


def _check(config: AppConfig, args: argparse.Namespace) -> int:
    from bot.frontends.console import ConsoleNotifier
    from bot.services import build_services

    services = build_services(config, notifier=ConsoleNotifier(sys.stdout, config.roles))
    try:
        failed = 0
        for connector in services.connectors:
            health = connector.health(timeout=config.search.timeout_seconds)
            failed += not health.ok
            print(f"{'OK  ' if health.ok else 'FAIL'} {connector.label}: {health.detail}")
        services.audit.record(
            actor="system",
            roles=[],
            action="check",
            outcome=AuditOutcome.OK if not failed else AuditOutcome.FAILED,
        )
        print(f"audit store: OK ({config.audit.url.split(':', 1)[0]})")
        return 1 if failed else 0
    finally:
        services.close()


def _doctor(config: AppConfig, args: argparse.Namespace) -> int:
    """Builds the connectors only: no audit store is opened or migrated, nothing is written."""
    from bot.config.building import build_connectors
    from bot.ops.doctor import TIMEOUT

    connectors = build_connectors(config)
    try:
        return print_doctor(connectors, args.timeout or TIMEOUT)
    finally:
        for connector in connectors:
            connector.close()


def print_doctor(connectors: Sequence[Connector], timeout: float) -> int:
    """Print every check of `connectors` and return doctor's exit code (also the demo's)."""
    from bot.ops.doctor import examine
    from bot.render.doctor import doctor_text

    report = examine(connectors, timeout=timeout)
    print(doctor_text(report))
    return report.exit_code


def _datamap(config: AppConfig, args: argparse.Namespace) -> int:
    """The map (or, with --since, what changed), audited as datamap_generated."""
    import getpass
    from datetime import UTC, datetime

    from bot.frontends.console import ConsoleNotifier
    from bot.ops.datamap.diff import changes
    from bot.ops.datamap.model import DataMap
    from bot.render.datamap import DiagramUnavailable, Format, render
    from bot.services import build_services, datamap_of

    earlier = None
    if args.since is not None:
        try:
            earlier = DataMap.from_json(args.since.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"datamap --since: {args.since}: {exc}", file=sys.stderr)
            return 2
    services = build_services(config, notifier=ConsoleNotifier(sys.stderr, config.roles))
    try:
        data_map = datamap_of(config, services.connectors, now=datetime.now(UTC))
        fmt = Format(args.format)
        try:
            if earlier is not None:
                found = changes(earlier, data_map)
                text = "\n".join(f"{c.kind}: {c.text}" for c in found) or "no change"
                output = (text + "\n").encode()
            else:
                output = render(data_map, fmt)
        except DiagramUnavailable as exc:  # html without Graphviz's dot
            print(f"datamap: {exc.user_message()}", file=sys.stderr)
            return 2
        services.audit.record(
            actor=f"cli:{getpass.getuser()}",
            roles=[],
            action="datamap_generated",
            outcome=AuditOutcome.OK,
            detail={"formats": ["changes" if earlier is not None else fmt.value],
                    "to": "file" if args.out else "stdout"},
        )  # fmt: skip
        if args.out is not None:
            args.out.write_bytes(output)
        else:
            sys.stdout.buffer.write(output)
            sys.stdout.flush()
        return 0
    finally:
        services.close()


def _audit(config: AppConfig, args: argparse.Namespace) -> int:
    from bot.audit import AuditLog, Checkpoint
    from bot.audit.witness import FileWitness, parse_checkpoint
    from bot.database import create_engine, migrate

    checkpoints: list[Checkpoint] = []
    torn: list[str] = []
    try:
        checkpoints += [parse_checkpoint(text) for text in args.checkpoint or ()]
    except ValueError as exc:
        print(f"audit verify: --checkpoint: {exc}", file=sys.stderr)
        return 2
    if config.audit.witness_file is not None:
        witness = FileWitness(config.audit.witness_file)
        found, bad = witness.read()
        checkpoints += found
        torn = [f"BROKEN checkpoint: {witness.name} line {n} is not a checkpoint" for n in bad]
    engine = create_engine(config.audit.url, timeout=None)  # a long read is fine here
    try:
        migrate(engine)
        audit = AuditLog(engine, chain_key=config.audit.chain_key)
        if args.action == "subject":
            return _audit_subject(audit, config, args.identifier)
        report = audit.verify(checkpoints)
    finally:
        engine.dispose()
    lines = [p.line() for p in report.problems] + torn
    for line in lines:
        print(line)
    if not lines:
        print(f"OK: {report.events} event(s), chain intact")
    if report.keyed_from > 1:
        print(f"events 1..{report.keyed_from - 1} were hashed before the chain was keyed")
    cp = report.checkpoint
    if cp is None:
        print(
            "no checkpoint to check against: give --checkpoint SEQ:HASH from the "
            "notifications channel, or set audit.witness_file"
        )
    else:
        when = f" of {cp.at:%Y-%m-%d %H:%M} UTC" if cp.at else ""
        print(
            f"checked against {report.checkpoints} checkpoint(s), the newest at event "
            f"{cp.seq}{when} ({cp.source})"
        )
    return 1 if lines else 0


def _audit_subject(audit: AuditLog, config: AppConfig, identifier: str | None) -> int:
    """Who searched for, was shown, or acted on this person: for an access request or a
    complaint. Only the keyed hash of the identifier is looked up."""
    from bot.audit import SubjectKeyer

    if not identifier:
        print("audit subject: give an account, mail, UPN or employee ID", file=sys.stderr)
        return 2
    key = SubjectKeyer(config.audit.subject_key).key(identifier)
    events = audit.events(subject_key=key)
    for e in events:
        target = e.request_id or ("searched for" if e.subject_key == key else "shown in a result")
        print(f"{e.seq:>8}  {e.at:%Y-%m-%d %H:%M:%S}  {e.actor:<14} {e.action:<16} "
              f"{e.outcome:<9} {target}")  # fmt: skip
    print(f"{len(events)} event(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
