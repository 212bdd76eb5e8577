"""Connectors: each owns one connection to one backend."""

from volnux_actors.connectors.base import BackendConnectorBase
from volnux_actors.connectors.hdfs import HDFSConnector
from volnux_actors.connectors.memory import MemoryConnector, MemoryStorage
from volnux_actors.connectors.redis import RedisConnector

__all__ = [
    "BackendConnectorBase",
    "HDFSConnector",
    "MemoryConnector",
    "MemoryStorage",
    "RedisConnector",
]
