"""Errors a connector may raise. No library exception leaves `connectors/`.

    ConnectorError            the system answered with an error we cannot classify
    ├── Unreachable           no connection (refused, DNS, TLS handshake, bind to a dead host)
    ├── TimedOut              the call did not finish within its deadline
    ├── Denied                the service account lacks a permission, or bad credentials
    └── NotSupported          the connector has no such capability

Messages carry the system's error class and code, never the search term or any
attribute value: they end up in the audit store and in application logs.
"""

from __future__ import annotations

__all__ = ["ConnectorError", "Denied", "NotSupported", "TimedOut", "Unreachable"]


class ConnectorError(Exception):
    """A system failed to answer. `str(exc)` is safe to show and to log."""


class Unreachable(ConnectorError):
    """The system could not be reached."""


class TimedOut(ConnectorError):
    """The system did not answer in time."""


class Denied(ConnectorError):
    """The system refused the bot's credentials or the operation."""


class NotSupported(ConnectorError):
    """The connector lacks the capability asked for."""
