"""The errors of volnux-actors: one tree, rooted in :class:`StoreError`.

::

    StoreError
    ├── ConfigurationError         a setting, file or URL is wrong
    ├── ValidationError            bad input; nothing was sent to the backend
    │   ├── InvalidKeyError
    │   ├── InvalidSchemaError
    │   ├── InvalidFilterError
    │   └── SerializationError     a value the codec cannot hold
    ├── ObjectExistError           insert of a key that is already stored
    ├── ObjectDoesNotExist         update/delete/get/reload of a missing key
    ├── CorruptRecordError         stored bytes that do not decode
    ├── BackendError               the backend or the way to it failed
    │   ├── BackendUnavailableError    cannot reach it; nothing was applied
    │   ├── PoolTimeoutError           no connection became free in time
    │   ├── OperationTimeoutError      the call's deadline passed
    │   ├── OutcomeUnknownError        a write may or may not have happened
    │   │   └── WriteTimeoutError      ... because its deadline passed
    │   └── BackendResponseError       the backend answered with an error
    ├── ActorDeadlockError         a wait that only the waiting actor could end
    ├── WaitTimeoutError           Future.get(timeout=...) ran out
    └── StoreClosedError           the store was closed

Every error carries ``schema`` and ``key`` attributes when it concerns one
record, and its message names them. Messages never hold a password.
"""

from __future__ import annotations

from supervisors import ErrorKinds


class StoreError(Exception):
    """Root of every error raised by volnux-actors."""

    def __init__(
        self, message: str, *, schema: str | None = None, key: str | None = None
    ) -> None:
        super().__init__(message)
        self.schema = schema
        self.key = key


class ConfigurationError(StoreError):
    """A setting, configuration file, URL or credential is wrong.

    ``permanent``: waiting will not fix it, so a store whose connections
    fail this way keeps raising this error rather than "unavailable".
    """

    permanent = True


class ValidationError(StoreError):
    """The call's input is invalid; nothing was sent to the backend."""


class InvalidKeyError(ValidationError):
    """A record key that no backend can hold."""


class InvalidSchemaError(ValidationError):
    """A schema name outside the allowed characters or length."""


class InvalidFilterError(ValidationError):
    """A filter on a field the record class does not have."""


class SerializationError(ValidationError):
    """A record holds a value the codec cannot store and read back exactly."""


class ObjectExistError(StoreError):
    """Insert of a key that is already stored in the schema.

    ``keys`` holds every key found taken: one for ``insert_record``, all of
    them for ``insert_many``.
    """

    def __init__(
        self,
        message: str,
        *,
        schema: str | None = None,
        key: str | None = None,
        keys: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, schema=schema, key=key)
        self.keys = keys or (() if key is None else (key,))


class ObjectDoesNotExist(StoreError):
    """The schema holds no record with that key."""


class CorruptRecordError(StoreError):
    """Stored bytes that are not a record this codec wrote."""


class BackendError(StoreError):
    """The backend, or the way to it, failed."""


class BackendUnavailableError(BackendError):
    """The backend cannot be reached; the call was not applied."""


class PoolTimeoutError(BackendError):
    """No connection of the pool became free within ``connection_timeout``."""


class OperationTimeoutError(BackendError, TimeoutError):
    """The call's deadline passed."""


class OutcomeUnknownError(BackendError):
    """A write reached, or may have reached, the backend without an answer.

    The write is not sent again automatically; read the record to learn
    whether it was applied.
    """


class WriteTimeoutError(OutcomeUnknownError, OperationTimeoutError):
    """A write's deadline passed after it was sent; its outcome is unknown."""


class BackendResponseError(BackendError):
    """The backend answered with an error."""


class ActorDeadlockError(StoreError):
    """A connector actor waited on a future only it could complete."""


class WaitTimeoutError(StoreError, TimeoutError):
    """``Future.get(timeout=...)`` ran out; the call may still complete."""


class StoreClosedError(StoreError):
    """The store was closed; it accepts no more calls."""


STORE_ERRORS = ErrorKinds(
    pool_timeout=PoolTimeoutError,
    unavailable=BackendUnavailableError,
    call_timeout=OperationTimeoutError,
    unknown_outcome=WriteTimeoutError,
    interrupted=OutcomeUnknownError,
    wait_timeout=WaitTimeoutError,
    deadlock=ActorDeadlockError,
    closed=StoreClosedError,
)
