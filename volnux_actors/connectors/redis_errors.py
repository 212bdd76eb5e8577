"""Translation of redis-py errors into ours, in one place.

Each translated message ends with a hint of what to do, from :data:`HINTS`;
like :data:`TRANSLATIONS`, it is looked up along the error class's MRO.
"""

from __future__ import annotations

from typing import Any

from redis import exceptions as rx

from volnux_actors.errors import (
    BackendError,
    BackendResponseError,
    BackendUnavailableError,
    ConfigurationError,
    OperationTimeoutError,
    StoreError,
)

# The most specific of our errors for each redis-py error class. Lookup walks
# the class's MRO, so a new subclass falls back to its parent's entry; a test
# checks that every class redis-py defines has an entry of its own.
TRANSLATIONS: dict[type[BaseException], type[StoreError]] = {
    rx.RedisError: BackendError,
    rx.ConnectionError: BackendUnavailableError,
    rx.TimeoutError: OperationTimeoutError,
    rx.AuthenticationError: ConfigurationError,
    rx.AuthenticationWrongNumberOfArgsError: ConfigurationError,
    rx.AuthorizationError: ConfigurationError,
    rx.NoPermissionError: ConfigurationError,
    rx.ExternalAuthProviderError: ConfigurationError,
    rx.BusyLoadingError: BackendUnavailableError,
    rx.ReadOnlyError: BackendUnavailableError,
    rx.MasterDownError: BackendUnavailableError,
    rx.ClusterDownError: BackendUnavailableError,
    rx.TryAgainError: BackendUnavailableError,
    rx.MaxConnectionsError: BackendUnavailableError,
    rx.InvalidResponse: BackendResponseError,
    rx.ResponseError: BackendResponseError,
    rx.DataError: BackendResponseError,
    rx.PubSubError: BackendResponseError,
    rx.WatchError: BackendResponseError,
    rx.NoScriptError: BackendResponseError,
    rx.OutOfMemoryError: BackendResponseError,
    rx.ExecAbortError: BackendResponseError,
    rx.ModuleError: BackendResponseError,
    rx.NoSuchFieldsetError: BackendResponseError,
    rx.LockError: BackendResponseError,
    rx.LockNotOwnedError: BackendResponseError,
    rx.ChildDeadlockedError: BackendError,
    rx.RedisClusterException: ConfigurationError,
    rx.ClusterError: BackendError,
    rx.AskError: BackendResponseError,
    rx.MovedError: BackendResponseError,
    rx.ClusterCrossSlotError: BackendResponseError,
    rx.SlotNotCoveredError: BackendUnavailableError,
    rx.CrossSlotTransactionError: BackendResponseError,
    rx.InvalidPipelineStack: BackendError,
    rx.IncorrectPolicyType: ConfigurationError,
}


HINTS: dict[type[BaseException], str] = {
    rx.RedisError: "see the Redis server's reply",
    rx.ConnectionError: "the Redis server cannot be reached; retry later",
    rx.TimeoutError: "the Redis server did not answer in time",
    rx.AuthenticationError: "check the Redis username and password",
    rx.AuthenticationWrongNumberOfArgsError: (
        "the server takes a password without a username (Redis before 6); "
        "leave the username out"
    ),
    rx.AuthorizationError: "check the Redis username and password",
    rx.NoPermissionError: (
        "the Redis user lacks a permission these calls need; check its ACL"
    ),
    rx.ExternalAuthProviderError: (
        "the server's external authentication (such as LDAP) failed; retry "
        "later or check the username and password"
    ),
    rx.BusyLoadingError: (
        "the Redis server is loading its data set into memory; retry shortly"
    ),
    rx.ReadOnlyError: (
        "the server is a read-only replica; point the store at the primary"
    ),
    rx.MasterDownError: (
        "the replica has lost its primary and serves no stale data; retry "
        "later or point the store at the primary"
    ),
    rx.ClusterDownError: "the Redis cluster is down; retry later",
    rx.TryAgainError: "the Redis cluster is moving these keys; retry shortly",
    rx.MaxConnectionsError: "the client's connection limit is reached",
    rx.OutOfMemoryError: (
        "the Redis server reached its maxmemory limit; free memory or raise maxmemory"
    ),
    rx.NoScriptError: "the script is not loaded on the Redis server",
    rx.RedisClusterException: (
        "Redis Cluster is not supported; point the store at a single server"
    ),
    rx.SlotNotCoveredError: "no Redis cluster node serves these keys",
    rx.IncorrectPolicyType: "check the Redis client settings",
}


def _lookup(table: dict[type[BaseException], Any], error: BaseException) -> Any:
    for klass in type(error).__mro__:
        found = table.get(klass)
        if found is not None:
            return found
    return None


def translate(
    error: BaseException,
    what: str,
    *,
    schema: str | None = None,
    key: str | None = None,
) -> StoreError:
    """Our error for a redis-py ``error`` raised while doing ``what``."""
    target: type[StoreError] = _lookup(TRANSLATIONS, error) or BackendError
    hint: str = _lookup(HINTS, error) or HINTS[rx.RedisError]
    translated = target(f"{what}: {error} ({hint})", schema=schema, key=key)
    translated.__cause__ = error
    return translated


def translate_connect(error: BaseException, what: str, db: Any) -> StoreError:
    """Our error for a failure while opening a connection to database ``db``.

    The server refuses SELECT of a database it does not have: a setting to
    fix, not a failure to wait out.
    """
    if isinstance(error, rx.ResponseError) and "DB index" in str(error):
        translated = ConfigurationError(
            f"{what}: the server has no database {db} ({error}); use a db "
            "below the server's 'databases' setting"
        )
        translated.__cause__ = error
        return translated
    return translate(error, what)
