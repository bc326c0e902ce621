"""HTTP sessions for the IIS-hosted MIM services (BHOLD Core, Certificate Management).

Both sit behind IIS Windows Authentication: NTLM through `requests_ntlm` (pyspnego), or
Kerberos through `requests_gssapi` (an optional package: it needs the system's GSSAPI
libraries). `basic` is for a site configured so, and only over https. Certificates are
always validated, against `ca_file` when given, else requests' own trust store; proxies
and CA bundles from the environment are ignored, so the bot talks to exactly the
configured server. `http_errors()` turns what requests, urllib3 and NTLM raise into our
connector errors, the same way for both services.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import pydantic.dataclasses
import requests
import urllib3.exceptions
from spnego.exceptions import SpnegoError

from connectors.errors import ConnectorError, Denied, TimedOut, Unreachable
from connectors.spec import SETTINGS

__all__ = ["HttpAuth", "HttpSettings", "http_errors", "open_session"]

HttpAuth = Literal["ntlm", "kerberos", "basic"]
AUTHS: frozenset[str] = frozenset({"ntlm", "kerberos", "basic"})


@pydantic.dataclasses.dataclass(frozen=True, kw_only=True, config=SETTINGS)
class HttpSettings:
    """Where a service is and how to sign in. `username` is `DOMAIN\\user` for NTLM;
    Kerberos uses the process's ticket (keytab or `kinit`), so it needs neither.

    Raises `ValueError` for a setting that cannot work."""

    url: str
    auth: HttpAuth = "ntlm"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None
    # Personal data and deletion scripts travel in these bodies, and NTLM does not sign an
    # HTTP body: plain http only when said explicitly (a lab, or TLS ended in front).
    allow_plain_http: bool = False

    def __post_init__(self) -> None:
        url = urlsplit(self.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("the URL must be an http:// or https:// URL")
        try:
            url.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise ValueError("the URL has an invalid port") from None
        if self.auth not in AUTHS:
            raise ValueError(f"auth must be one of {', '.join(sorted(AUTHS))}")
        if self.auth == "basic" and url.scheme != "https":
            raise ValueError("basic authentication is allowed only over https")
        if url.scheme != "https" and not self.allow_plain_http:
            raise ValueError(
                "the URL uses plain http:// — use https://, or set allow_plain_http: true"
            )
        if self.auth != "kerberos" and not (self.username and self.password):
            raise ValueError(f"{self.auth} authentication needs a username and a password")


def open_session(settings: HttpSettings) -> requests.Session:
    """A `requests.Session` that authenticates as configured and validates certificates."""
    # Checked here, not in the settings: a file is the host's, not the configuration's.
    if settings.ca_file is not None and not Path(settings.ca_file).is_file():
        raise ValueError("ca_file does not name a file")
    session = requests.Session()
    session.trust_env = False  # no proxy, netrc or CA bundle from the environment
    session.verify = str(settings.ca_file) if settings.ca_file else True
    if settings.auth == "ntlm":
        from requests_ntlm import HttpNtlmAuth

        session.auth = HttpNtlmAuth(settings.username, settings.password)
    elif settings.auth == "kerberos":
        try:
            gssapi_auth = importlib.import_module("requests_gssapi")
        except ImportError:
            raise ConnectorError(
                "kerberos authentication needs the requests-gssapi package"
            ) from None
        session.auth = gssapi_auth.HTTPSPNEGOAuth()
    else:
        session.auth = (settings.username, settings.password)
    return session


@contextmanager
def http_errors(system: str, what: str) -> Iterator[None]:
    """What requests, urllib3 and NTLM raise in the block, as our errors: `TimedOut`,
    `Unreachable` (no connection, or TLS failed), `Denied` (no NTLM challenge), else
    `ConnectorError`. `system` names the service, `what` the route or operation.

    Messages name only those: the library's own text holds the URL, and a query in it may
    hold a person's account, so it is not chained either (`from None`): no traceback in a
    log shows it. Our own errors raised in the block pass through unchanged.
    """
    try:
        yield
    except requests.Timeout:  # ReadTimeout (no answer), and ConnectTimeout
        raise TimedOut(f"{system} did not answer in time ({what})") from None
    except requests.exceptions.SSLError:
        raise Unreachable(f"{system}: TLS failed ({what})") from None
    except requests.ConnectionError as exc:
        if _read_timeout(exc):
            raise TimedOut(f"{system} did not answer in time ({what})") from None
        raise Unreachable(f"{system} is unreachable ({exc.__class__.__name__})") from None
    except requests.RequestException as exc:
        raise ConnectorError(f"{system}: {exc.__class__.__name__} ({what})") from None
    except PermissionError:  # requests_ntlm: the server offered no NTLM challenge
        raise Denied(f"{system} refused NTLM authentication ({what})") from None
    except (SpnegoError, ValueError) as exc:  # a malformed NTLM challenge (base64, pyspnego)
        raise ConnectorError(
            f"{system}: authentication failed ({exc.__class__.__name__})"
        ) from None


def _read_timeout(exc: requests.ConnectionError) -> bool:
    """Whether a `ConnectionError` is a read timeout that requests wrapped.

    In requests 2.34 (requests/exceptions.py) `ReadTimeout` is a `Timeout` but not a
    `ConnectionError`. A read timeout while the status line and headers are awaited comes as
    `ReadTimeout` (adapters.py, `HTTPAdapter.send`); one while the body is read comes as
    `ConnectionError(urllib3.exceptions.ReadTimeoutError)` (models.py,
    `Response.iter_content`: `except ReadTimeoutError as e: raise ConnectionError(e)`), and
    once retries of reads run out as `ConnectionError(MaxRetryError)` whose `reason` is the
    `ReadTimeoutError` (adapters.py). urllib3 2.x's `ReadTimeoutError` derives from its
    `TimeoutError`, never from `ConnectTimeoutError` or `NewConnectionError`.
    """
    for arg in exc.args:
        if isinstance(arg, urllib3.exceptions.MaxRetryError):
            arg = arg.reason
        if isinstance(arg, urllib3.exceptions.ReadTimeoutError):
            return True
    return False
