"""The in-memory store: process-local, for tests and the embedded default."""

from __future__ import annotations

from typing import Any

from volnux_actors.connectors.memory import MemoryConnector, MemoryStorage
from volnux_actors.stores.base import KeyValueStoreBackendBase


class InMemoryKeyValueStoreBackend(KeyValueStoreBackendBase):
    """Records in this process's memory, behind one connector actor.

    Each store has its own storage; it is lost when the process ends.
    """

    connector_klass = MemoryConnector

    def __init__(self, **options: Any) -> None:
        self.storage = MemoryStorage()
        super().__init__(**options)

    def connector_config(self) -> dict[str, Any]:
        return {"storage": self.storage}
