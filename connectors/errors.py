"""Errors a connector may raise. No library exception leaves `connectors/`.

    ConnectorError            the system answered with an error we cannot classify
    ├── Unreachable           no connection (refused, DNS, TLS handshake, bind to a dead host)
    ├── TimedOut              the call did not finish within its deadline
    ├── Denied                the service account lacks a permission, or bad credentials
    ├── NotFound              the referenced object does not exist in the system
    └── NotSupported          the connector cannot do or answer this (a capability,
                              a kind of query, an attribute it does not search by)

`NotFound` is about one object named by an `ObjectRef` (`read`, `show`,
`plan_delete`); a search that finds no one returns an empty list instead.
Messages carry the system's error class and code, never the search term or any
attribute value: they end up in the audit store and in application logs.
"""

from __future__ import annotations

__all__ = ["ConnectorError", "Denied", "NotFound", "NotSupported", "TimedOut", "Unreachable"]


class ConnectorError(Exception):
    """A system failed to answer. `str(exc)` is safe to show and to log."""


class Unreachable(ConnectorError):
    """The system could not be reached."""


class TimedOut(ConnectorError):
    """The system did not answer in time."""


class Denied(ConnectorError):
    """The system refused the bot's credentials or the operation."""


class NotFound(ConnectorError):
    """The referenced object does not exist in the system (or its id cannot name one)."""


class NotSupported(ConnectorError):
    """The connector cannot do or answer this: a capability or kind of query it lacks."""
