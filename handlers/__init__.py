"""One thin module per command: parse, authorise, call the domain, render."""

from handlers.registry import HANDLERS, handler_for

__all__ = ["HANDLERS", "handler_for"]
