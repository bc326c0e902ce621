"""`python -m demo [--as USER] [--script FILE]`: the console on an embedded demo estate,
no setup: 50 invented people in an SQLite HR table, an offline AD, an SQLite metaverse,
the MIM Service and PAM over a loopback WinRM endpoint, BHOLD and Certificate Management
over loopback web services. Its own entry point, so that the bot never imports the
stand-ins; it uses the bot as any front end does. `python -m demo doctor` runs
`python -m bot doctor`'s checks over the same estate."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from bot.frontends.console import ConsoleNotifier, ConsolePackageSender, run_console
from bot.logs import configure_logging
from bot.services import build_services
from demo.clock import DemoClock
from demo.estate import DEMO_ADMIN, DemoEstate, demo_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument(
        "action",
        nargs="?",
        choices=["console", "doctor"],
        default="console",
        help="console (default), or doctor: check the estate's assumptions and exit",
    )
    parser.add_argument("--as", dest="user", default=None, help="the caller (default: demo admin)")
    parser.add_argument("--script", type=Path, help="commands from a file, one a line")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:  # a process of its own (not a host, nor a test)
        configure_logging(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        if args.action == "doctor":
            return run_doctor()
        return run_demo(args.user, args.script)
    except KeyboardInterrupt:
        return 130


def run_doctor() -> int:
    """`python -m bot doctor` over the demo estate: its exit code."""
    from bot.frontends.cli import print_doctor
    from bot.ops.doctor import TIMEOUT

    with tempfile.TemporaryDirectory(prefix="mimbot-demo-") as workdir:
        estate = DemoEstate(Path(workdir))
        connectors = estate.connectors()
        try:
            return print_doctor(connectors, TIMEOUT)
        finally:
            for connector in connectors:
                connector.close()
            estate.close()


def run_demo(user: str | None, script: Path | None) -> int:
    """The console on the demo estate, in a temporary folder removed at the end."""
    with tempfile.TemporaryDirectory(prefix="mimbot-demo-") as workdir:
        config = demo_config(Path(workdir))
        estate = DemoEstate(Path(workdir))
        clock = DemoClock()
        services = build_services(
            config,
            connectors=estate.connectors(),
            notifier=ConsoleNotifier(sys.stdout, config.roles),
            sender=ConsolePackageSender(sys.stdout),
            clock=clock,
        )

        def sync(_: str) -> str:
            n = estate.sync_cycle()
            return f"(demo) sync cycle: the deletion rule removed {n} metaverse object(s)"

        def later(_: str) -> str:
            now = clock.later(days=12)
            return f"(demo) the clock moves 12 days on, to {now:%Y-%m-%d %H:%M} UTC"

        def cm_retire(account: str) -> str:
            n = estate.cm_retire(account)
            return (
                f"(demo) in the CM portal: {n} smart card(s) and profile(s) of"
                f" {account or '(nobody)'} retired or revoked"
            )

        try:
            print(
                "mimbot demo: 50 invented people in HR, an offline AD, an SQLite MIM metaverse, "
                "a MIM Service, PAM and Certificate Management over a loopback WinRM endpoint, "
                "BHOLD over a loopback web service; "
                f"audit in {workdir}.\nTry `find user sobrien`, `find Zo*`, `find 100010`, "
                "`show sobrien`, `export sobrien`, `delete kschmidt10 left in 2024`; "
                "`sync` runs a sync cycle; `later` moves the clock 12 days on; "
                "`cm-retire kschmidt10` does in the CM portal what its manual step asks."
            )
            extra = {"sync": sync, "later": later, "cm-retire": cm_retire}
            code = run_console(services, user or DEMO_ADMIN, script, extra)
            report = services.audit.verify()
            print(f"audit chain: {'OK' if report.ok else 'BROKEN'}, {report.events} event(s)")
            return code
        finally:
            services.close()
            estate.close()


if __name__ == "__main__":
    sys.exit(main())
