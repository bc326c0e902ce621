"""Which handler serves which command: one per verb of bot/commands/table.py, checked here
when the module is imported, so a command declared without a handler cannot start."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from bot.commands.table import Verb
from handlers.batch import handle_batch
from handlers.datamap import handle_datamap
from handlers.decide import handle_decide
from handlers.delete import handle_delete
from handlers.doctor import handle_doctor
from handlers.export import handle_export
from handlers.find import handle_find
from handlers.help import handle_help
from handlers.hold import handle_hold
from handlers.retention import handle_retention
from handlers.show import handle_show
from handlers.status import handle_requests, handle_status
from handlers.sweep import handle_sweep
from handlers.telemetry import handle_telemetry
from handlers.update import handle_update

__all__ = ["HANDLERS", "handler_for"]

Handler = Callable[..., Any]

HANDLERS: Mapping[Verb, Handler] = MappingProxyType(
    {
        Verb.HELP: handle_help,
        Verb.FIND: handle_find,
        Verb.SHOW: handle_show,
        Verb.EXPORT: handle_export,
        Verb.UPDATE: handle_update,
        Verb.DELETE: handle_delete,
        Verb.STATUS: handle_status,
        Verb.REQUESTS: handle_requests,
        Verb.APPROVE: handle_decide,
        Verb.REJECT: handle_decide,
        Verb.DONE: handle_decide,
        Verb.RETRY: handle_decide,
        Verb.CANCEL: handle_decide,
        Verb.EXTEND: handle_decide,
        Verb.RETENTION: handle_retention,
        Verb.TELEMETRY: handle_telemetry,
        Verb.DOCTOR: handle_doctor,
        Verb.DATAMAP: handle_datamap,
        Verb.SWEEP: handle_sweep,
        Verb.HOLD: handle_hold,
        Verb.UNHOLD: handle_hold,
        Verb.DROP: handle_batch,
        Verb.PAUSE: handle_batch,
        Verb.RESUME: handle_batch,
    }
)
_missing = sorted(set(Verb) - set(HANDLERS))
if _missing:
    raise ImportError(f"commands without a handler: {', '.join(_missing)}")


def handler_for(verb: Verb) -> Handler:
    return HANDLERS[verb]
