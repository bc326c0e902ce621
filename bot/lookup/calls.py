"""The one way the bot calls a connector: under a deadline, every failure mapped to the
same per-system `Outcome`, so search, show, planning, running and verification agree on
what "timed out" or "unreachable" means and a connector's bug hides no other answer.

Every answer is held to a size cap per value (`MAX_VALUE_BYTES`): an answer with a
larger value is refused (an error naming the attribute, never the value), so no find,
show or export copies a value of megabytes into replies, JSON, CSV and a zip."""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.logs import log_failure
from connectors.base import Connector, IdKind, Verification
from connectors.errors import ConnectorError, Denied, NotFound, NotSupported, TimedOut, Unreachable

__all__ = [
    "MAX_VALUE_BYTES",
    "Call",
    "Outcome",
    "Pending",
    "answered",
    "call",
    "not_configured",
    "oversized",
    "start",
    "verify_call",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Outcome(enum.Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    UNREACHABLE = "unreachable"
    TIMED_OUT = "timed_out"
    DENIED = "denied"
    ERROR = "error"
    SKIPPED = "skipped"  # the system cannot answer this (kind of) question

    @property
    def answered(self) -> bool:
        """The system answered (found or not): nothing is hidden behind this outcome."""
        return self in (Outcome.FOUND, Outcome.NOT_FOUND)

    @property
    def silent(self) -> bool:
        """The system did not answer (unreachable, timed out, denied, error): "nobody"
        would be false while one is silent. A system that cannot answer this kind of
        question (skipped) is not silent."""
        return not self.answered and self is not Outcome.SKIPPED


# Most specific first: each connector error class has one outcome.
_OUTCOMES: tuple[tuple[type[ConnectorError], Outcome], ...] = (
    (NotFound, Outcome.NOT_FOUND),
    (TimedOut, Outcome.TIMED_OUT),
    (Unreachable, Outcome.UNREACHABLE),
    (Denied, Outcome.DENIED),
    (NotSupported, Outcome.SKIPPED),
    (ConnectorError, Outcome.ERROR),
)
NO_ANSWER = "no answer in time"
# No personal attribute needs more (AD caps most at a few KiB; a photo is 100 KiB but
# is not read); one HR value of 50 MB cost 600 MB of memory in an export.
MAX_VALUE_BYTES = 64 * 1024
_MAX_DEPTH = 16  # answers are a few dataclasses deep; a deeper one is not walked further


@dataclass(frozen=True)
class Call(Generic[T]):
    """What one connector call gave: its value, or the outcome and safe text of its failure."""

    system: str
    label: str
    outcome: Outcome
    value: T | None = None
    message: str = ""  # safe text: the connector error's class or code, never a value
    seconds: float = 0.0

    @property
    def reason(self) -> str:
        """Why there is no value, as safe text: the error's own, else the outcome's name."""
        return self.message or self.outcome.value.replace("_", " ")

    @property
    def ok(self) -> bool:
        return self.value is not None and self.outcome is Outcome.FOUND

    def unwrap(self) -> T:
        """The value; a failure re-raised as the connector error class its outcome names."""
        if self.ok:
            return self.value  # type: ignore[return-value]
        raise next(e for e, o in _OUTCOMES if o is self.outcome)(self.message)


class Pending(Generic[T]):
    """A call running on a pool; `wait` gives its `Call` by the deadline, whatever happens.
    `capped` picks the part of the answer held to the size cap here (default: all of it);
    the caller holds the rest to it itself (`answered`), e.g. a search's records, each
    refused alone so that one oversized record never hides the hits."""

    def __init__(
        self,
        connector: Connector,
        future: Future[T],
        what: str,
        capped: Callable[[T], object] | None = None,
    ) -> None:
        self.connector, self.future, self.what, self.capped = connector, future, what, capped
        self.started = time.monotonic()

    def wait(self, deadline: float) -> Call[T]:
        try:
            value = self.future.result(timeout=max(0.0, deadline - time.monotonic()))
            checked = value if self.capped is None else self.capped(value)
        except FutureTimeout:
            # A call still queued behind a hung one never starts; one running keeps its
            # thread until the connector's own socket timeout; the answer waits for neither.
            self.future.cancel()
            return self._call(Outcome.TIMED_OUT, message=NO_ANSWER)
        except Exception as exc:  # noqa: BLE001 - the boundary: mapped to an outcome
            return self._failed(exc)
        return answered(
            self.connector, value, what=self.what, seconds=self._seconds(), checked=checked
        )

    def _failed(self, exc: Exception) -> Call[T]:
        name = self.connector.name
        if not isinstance(exc, ConnectorError):
            log_failure(log, "%s in %s raised", exc, self.what, name)
            return self._call(Outcome.ERROR, message=f"internal error ({type(exc).__name__})")
        outcome = next(o for e, o in _OUTCOMES if isinstance(exc, e))
        if outcome not in (Outcome.NOT_FOUND, Outcome.SKIPPED):
            log.warning("%s in %s: %s (%s)", self.what, name, outcome.value, exc)
        return self._call(outcome, message=str(exc))

    def _call(self, outcome: Outcome, *, value: T | None = None, message: str = "") -> Call[T]:
        c = self.connector
        return Call(c.name, c.label, outcome, value, message, self._seconds())

    def _seconds(self) -> float:
        return time.monotonic() - self.started


_UNCHECKED = object()


def answered(
    connector: Connector,
    value: T,
    *,
    what: str,
    seconds: float = 0.0,
    checked: object = _UNCHECKED,
) -> Call[T]:
    """`value`, `connector`'s answer to `what`, as a found `Call`; refused (an error naming
    the attribute, never the value) when `checked` (default: the value) holds a value over
    the size cap."""
    name = oversized(value if checked is _UNCHECKED else checked)
    if name is not None:
        # The name may be a connector's own (an HR CSV header): the reply escapes it,
        # the log does without it.
        log.warning("%s in %s: answer refused, a value over the size cap", what, connector.name)
        return Call(
            connector.name,
            connector.label,
            Outcome.ERROR,
            message=f"answer refused: a value of {name} is over {MAX_VALUE_BYTES // 1024} KiB",
            seconds=seconds,
        )
    return Call(connector.name, connector.label, Outcome.FOUND, value, seconds=seconds)


def oversized(value: object, *, limit: int = MAX_VALUE_BYTES) -> str | None:
    """The name of the attribute (else the field) of the first text or bytes in a
    connector's answer longer than `limit` bytes (UTF-8), or None when all fit."""
    return _oversized(value, None, limit, 0)


def _oversized(value: object, name: str | None, limit: int, depth: int) -> str | None:
    if isinstance(value, str):
        return _named(name) if _too_long(value, limit) else None
    if isinstance(value, bytes | bytearray):
        return _named(name) if len(value) > limit else None
    if depth > _MAX_DEPTH or isinstance(value, enum.Enum):
        return None
    found: str | None = None
    if isinstance(value, Mapping):  # keyed by attribute name: the key names what is inside
        for key, item in value.items():
            key_name = key.value if isinstance(key, enum.Enum) else key
            if isinstance(key_name, str) and _too_long(key_name, limit):
                return "an attribute name"
            found = _oversized(item, str(key_name), limit, depth + 1)
            if found:
                return found
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        own = getattr(value, "name", None)  # AttributeView(name="department", ...)
        own = own if isinstance(own, str) and not _too_long(own, limit) else name
        for f in dataclasses.fields(value):
            found = _oversized(getattr(value, f.name), own or f.name, limit, depth + 1)
            if found:
                return found
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            found = _oversized(item, name, limit, depth + 1)
            if found:
                return found
    return None


def _too_long(text: str, limit: int) -> bool:
    if len(text) * 4 <= limit:  # at most 4 bytes a character: no need to encode
        return False
    return len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit


def _named(name: str | None) -> str:
    """An attribute name fit for a note: printable and short."""
    text = "".join(ch for ch in (name or "the answer") if ch.isprintable())[:64]
    return text or "an attribute"


class _Inline(Executor):
    """Runs the call in the caller's thread: the connector's own timeout is the deadline."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        future: Future[object] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the Future, re-raised by wait
            future.set_exception(exc)
        return future


_INLINE = _Inline()


def start(
    connector: Connector,
    fn: Callable[[], T],
    *,
    what: str,
    pool: Executor | None = None,
    capped: Callable[[T], object] | None = None,
) -> Pending[T]:
    """Start `fn` (a call on `connector`) on `pool`; wait for it with `Pending.wait`
    (`capped`: see `Pending`)."""
    return Pending(connector, (pool or _INLINE).submit(fn), what, capped)


def call(
    connector: Connector,
    fn: Callable[[], T],
    *,
    what: str,
    timeout: float,
    pool: Executor | None = None,
) -> Call[T]:
    """Call `fn` and map how it ended. Without a pool it runs in this thread, and the
    connector's own `timeout` is the deadline; with one, the deadline holds even when
    the connector hangs."""
    return start(connector, fn, what=what, pool=pool).wait(time.monotonic() + timeout)


def not_configured(system: str, message: str = "connector not configured") -> Call[Any]:
    """The outcome of a call that could not be made: no such connector (or nothing to ask)."""
    return Call(system, system, Outcome.ERROR, message=message)


def verify_call(
    connectors: Mapping[str, Connector],
    system: str,
    identifiers: Mapping[IdKind, str],
    *,
    what: str,
    timeout: float,
) -> Call[Verification]:
    """Ask `system` whether anything the identifiers name is left (a copy search, a
    residual check), through the one call path; a system with no connector says so."""
    connector = connectors.get(system)
    if connector is None:
        return not_configured(system)
    return call(
        connector,
        lambda: connector.verify_absent(identifiers, timeout=timeout),
        what=what,
        timeout=timeout,
    )
