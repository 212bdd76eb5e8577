"""Translation of redis-py errors into ours, in one place."""

from __future__ import annotations

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


def translate(
    error: BaseException,
    what: str,
    *,
    schema: str | None = None,
    key: str | None = None,
) -> StoreError:
    """Our error for a redis-py ``error`` raised while doing ``what``."""
    target: type[StoreError] = BackendError
    for klass in type(error).__mro__:
        found = TRANSLATIONS.get(klass)
        if found is not None:
            target = found
            break
    hint = {
        BackendUnavailableError: "the Redis server cannot be reached; retry later",
        ConfigurationError: "check the Redis URL, username and password",
        OperationTimeoutError: "the Redis server did not answer in time",
    }.get(target, "see the Redis server's reply")
    translated = target(f"{what}: {error} ({hint})", schema=schema, key=key)
    translated.__cause__ = error
    return translated
