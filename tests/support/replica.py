"""A bot process for tests that kill one: `serve` or `worker` as `python -m bot` runs
them (bot/frontends/cli.py), over 300 in-memory people whose directory takes `--delay`
seconds to answer a search, so a test knows what the process was doing when it died.

    python -m tests.support.replica serve|worker CONFIG.yaml [--delay SECONDS]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from bot.config import load_config
from bot.frontends.cli import run_worker, serve_app
from bot.frontends.slack_app import create_app, slack_client, usergroup_lookup
from bot.frontends.slack_notifier import SlackNotifier
from bot.frontends.slack_sender import SlackPackageSender
from bot.logs import configure_logging
from bot.services import build_services
from connectors.base import IdKind
from connectors.memory import MemoryConnector, Person


class SlowDirectory(MemoryConnector):
    """Every search waits `delay` seconds first, by whichever call it searches."""

    def __init__(self, delay: float) -> None:
        people = [
            Person(f"g{i}", {IdKind.ACCOUNT: f"p{i}", IdKind.DISPLAY_NAME: f"Person {i}"})
            for i in range(300)
        ]
        super().__init__("ad", "AD", people)
        self.delay = delay
        for name in ("search", "search_records"):
            if (call := getattr(self, name, None)) is not None:
                setattr(self, name, self._slow(call))

    def _slow(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self.delay)
            return call(*args, **kwargs)

        return slow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["serve", "worker"])
    parser.add_argument("config")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    configure_logging()
    config = load_config(args.config)
    client = slack_client(config)
    services = build_services(
        config,
        connectors=[SlowDirectory(args.delay)],
        usergroup_members=usergroup_lookup(client),
        notifier=SlackNotifier.from_config(client, config),
        sender=SlackPackageSender(client),
        background=True,
    )
    if args.role == "worker":
        return run_worker(config, services, client)
    app, _ = create_app(config, services=services, client=client)
    return serve_app(config, app, services)


if __name__ == "__main__":
    sys.exit(main())
