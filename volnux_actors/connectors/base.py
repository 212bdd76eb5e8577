"""The connector contract: one connection to one backend."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from supervisors import ConnectionMode
from volnux_actors import messages as m
from volnux_actors.connectors.errors import already_exist_many
from volnux_actors.errors import ObjectDoesNotExist, StoreError
from volnux_actors.secret import Secret


class BackendConnectorBase(abc.ABC):
    """Owns ONE connection to a backend and runs CRUD messages on it.

    A connector is used by one connector actor at a time and needs no locks
    of its own. Subclasses implement the connection calls and the seven
    primitive operations; :meth:`run_batch` may be overridden to send many
    messages in one round trip. The bulk operations and :meth:`lookup` have
    default implementations built from the primitive ones; a backend that
    can do better (atomically, in one round trip) overrides them.
    """

    default_connection_mode: ClassVar[ConnectionMode] = ConnectionMode.POOLED
    runs_in_caller: ClassVar[bool] = False
    """True for a connector whose calls never block (no I/O): a caller that
    finds its actor idle then runs the call on its own thread, still one
    thread at a time on the connection."""

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        username: str | None = None,
        password: str | Secret | None = None,
        db: str | int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = Secret.wrap(password)
        self.db = db
        self._handlers: dict[type[m.Message], Callable[[Any], Any]] = {
            m.Exists: lambda msg: self.exists(msg.schema, msg.key),
            m.Get: lambda msg: self.get(msg.schema, msg.key),
            m.Delete: lambda msg: self.delete(msg.schema, msg.key),
            m.Insert: lambda msg: self.insert(
                msg.schema, msg.key, msg.payload, msg.index
            ),
            m.Update: lambda msg: self.update(
                msg.schema, msg.key, msg.payload, msg.index
            ),
            m.Count: lambda msg: self.count(msg.schema),
            m.Scan: lambda msg: self.scan(msg.schema),
            m.Lookup: lambda msg: self.lookup(msg.schema, msg.pairs),
            m.InsertMany: lambda msg: self.insert_many(msg.schema, msg.items),
            m.GetMany: lambda msg: self.get_many(msg.schema, msg.keys),
            m.DeleteMany: lambda msg: self.delete_many(msg.schema, msg.keys),
        }

    @property
    def password(self) -> str | None:
        """The password in plain text, for the client library; else None."""
        return None if self._password is None else self._password.reveal()

    def __repr__(self) -> str:
        # Never shows the password.
        return f"<{type(self).__name__} {self.host}:{self.port} db={self.db}>"

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection; raise BackendUnavailableError on failure."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Close the connection; never raises for an already closed one."""

    @abc.abstractmethod
    def is_connected(self) -> bool:
        """Whether the connection is open and believed usable."""

    def run_batch(self, messages: Sequence[m.Message]) -> list[Any]:
        """Run ``messages`` in order; a failure is returned, not raised."""
        return [self.run_one(message) for message in messages]

    def run_one(self, message: m.Message) -> Any:
        try:
            return self._handlers[type(message)](message)
        except StoreError as error:
            return error

    @abc.abstractmethod
    def exists(self, schema: str, key: str) -> bool: ...

    @abc.abstractmethod
    def get(self, schema: str, key: str) -> bytes:
        """The stored payload; raise ObjectDoesNotExist if missing."""

    @abc.abstractmethod
    def delete(self, schema: str, key: str) -> None: ...

    @abc.abstractmethod
    def insert(
        self, schema: str, key: str, payload: bytes, index: tuple[tuple[str, str], ...]
    ) -> None: ...

    @abc.abstractmethod
    def update(
        self, schema: str, key: str, payload: bytes, index: tuple[tuple[str, str], ...]
    ) -> None: ...

    def insert_many(
        self, schema: str, items: Sequence[tuple[str, bytes, m.IndexPairs]]
    ) -> None:
        """Insert every item or none; ObjectExistError names the taken keys.

        This default checks the keys first, then inserts one by one and
        removes what it inserted if a concurrent writer took a key in
        between; it is all-or-nothing for its own writes but not isolated
        from other writers (a reader may see part of the batch).
        """
        taken = [key for key, _, _ in items if self.exists(schema, key)]
        if taken:
            raise already_exist_many(schema, taken)
        done: list[str] = []
        try:
            for key, payload, index in items:
                self.insert(schema, key, payload, index)
                done.append(key)
        except StoreError:
            for key in done:
                with contextlib.suppress(StoreError):
                    self.delete(schema, key)
            raise

    def get_many(self, schema: str, keys: Sequence[str]) -> list[tuple[str, bytes]]:
        """``(key, payload)`` of each stored key, in the order asked."""
        found: list[tuple[str, bytes]] = []
        for key in keys:
            try:
                found.append((key, self.get(schema, key)))
            except ObjectDoesNotExist:
                continue
        return found

    def delete_many(self, schema: str, keys: Sequence[str]) -> int:
        """Delete those of ``keys`` that exist; return how many did."""
        removed = 0
        for key in keys:
            try:
                self.delete(schema, key)
            except ObjectDoesNotExist:
                continue
            removed += 1
        return removed

    def lookup(self, schema: str, pairs: m.IndexPairs) -> list[tuple[str, bytes]]:
        """Records whose indexed fields hold ``pairs``, or more (a superset).

        This default has no index and returns every record of the schema;
        the store keeps only the ones that match.
        """
        del pairs
        return self.scan(schema)

    @abc.abstractmethod
    def count(self, schema: str) -> int: ...

    @abc.abstractmethod
    def scan(self, schema: str) -> list[tuple[str, bytes]]:
        """Every ``(key, payload)`` of ``schema``; empty for an unknown one."""
