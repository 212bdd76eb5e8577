"""The in-memory connector: process-local storage shared by one store."""

from __future__ import annotations

import threading
from typing import ClassVar

from supervisors import ConnectionMode
from volnux_actors.connectors.base import BackendConnectorBase
from volnux_actors.connectors.errors import already_exists, does_not_exist


class MemoryStorage:
    """The dicts behind one in-memory store: ``schema -> key -> payload``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.schemas: dict[str, dict[str, bytes]] = {}


class MemoryConnector(BackendConnectorBase):
    """A "connection" to a :class:`MemoryStorage`; always connected."""

    default_connection_mode: ClassVar[ConnectionMode] = ConnectionMode.SINGLE

    def __init__(self, storage: MemoryStorage | None = None, **kwargs: object) -> None:
        super().__init__()
        self.storage = storage if storage is not None else MemoryStorage()
        self._connected = False

    def connect(self) -> None:
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False

    def is_connected(self) -> bool:
        return self._connected

    def exists(self, schema: str, key: str) -> bool:
        return key in self.storage.schemas.get(schema, ())

    def get(self, schema: str, key: str) -> bytes:
        try:
            return self.storage.schemas[schema][key]
        except KeyError:
            raise does_not_exist(schema, key) from None

    def delete(self, schema: str, key: str) -> None:
        with self.storage.lock:
            records = self.storage.schemas.get(schema)
            if records is None or key not in records:
                raise does_not_exist(schema, key)
            del records[key]

    def insert(
        self, schema: str, key: str, payload: bytes, index: tuple[tuple[str, str], ...]
    ) -> None:
        with self.storage.lock:
            records = self.storage.schemas.setdefault(schema, {})
            if key in records:
                raise already_exists(schema, key)
            records[key] = payload

    def update(
        self, schema: str, key: str, payload: bytes, index: tuple[tuple[str, str], ...]
    ) -> None:
        with self.storage.lock:
            records = self.storage.schemas.get(schema)
            if records is None or key not in records:
                raise does_not_exist(schema, key)
            records[key] = payload

    def count(self, schema: str) -> int:
        return len(self.storage.schemas.get(schema, ()))

    def scan(self, schema: str) -> list[tuple[str, bytes]]:
        with self.storage.lock:
            return list(self.storage.schemas.get(schema, {}).items())
