"""The demo estate and the bot's services in-process, for tests that drive the bot as
its users do: each command through the console front end (`run_lines`: the one error
boundary, then the worker's tick), the notifier's channels and the log captured.

Nothing is mocked: the demo's real stand-ins (ldap3's mock AD, SQLite HR and metaverse,
the loopback WinRM, BHOLD and CM services) answer, and the bot's own logging
(`configure_logging`) writes into a buffer at DEBUG.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import AppConfig, RoleMembers
from bot.frontends.console import ConsoleNotifier, ConsolePackageSender, run_lines
from bot.logs import configure_logging
from bot.services import Services, build_services
from demo.clock import DemoClock
from demo.estate import DemoEstate, demo_config

__all__ = ["DemoBot", "LogCapture", "channel_blocks", "with_roles"]


def with_roles(config: AppConfig, users: Mapping[str, Sequence[str]]) -> AppConfig:
    """`config` with each user id of `users` added to the roles it names."""
    roles = {name: list(members.users) for name, members in config.roles.items()}
    for user, names in users.items():
        for name in names:
            if user not in roles.setdefault(name, []):
                roles[name].append(user)
    return config.model_copy(
        update={
            "roles": {
                name: RoleMembers(
                    users=tuple(ids),
                    usergroups=config.roles[name].usergroups if name in config.roles else (),
                )
                for name, ids in roles.items()
            }
        }
    )


class _LockedText(io.StringIO):
    """A text buffer several threads write to (the notifier is shared by concurrent
    commands, as one Slack client is)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, s: str) -> int:
        with self._lock:
            return super().write(s)

    def text(self) -> str:
        with self._lock:
            return self.getvalue()


class LogCapture:
    """The process's logging as the bot configures it (`configure_logging`, library lines
    redacted), at DEBUG, into a buffer; the previous root handlers and level come back
    on `close`."""

    def __init__(self) -> None:
        root = logging.getLogger()
        self._saved = (list(root.handlers), root.level)
        self._levels = {
            name: logging.getLogger(name).level for name in logging.root.manager.loggerDict
        }
        self.buffer = _LockedText()
        self.handler = configure_logging(logging.DEBUG)
        self.handler.setStream(self.buffer)

    def text(self) -> str:
        return self.buffer.text()

    def close(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        handlers, level = self._saved
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
        for name, lvl in self._levels.items():
            logging.getLogger(name).setLevel(lvl)


_HEADER = re.compile(r"^  \[([^\]]+)\](.*)$")


def channel_blocks(text: str) -> Iterator[tuple[str, str]]:
    """(where, text) for each message the console notifier printed: `#notifications`,
    `#approvals`, `thread REQ-…`, `DM to U…`, `#approvals, message REQ-… updated`."""
    where: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            if where is not None:
                yield where, "\n".join(body)
            where, body = m.group(1), [m.group(2).strip()] if m.group(2).strip() else []
        elif where is not None and line.startswith("    "):
            body.append(line[4:])
        elif where is not None:
            yield where, "\n".join(body)
            where, body = None, []
    if where is not None:
        yield where, "\n".join(body)


@dataclass
class DemoBot:
    """One demo estate and the bot's services over it, in a fresh work folder."""

    workdir: Path
    estate: DemoEstate
    clock: DemoClock
    services: Services
    channels: _LockedText  # what the notifier printed: approvals, threads, DMs, notifications
    dms: _LockedText  # what the package sender printed (access packages)
    config: AppConfig

    @classmethod
    def start(cls, users: Mapping[str, Sequence[str]] | None = None) -> DemoBot:
        workdir = Path(tempfile.mkdtemp(prefix="mimbot-model-"))
        config = with_roles(demo_config(workdir), users or {})
        estate = DemoEstate(workdir)
        clock = DemoClock()
        channels, dms = _LockedText(), _LockedText()
        try:
            services = build_services(
                config,
                connectors=estate.connectors(),
                notifier=ConsoleNotifier(channels, config.roles),
                sender=ConsolePackageSender(dms),
                clock=clock,
            )
        except BaseException:
            estate.close()
            raise
        return cls(workdir, estate, clock, services, channels, dms, config)

    def run(self, user: str, text: str) -> str:
        """One command as `user`, as the console runs it (then the worker's tick); the
        reply the caller sees."""
        out = io.StringIO()
        run_lines([text], user_id=user, services=self.services, out=out)
        return out.getvalue()

    def sync(self) -> str:
        """The demo's `sync`: the next sync cycle's deletion rule, then the tick."""
        out = io.StringIO()
        run_lines(
            ["sync"],
            user_id="UDEMOADMIN",
            services=self.services,
            out=out,
            extra={"sync": lambda _: f"sync: {self.estate.sync_cycle()} deleted"},
        )
        return out.getvalue()

    def later(self, days: int = 12) -> str:
        """The demo's `later`: the clock moves on, then the tick."""
        out = io.StringIO()
        run_lines(
            ["later"],
            user_id="UDEMOADMIN",
            services=self.services,
            out=out,
            extra={"later": lambda _: f"later: {self.clock.later(days):%Y-%m-%d}"},
        )
        return out.getvalue()

    def run_together(self, commands: Sequence[tuple[str, str]]) -> list[str]:
        """Commands (user, text) started at the same instant, one thread each; their
        replies in the same order."""
        barrier = threading.Barrier(len(commands))
        replies: list[str | BaseException] = [""] * len(commands)

        def one(i: int, user: str, text: str) -> None:
            try:
                barrier.wait(timeout=30)
                replies[i] = self.run(user, text)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                replies[i] = exc

        threads = [
            threading.Thread(target=one, args=(i, u, t), daemon=True)
            for i, (u, t) in enumerate(commands)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        for r in replies:
            if isinstance(r, BaseException):
                raise r
        return [str(r) for r in replies]

    def close(self) -> None:
        try:
            self.services.close()
        finally:
            try:
                self.estate.close()
            finally:
                shutil.rmtree(self.workdir, ignore_errors=True)
