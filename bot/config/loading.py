"""Reading app.yaml: `${ENV_VAR}` expanded, `<key>_file` secrets read, a secret written
in clear (also inside a URL) refused, and the result validated into AppConfig with the
first problem as one line naming its key."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from bot.config.app import AppConfig
from bot.errors import ConfigError

__all__ = ["SECRET_KEYS", "first_error", "load_config", "parse_config"]

# Keys whose values are secrets wherever they appear.
SECRET_KEYS = frozenset(
    {
        "bot_token",
        "app_token",
        "signing_secret",
        "password",
        "subject_key",
        "chain_key",
        "client_secret",
    }
)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INNER_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*): ")
_WHOLE_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
# Where a URL can carry a password: user:password@host, ?password= / ?pwd=, and the
# ODBC connection string of ?odbc_connect=...;PWD=...
_URL_SECRET_PARAMS = frozenset({"password", "pwd", "passwd"})
_ODBC_PASSWORD = re.compile(r"(?:^|;)\s*(?:pwd|password)\s*=\s*(\{[^}]*\}|[^;]*)", re.IGNORECASE)


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Read and validate the YAML file at `path`. Raises ConfigError with one clear line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from exc
    return parse_config(raw, environ=os.environ if environ is None else environ, source=str(path))


def parse_config(raw: Any, *, environ: Mapping[str, str], source: str = "config") -> AppConfig:
    """Validate an already parsed mapping (tests and the demo build one in code)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    resolved = _resolve(raw, (), environ, source)
    try:
        return AppConfig.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {first_error(exc)}") from None


def first_error(exc: ValueError) -> str:
    """A validation error as one line, `key.path: what is wrong`, never its input.

    A section that is one of several kinds (HR's `kind: sql | csv`) is a tagged union whose
    tags are named "kind <value>": the tag is not a key the user wrote, so it is left out
    of the path, and a key that kind does not have is said to be so."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    kinds = [p for p in loc if p.startswith("kind ")]
    loc = [p for p in loc if not p.startswith("kind ")]
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        msg = f"not a setting of {kinds[-1]}" if kinds else "not a known setting"
    # A check of a whole section names the key inside it it refuses ("ad.name: ..."): the
    # key joins the path, so every message reads `connectors.ad.name: ...`.
    if inner := _INNER_KEY.match(msg):
        loc, msg = [*loc, inner.group(1)], msg[inner.end() :]
    return f"{'.'.join(loc) or '(top level)'}: {msg}"


def _resolve(node: Any, loc: tuple[str, ...], environ: Mapping[str, str], source: str) -> Any:
    """Expand ${VAR}, read *_file secrets, and refuse secrets written in clear."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            key = str(key)
            here = (*loc, key)
            if key.endswith("_file") and key.removesuffix("_file") in SECRET_KEYS:
                name = key.removesuffix("_file")
                out[name] = _read_secret_file(value, (*loc, name), environ, source)
                continue
            clear = not (isinstance(value, str) and _WHOLE_ENV_REF.match(value))
            if key in SECRET_KEYS and value is not None and clear:
                raise ConfigError(
                    f"{source}: {'.'.join(here)}: secret written in clear; "
                    f"use ${{ENV_VAR}} or {key}_file"
                )
            out[key] = _resolve(value, here, environ, source)
        return out
    if isinstance(node, list):
        return [_resolve(v, (*loc, str(i)), environ, source) for i, v in enumerate(node)]
    if isinstance(node, str):
        if loc and loc[-1].endswith("url") and _url_password_in_clear(node):
            raise ConfigError(
                f"{source}: {'.'.join(loc)}: password written in clear in the URL; "
                "use ${ENV_VAR} for it"
            )
        return _expand(node, loc, environ, source)
    return node


def _url_password_in_clear(text: str) -> bool:
    """A password anywhere in the URL that is not a whole ${VAR} reference."""
    try:
        url = make_url(text)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy can read: nothing to find
        return False
    found: list[str] = [url.password] if url.password is not None else []
    for key, value in url.query.items():
        values = (value,) if isinstance(value, str) else tuple(value)
        if key.lower() in _URL_SECRET_PARAMS:
            found += values
        elif key.lower() == "odbc_connect":
            found += [m.group(1).strip("{}") for v in values for m in _ODBC_PASSWORD.finditer(v)]
    return any(not _WHOLE_ENV_REF.match(str(p)) for p in found)


def _expand(value: str, loc: tuple[str, ...], environ: Mapping[str, str], source: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in environ or environ[name] == "":
            raise ConfigError(f"{source}: {'.'.join(loc)}: environment variable {name} is not set")
        return environ[name]

    return _ENV_REF.sub(sub, value)


def _read_secret_file(
    value: Any, loc: tuple[str, ...], environ: Mapping[str, str], source: str
) -> str:
    where = ".".join(loc) + "_file"
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {where}: must be a file path")
    path = Path(_expand(value, loc, environ, source))
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{source}: {where}: cannot read {path} ({exc.strerror})") from exc
    if not secret:
        raise ConfigError(f"{source}: {where}: {path} is empty")
    return secret
