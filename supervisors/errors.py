"""Errors raised by the supervision layer.

The supervision layer is generic: it knows nothing about stores. A user of
the layer (such as ``volnux_actors``) passes an :class:`ErrorKinds` whose
classes replace these defaults, so that its callers see one hierarchy::

    SupervisionError
    ├── PoolTimeout          no connection became free within the wait limit
    ├── Unavailable          the backend is marked down (circuit breaker open)
    ├── CallTimeout          the caller's deadline passed
    ├── WaitTimeout          Future.get(timeout) returned before the value
    ├── DeadlockDetected     a wait that only the waiting actor could end
    └── ManagerClosed        the manager was closed
"""

from __future__ import annotations

from dataclasses import dataclass


class SupervisionError(Exception):
    """Root of the errors this package raises by default.

    Keyword arguments (the ``context`` of the call, such as a schema and a
    key) become attributes of the error.
    """

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        for name, value in context.items():
            setattr(self, name, value)


class PoolTimeout(SupervisionError):
    """No connection became free within ``connection_timeout``."""


class Unavailable(SupervisionError):
    """The backend is marked unavailable; calls fail fast until it is back."""


class CallTimeout(SupervisionError, TimeoutError):
    """The caller's deadline passed before the call completed."""


class WaitTimeout(SupervisionError, TimeoutError):
    """``Future.get(timeout)`` ran out before a value arrived."""


class DeadlockDetected(SupervisionError):
    """A thread waited on a future that only that thread could complete."""


class ManagerClosed(SupervisionError):
    """The manager was closed; it accepts no more work."""


@dataclass(frozen=True)
class ErrorKinds:
    """The exception classes a manager raises, one per kind of failure.

    An error whose class has a true ``permanent`` attribute (a wrong
    password, say) is reported as such again while the backend is marked
    down, instead of as ``unavailable``.

    Each class is built with one positional message argument and, where
    the call's message offers ``context()``, its fields as keywords. The
    ``unknown_outcome`` class is used when a call's deadline passes after
    the call may already have reached the backend; ``interrupted`` when
    such a call is cut short by something else (its actor crashed, the
    manager was closed).
    """

    pool_timeout: type[Exception] = PoolTimeout
    unavailable: type[Exception] = Unavailable
    call_timeout: type[Exception] = CallTimeout
    unknown_outcome: type[Exception] = CallTimeout
    interrupted: type[Exception] = CallTimeout
    wait_timeout: type[Exception] = WaitTimeout
    deadlock: type[Exception] = DeadlockDetected
    closed: type[Exception] = ManagerClosed


DEFAULT_ERRORS = ErrorKinds()
