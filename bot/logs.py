"""Logging unexpected failures without personal data.

An exception's message may carry a searched value or a directory attribute (a
KeyError's key, a driver's echo of a filter). Application logs get the error's
class, the stack (file, line, code) and a reference, never the message.
"""

from __future__ import annotations

import logging
import traceback

__all__ = ["log_failure"]


def log_failure(logger: logging.Logger, what: str, exc: BaseException, *args: object) -> None:
    """Log `what % args`, the exception's class and its stack; drop its message."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    logger.error(what + " [%s]\n%s", *args, type(exc).__name__, stack.rstrip())
