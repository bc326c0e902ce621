"""Logging without personal data: our failures, and every library's lines.

An exception's message may carry a searched value or a directory attribute (a
KeyError's key, a driver's echo of a filter). Application logs get the error's
class, the stack (file, line, code) and a reference, never the message. Libraries
log what they like (Bolt logs a late request's whole body, search term and
response_url included, at INFO), so their lines keep only their opening words.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback

__all__ = ["LibraryRedactor", "configure_logging", "log_failure"]

# Libraries held at WARNING (their lines are redacted whatever the level).
LIBRARIES = frozenset(
    {"slack_bolt", "slack_sdk", "waitress", "urllib3", "requests", "ldap3", "sqlalchemy",
     "alembic", "winrm", "psycopg", "pyodbc", "tenacity", "asyncio", "websocket"}
)  # fmt: skip
_SAFE_HEAD = re.compile(r"[A-Za-z][A-Za-z ,.;-]{0,79}")


def log_failure(logger: logging.Logger, what: str, exc: BaseException, *args: object) -> None:
    """Log `what % args`, the exception's class and its stack; drop its message."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    logger.error(what + " [%s]\n%s", *args, type(exc).__name__, stack.rstrip())


# Our own loggers: they log request ids, subject keys and outcomes, never values.
OURS = frozenset({"bot", "connectors", "handlers", "demo"})


class LibraryRedactor(logging.Filter):
    """Keeps any other record's logger, level and opening words ("Invalid request
    signature detected"), and drops the rest: bodies, URLs, terms, exception texts. By
    allow-list: a library we did not think of (Bolt names its app's logger after a file)
    is redacted too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".", 1)[0] in OURS:
            return True
        head = _SAFE_HEAD.match(record.getMessage())
        text = head.group(0).rstrip(" ,.;-") if head else "(message withheld)"
        if record.exc_info and record.exc_info[0] is not None:
            text += f" [{record.exc_info[0].__name__}]"
        record.msg, record.args = f"{text} [details withheld]", ()
        record.exc_info = record.exc_text = record.stack_info = None
        return True


def configure_logging(level: int = logging.WARNING) -> logging.Handler:
    """The process's logging: one stderr handler that redacts library records; the
    libraries themselves at WARNING or above whatever `level` is."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(LibraryRedactor())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    return handler
