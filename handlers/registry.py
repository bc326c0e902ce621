"""Which handler serves which parsed command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.commands import FindCommand, HelpCommand
from handlers.find import handle_find
from handlers.help import handle_help

HANDLERS: dict[type, Callable[..., Any]] = {
    HelpCommand: handle_help,
    FindCommand: handle_find,
}
