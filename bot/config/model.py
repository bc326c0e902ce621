"""The base of every configuration section, and checks more than one section uses."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from connectors.spec import database_url

__all__ = ["Model", "database_url"]


class Model(BaseModel):
    """A section of app.yaml: immutable, and an unknown key is an error (a typo must not
    silently leave a default in place)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
