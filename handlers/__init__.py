"""One thin module per command: parse, authorise, call the domain, render."""

from handlers.registry import HANDLERS

__all__ = ["HANDLERS"]
