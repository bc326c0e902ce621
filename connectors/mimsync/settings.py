"""The MIM Sync connector's settings: its `connectors.mimsync` section of app.yaml."""

from __future__ import annotations

from pathlib import Path

import pydantic.dataclasses
import sqlalchemy as sa
from pydantic import Field, field_validator

from connectors._shared.sql import database_url, with_password
from connectors.spec import SETTINGS

__all__ = ["MimSyncSettings"]


@pydantic.dataclasses.dataclass(frozen=True, config=SETTINGS)
class MimSyncSettings:
    """Connection and behaviour of one MIM Sync connector.

    `url` is a SQLAlchemy URL (`mssql+pyodbc://user@host:1433/FIMSynchronizationService?
    driver=...` in production; `mssql_url` builds one with the password quoted), and
    `password` is set apart from it, so it needs no URL quoting. `server_config_dir` is a
    `svrexport` folder (MV.XML and the MA files, named by GUID or renamed); without it
    precedence and deletion rules are read from the database. `personal_attributes`
    limits `read`/`show` to those MV attributes (empty: all). `delete_wait_timeout_s` is
    how long `verify_absent` polls (0: check once).
    """

    url: str | sa.URL
    password: str | None = Field(default=None, repr=False)
    server_config_dir: Path | None = None
    person_type: str = "person"
    personal_attributes: tuple[str, ...] = ()
    delete_wait_timeout_s: float = Field(default=0.0, ge=0, alias="delete_wait_seconds")
    name: str = "mimsync"
    label: str = "MIM Sync metaverse"
    max_hits: int = Field(default=50, ge=1)
    page_size: int = Field(default=500, ge=1, le=10000)  # persons a sweep reads per page
    poll_interval_s: float = Field(default=1.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | sa.URL) -> str | sa.URL:
        return database_url(v) if isinstance(v, str) else v

    @property
    def engine_url(self) -> sa.URL:
        """The URL the engine connects with: `url` and, when set, `password`."""
        return with_password(self.url, self.password)
