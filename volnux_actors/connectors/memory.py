"""The in-memory connector: process-local storage shared by one store."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import ClassVar

from supervisors import ConnectionMode
from volnux_actors.connectors.base import BackendConnectorBase
from volnux_actors.connectors.errors import (
    already_exist_many,
    already_exists,
    does_not_exist,
)
from volnux_actors.messages import IndexPairs


class MemoryStorage:
    """The dicts behind one in-memory store: ``schema -> key -> payload``.

    ``index`` maps ``schema -> (field, token) -> keys`` for the indexed
    fields of each record, and ``entries`` remembers each record's pairs so
    that an update or delete can take the old ones out. Writers hold
    ``lock``; a single dict read needs no lock.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.schemas: dict[str, dict[str, bytes]] = {}
        self.index: dict[str, dict[tuple[str, str], set[str]]] = {}
        self.entries: dict[str, dict[str, IndexPairs]] = {}

    def index_locked(self, schema: str, key: str, pairs: IndexPairs) -> None:
        """Replace the index pairs of ``key`` (call with ``lock`` held)."""
        entries = self.entries.setdefault(schema, {})
        old = entries.get(key, ())
        if old == pairs:
            return
        index = self.index.setdefault(schema, {})
        for pair in old:
            keys = index.get(pair)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[pair]
        for pair in pairs:
            index.setdefault(pair, set()).add(key)
        if pairs:
            entries[key] = pairs
        else:
            entries.pop(key, None)


class MemoryConnector(BackendConnectorBase):
    """A "connection" to a :class:`MemoryStorage`; always connected."""

    default_connection_mode: ClassVar[ConnectionMode] = ConnectionMode.SINGLE
    runs_in_caller: ClassVar[bool] = True
    """Calls take microseconds and never block: a caller that finds the
    actor idle runs its call itself instead of handing it over."""

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
            self.storage.index_locked(schema, key, ())

    def insert(
        self, schema: str, key: str, payload: bytes, index: tuple[tuple[str, str], ...]
    ) -> None:
        with self.storage.lock:
            records = self.storage.schemas.setdefault(schema, {})
            if key in records:
                raise already_exists(schema, key)
            records[key] = payload
            if index:
                self.storage.index_locked(schema, key, index)

    def update(
        self, schema: str, key: str, payload: bytes, index: tuple[tuple[str, str], ...]
    ) -> None:
        with self.storage.lock:
            records = self.storage.schemas.get(schema)
            if records is None or key not in records:
                raise does_not_exist(schema, key)
            records[key] = payload
            self.storage.index_locked(schema, key, index)

    def count(self, schema: str) -> int:
        return len(self.storage.schemas.get(schema, ()))

    def scan(self, schema: str) -> list[tuple[str, bytes]]:
        with self.storage.lock:
            return list(self.storage.schemas.get(schema, {}).items())

    def insert_many(
        self, schema: str, items: Sequence[tuple[str, bytes, IndexPairs]]
    ) -> None:
        storage = self.storage
        with storage.lock:
            records = storage.schemas.setdefault(schema, {})
            taken = [key for key, _, _ in items if key in records]
            if taken:
                raise already_exist_many(schema, taken)
            for key, payload, index in items:
                records[key] = payload
                if index:
                    storage.index_locked(schema, key, index)

    def get_many(self, schema: str, keys: Sequence[str]) -> list[tuple[str, bytes]]:
        records = self.storage.schemas.get(schema, {})
        found: list[tuple[str, bytes]] = []
        for key in keys:
            payload = records.get(key)
            if payload is not None:
                found.append((key, payload))
        return found

    def delete_many(self, schema: str, keys: Sequence[str]) -> int:
        storage = self.storage
        removed = 0
        with storage.lock:
            records = storage.schemas.get(schema, {})
            for key in keys:
                if records.pop(key, None) is not None:
                    storage.index_locked(schema, key, ())
                    removed += 1
        return removed

    def lookup(self, schema: str, pairs: IndexPairs) -> list[tuple[str, bytes]]:
        storage = self.storage
        with storage.lock:
            index = storage.index.get(schema, {})
            sets = [index.get(pair, set()) for pair in pairs]
            keys = set.intersection(*sets) if sets else set()
            records = storage.schemas.get(schema, {})
            return [(key, records[key]) for key in keys if key in records]
