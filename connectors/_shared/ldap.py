"""LDAP helpers shared by the AD connector's modules: error mapping, GUIDs, times."""

from __future__ import annotations

import contextlib
import math
import ssl
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from ldap3.core import exceptions as lx

from connectors.errors import ConnectorError, Denied, NotFound, TimedOut, Unreachable

__all__ = ["generalized_time", "guid_filter_value", "ldap_errors", "seconds"]


@contextlib.contextmanager
def ldap_errors() -> Iterator[None]:
    """Map ldap3 exceptions to connector errors (httpx's map_httpcore_exceptions, for LDAP)."""
    try:
        yield
    except (
        lx.LDAPInvalidCredentialsResult,
        lx.LDAPInsufficientAccessRightsResult,
        lx.LDAPStrongerAuthRequiredResult,
        lx.LDAPConfidentialityRequiredResult,
    ) as exc:
        raise Denied(_describe(exc)) from exc
    except (lx.LDAPTimeLimitExceededResult, lx.LDAPResponseTimeoutError) as exc:
        raise TimedOut(_describe(exc)) from exc
    except (lx.LDAPSocketReceiveError, lx.LDAPSocketSendError) as exc:
        if "timed out" in str(exc).lower():
            raise TimedOut("no answer in time") from exc
        raise Unreachable(_describe(exc)) from exc
    except (
        lx.LDAPSocketOpenError,
        lx.LDAPSessionTerminatedByServerError,
        lx.LDAPCommunicationError,
        lx.LDAPStartTLSError,
        lx.LDAPSSLConfigurationError,
        lx.LDAPSocketCloseError,
    ) as exc:
        raise Unreachable(_describe(exc)) from exc
    except lx.LDAPException as exc:
        raise ConnectorError(_describe(exc)) from exc
    except (OSError, ssl.SSLError) as exc:
        raise Unreachable(exc.__class__.__name__) from exc


def _describe(exc: Exception) -> str:
    # The result name (e.g. invalidCredentials) without the server's free text,
    # which may echo the filter and with it the searched value.
    result = getattr(exc, "description", None) or getattr(exc, "result", None)
    return f"{exc.__class__.__name__}" + (f" ({result})" if isinstance(result, str) else "")


def guid_filter_value(guid: str) -> str:
    """objectGUID as the escaped little-endian byte string an LDAP filter needs.

    Raises `NotFound` for a string that is not a GUID: no object can have it.
    """
    try:
        raw = uuid.UUID(guid).bytes_le
    except ValueError:
        raise NotFound("not an objectGUID: no object has it") from None
    return "".join(f"\\{b:02x}" for b in raw)


def generalized_time(raw: list[bytes] | None) -> datetime | None:
    if not raw:
        return None
    text = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
    try:
        return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def seconds(timeout: float) -> int:
    """ldap3 wants whole seconds for time limits and socket timeouts."""
    return max(1, math.ceil(timeout))
