"""Store facades, one per backend."""

from volnux_actors.stores.base import KeyValueStoreBackendBase
from volnux_actors.stores.hdfs import HDFSStoreBackend
from volnux_actors.stores.memory import InMemoryKeyValueStoreBackend
from volnux_actors.stores.redis import RedisStoreBackend

__all__ = [
    "HDFSStoreBackend",
    "InMemoryKeyValueStoreBackend",
    "KeyValueStoreBackendBase",
    "RedisStoreBackend",
]
