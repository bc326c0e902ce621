"""What a handler hands to a responder: Block Kit blocks as plain dicts, and a text fallback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "Responder"]


@dataclass(frozen=True)
class Reply:
    text: str  # notification and accessibility fallback; also what the console prints first
    blocks: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    private: bool = True  # personal data is always private; only notices may be public


Responder = Callable[[Reply], None]
