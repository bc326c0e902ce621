"""The base of every configuration section, and checks more than one section uses."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import make_url

__all__ = ["Model", "database_url"]


class Model(BaseModel):
    """A section of app.yaml: immutable, and an unknown key is an error (a typo must not
    silently leave a default in place)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def database_url(text: str) -> str:
    """A URL SQLAlchemy can read; its problem named in one line, never the URL itself
    (it may hold a user name or host the log should not)."""
    try:
        make_url(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the same mistake
        raise ValueError(f"not a database URL ({type(exc).__name__})") from None
    return text
