"""What each system is, in words for the data subject: the README of an access package.

GDPR Art. 15(1) asks for the purposes, the recipients, how long the data is kept and
where it came from. Each connector's spec states them for a MIM estate
(`connectors/<system>/__init__.py`); an organisation states its own in app.yaml
(`export.systems.<name>`), which override them field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from connectors.spec import SystemWords, specs

__all__ = ["system_text"]

_GENERIC = SystemWords(
    purpose="Holds data about you for the organisation's identity and access management.",
    source="Copied from the systems above or entered by the team that runs it.",
    authority="Not stated.",
    retention="Not stated.",
)


def system_text(name: str, overrides: Mapping[str, Mapping[str, str]] | None = None) -> SystemWords:
    """The words for system `name`: the organisation's own fields over its spec's."""
    text = next((s.words for s in specs() if s.name == name), _GENERIC)
    own = (overrides or {}).get(name)
    return replace(text, **own) if own else text
