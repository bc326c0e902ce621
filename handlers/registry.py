"""Which handler serves which parsed command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.commands import (
    DeleteCommand,
    ExportCommand,
    FindCommand,
    HelpCommand,
    RequestCommand,
    RequestsCommand,
    RetentionCommand,
    ShowCommand,
    TelemetryCommand,
    UpdateCommand,
)
from handlers.decide import handle_decide
from handlers.delete import handle_delete
from handlers.export import handle_export
from handlers.find import handle_find
from handlers.help import handle_help
from handlers.retention import handle_retention
from handlers.show import handle_show
from handlers.status import handle_requests, handle_status
from handlers.telemetry import handle_telemetry
from handlers.update import handle_update


def _request_command(cmd: RequestCommand, **kwargs: Any) -> None:
    (handle_status if cmd.name == "status" else handle_decide)(cmd, **kwargs)


HANDLERS: dict[type, Callable[..., Any]] = {
    HelpCommand: handle_help,
    FindCommand: handle_find,
    ShowCommand: handle_show,
    ExportCommand: handle_export,
    UpdateCommand: handle_update,
    DeleteCommand: handle_delete,
    RequestCommand: _request_command,
    RequestsCommand: handle_requests,
    RetentionCommand: handle_retention,
    TelemetryCommand: handle_telemetry,
}
