"""volnux-actors: records in Redis, HDFS or memory for long-running workers.

Every call returns a future at once. Each backend connection is owned by a
pykka actor; supervisors pool the actors, reap idle ones, reconnect with
backoff and restart crashed ones.
"""

from supervisors import (
    ConnectionMode,
    ConnectorManagerFactory,
    Future,
    PooledConnectorManager,
    PoolStats,
    SingleConnectorManager,
)
from volnux_actors.connectors import (
    BackendConnectorBase,
    HDFSConnector,
    MemoryConnector,
    RedisConnector,
)
from volnux_actors.errors import (
    ActorDeadlockError,
    BackendError,
    BackendResponseError,
    BackendUnavailableError,
    ConfigurationError,
    CorruptRecordError,
    InvalidFilterError,
    InvalidKeyError,
    InvalidSchemaError,
    ObjectDoesNotExist,
    ObjectExistError,
    OperationTimeoutError,
    OutcomeUnknownError,
    PoolTimeoutError,
    SerializationError,
    StoreClosedError,
    StoreError,
    ValidationError,
    WaitTimeoutError,
    WriteTimeoutError,
)
from volnux_actors.records import BackendIntegrationMixin
from volnux_actors.secret import Secret
from volnux_actors.stores import (
    HDFSStoreBackend,
    InMemoryKeyValueStoreBackend,
    KeyValueStoreBackendBase,
    RedisStoreBackend,
)

__version__ = "0.1.0"

__all__ = [
    "ActorDeadlockError",
    "BackendConnectorBase",
    "BackendError",
    "BackendIntegrationMixin",
    "BackendResponseError",
    "BackendUnavailableError",
    "ConfigurationError",
    "ConnectionMode",
    "ConnectorManagerFactory",
    "CorruptRecordError",
    "Future",
    "HDFSConnector",
    "HDFSStoreBackend",
    "InMemoryKeyValueStoreBackend",
    "InvalidFilterError",
    "InvalidKeyError",
    "InvalidSchemaError",
    "KeyValueStoreBackendBase",
    "MemoryConnector",
    "ObjectDoesNotExist",
    "ObjectExistError",
    "OperationTimeoutError",
    "OutcomeUnknownError",
    "PoolStats",
    "PoolTimeoutError",
    "PooledConnectorManager",
    "RedisConnector",
    "RedisStoreBackend",
    "Secret",
    "SerializationError",
    "SingleConnectorManager",
    "StoreClosedError",
    "StoreError",
    "ValidationError",
    "WaitTimeoutError",
    "WriteTimeoutError",
    "__version__",
]
