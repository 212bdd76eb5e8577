"""The CRUD messages a store sends to its connector actors.

Messages are small, immutable and already validated: keys are in canonical
form and records are already encoded, so a connector only moves bytes.
``route_key`` keeps calls on one record in the order they were made;
``is_write`` tells the supervision layer whether a call whose outcome is
unknown may have changed data.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import ClassVar

IndexPairs = tuple[tuple[str, str], ...]
"""``(field, token)`` pairs of a record's indexed fields (see records.py)."""


@dataclass(frozen=True, slots=True)
class Message:
    schema: str

    is_write: ClassVar[bool] = False
    verb: ClassVar[str] = "call"

    @property
    def route_key(self) -> Hashable | None:
        return None

    def describe(self) -> str:
        return f"{self.verb} on schema {self.schema!r}"

    def context(self) -> dict[str, str]:
        """The fields an error about this call carries."""
        return {"schema": self.schema}


@dataclass(frozen=True, slots=True)
class KeyMessage(Message):
    key: str

    @property
    def route_key(self) -> Hashable | None:
        return (self.schema, self.key)

    def describe(self) -> str:
        return f"{self.verb} of key {self.key!r} in schema {self.schema!r}"

    def context(self) -> dict[str, str]:
        return {"schema": self.schema, "key": self.key}


@dataclass(frozen=True, slots=True)
class Exists(KeyMessage):
    verb: ClassVar[str] = "exists"


@dataclass(frozen=True, slots=True)
class Get(KeyMessage):
    verb: ClassVar[str] = "get_record"


@dataclass(frozen=True, slots=True)
class Delete(KeyMessage):
    is_write: ClassVar[bool] = True
    verb: ClassVar[str] = "delete_record"


@dataclass(frozen=True, slots=True)
class Insert(KeyMessage):
    payload: bytes
    index: IndexPairs = ()

    is_write: ClassVar[bool] = True
    verb: ClassVar[str] = "insert_record"


@dataclass(frozen=True, slots=True)
class Update(KeyMessage):
    payload: bytes
    index: IndexPairs = ()

    is_write: ClassVar[bool] = True
    verb: ClassVar[str] = "update_record"


@dataclass(frozen=True, slots=True)
class Count(Message):
    verb: ClassVar[str] = "count"


@dataclass(frozen=True, slots=True)
class Scan(Message):
    """Every record of a schema, as ``(key, payload)`` pairs."""

    verb: ClassVar[str] = "filter_record"


@dataclass(frozen=True, slots=True)
class Lookup(Message):
    """Records whose indexed fields hold every ``(field, token)`` pair.

    A connector may answer with more records than match (a scan, for one
    without indexes); the store checks every record it returns.
    """

    pairs: IndexPairs

    verb: ClassVar[str] = "filter_record"


@dataclass(frozen=True, slots=True)
class InsertMany(Message):
    """New records, all or none: ``(key, payload, index)`` triples."""

    items: tuple[tuple[str, bytes, IndexPairs], ...]

    is_write: ClassVar[bool] = True
    verb: ClassVar[str] = "insert_many"

    def describe(self) -> str:
        return f"{self.verb} of {len(self.items)} records in schema {self.schema!r}"


@dataclass(frozen=True, slots=True)
class GetMany(Message):
    """The stored payloads of ``keys``; missing keys are left out."""

    keys: tuple[str, ...]

    verb: ClassVar[str] = "get_many"

    def describe(self) -> str:
        return f"{self.verb} of {len(self.keys)} keys in schema {self.schema!r}"


@dataclass(frozen=True, slots=True)
class DeleteMany(Message):
    """Remove those of ``keys`` that exist; the outcome is how many did."""

    keys: tuple[str, ...]

    is_write: ClassVar[bool] = True
    verb: ClassVar[str] = "delete_many"

    def describe(self) -> str:
        return f"{self.verb} of {len(self.keys)} keys in schema {self.schema!r}"
