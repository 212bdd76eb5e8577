"""The store facade: validates a call, builds a message, returns a future."""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from supervisors import (
    ConnectionMode,
    ConnectorManagerBase,
    ConnectorManagerFactory,
    Future,
    PoolStats,
)
from volnux_actors import checks, codec
from volnux_actors import messages as m
from volnux_actors.connectors.base import BackendConnectorBase
from volnux_actors.errors import (
    STORE_ERRORS,
    ConfigurationError,
    InvalidFilterError,
    SerializationError,
    StoreError,
    ValidationError,
)
from volnux_actors.keys import check_schema, normalize_key
from volnux_actors.records import (
    check_filter_fields,
    encode_indexed,
    index_token,
    instantiate,
    record_fields,
)

R = TypeVar("R", bound=Any)


class KeyValueStoreBackendBase:
    """Saves, loads and queries records grouped by schema.

    Every method returns a :class:`~supervisors.Future` at once; call
    ``.get(timeout=...)`` on it in a thread or ``await`` it in asyncio.
    Invalid input fails the future with a :class:`ValidationError` before
    anything is sent. Each method takes ``timeout=``, the call's deadline in
    seconds (default: the store's ``timeout``); a call that has not run when
    it passes is dropped unsent.

    A store checks its settings when it is built, raising
    :class:`ConfigurationError` for a wrong one (it builds one connector to
    do so, which connects nothing); it connects on the first call. A store
    is a context manager; :meth:`close` drains in-flight calls and stops
    every connection.
    """

    connector_klass: ClassVar[type[BackendConnectorBase]]
    errors = STORE_ERRORS

    def __init__(
        self,
        *,
        connection_mode: ConnectionMode | str | None = None,
        max_connections: int = 10,
        connection_timeout: float | None = 5.0,
        idle_timeout: float | None = 300.0,
        timeout: float | None = None,
        name: str | None = None,
        **manager_options: Any,
    ) -> None:
        owner = type(self).__name__
        self.timeout = checks.timeout(timeout, "timeout", owner)
        unknown = sorted(set(manager_options) - _MANAGER_OPTIONS)
        if unknown:
            raise ConfigurationError(
                f"{owner}: unknown setting(s) {', '.join(unknown)}"
            )
        config = self.connector_config()
        self.connector_klass(**config)
        try:
            self._manager = ConnectorManagerFactory.create_manager(
                self.connector_klass,
                config,
                _mode(connection_mode, owner),
                max_connections=checks.count(
                    max_connections, "max_connections", owner, 1
                ),
                connection_timeout=checks.timeout(
                    connection_timeout, "connection_timeout", owner
                ),
                idle_timeout=checks.timeout(idle_timeout, "idle_timeout", owner),
                name=checks.text(name, "name", owner, optional=True),
                errors=STORE_ERRORS,
                **manager_options,
            )
        except ValueError as error:
            raise ConfigurationError(f"{owner}: {error}") from error

    def connector_config(self) -> dict[str, Any]:
        """Keyword arguments for ``connector_klass``; one connector each."""
        return {}

    @property
    def manager(self) -> ConnectorManagerBase:
        return self._manager

    @property
    def name(self) -> str:
        return self._manager.name

    # -- plumbing -----------------------------------------------------------

    def _send(
        self,
        message: m.Message,
        timeout: float | None,
        transform: Any = None,
        *,
        direct: bool = True,
    ) -> Future[Any]:
        try:
            deadline = _deadline(self.timeout if timeout is None else timeout)
        except ValueError as error:
            return self._failed(
                ValidationError(
                    f"{message.describe()}: {error}",
                    schema=message.schema,
                    key=getattr(message, "key", None),
                )
            )
        return self._manager.submit(
            message, timeout=deadline, transform=transform, direct=direct
        )

    def _failed(self, error: StoreError) -> Future[Any]:
        return Future.failed(error, STORE_ERRORS)

    # -- the eight calls ----------------------------------------------------

    def exists(
        self, schema_name: str, record_key: str | int, *, timeout: float | None = None
    ) -> Future[bool]:
        """Whether ``schema_name`` holds a record under ``record_key``."""
        try:
            schema = check_schema(schema_name)
            key = normalize_key(record_key, schema)
        except StoreError as error:
            return self._failed(error)
        return self._send(m.Exists(schema, key), timeout)

    def count(self, schema_name: str, *, timeout: float | None = None) -> Future[int]:
        """How many records ``schema_name`` holds (0 for an unknown schema)."""
        try:
            schema = check_schema(schema_name)
        except StoreError as error:
            return self._failed(error)
        return self._send(m.Count(schema), timeout)

    def insert_record(
        self,
        schema_name: str,
        record_key: str | int,
        record: Any,
        *,
        timeout: float | None = None,
    ) -> Future[None]:
        """Store a new record; ObjectExistError if the key is taken."""
        try:
            schema = check_schema(schema_name)
            key = normalize_key(record_key, schema)
            payload, index = encode_indexed(record, schema, key)
        except StoreError as error:
            return self._failed(error)
        return self._send(m.Insert(schema, key, payload, index), timeout)

    def update_record(
        self,
        schema_name: str,
        record_key: str | int,
        record: Any,
        *,
        timeout: float | None = None,
    ) -> Future[None]:
        """Replace a stored record; ObjectDoesNotExist if the key is absent."""
        try:
            schema = check_schema(schema_name)
            key = normalize_key(record_key, schema)
            payload, index = encode_indexed(record, schema, key)
        except StoreError as error:
            return self._failed(error)
        return self._send(m.Update(schema, key, payload, index), timeout)

    def delete_record(
        self, schema_name: str, record_key: str | int, *, timeout: float | None = None
    ) -> Future[None]:
        """Remove a record; ObjectDoesNotExist if the key is absent."""
        try:
            schema = check_schema(schema_name)
            key = normalize_key(record_key, schema)
        except StoreError as error:
            return self._failed(error)
        return self._send(m.Delete(schema, key), timeout)

    def get_record(
        self,
        schema_name: str,
        klass: type[R],
        record_key: str | int,
        *,
        timeout: float | None = None,
    ) -> Future[R]:
        """The stored record as an instance of ``klass``."""
        try:
            schema = check_schema(schema_name)
            key = normalize_key(record_key, schema)
            _check_class(klass, schema)
        except StoreError as error:
            return self._failed(error)

        return self._send(m.Get(schema, key), timeout, _Build(klass, schema, key))

    def reload_record(
        self, schema_name: str, record: R, *, timeout: float | None = None
    ) -> Future[R]:
        """Overwrite ``record``'s fields with the stored ones; returns it."""
        key = getattr(record, "id", None)
        if key is None:
            return self._failed(
                ValidationError(
                    f"cannot reload a {type(record).__name__} without an id "
                    f"(schema {schema_name!r})",
                    schema=schema_name,
                )
            )
        loaded = self.get_record(schema_name, type(record), key, timeout=timeout)
        return loaded.map(lambda fresh: _copy_into(record, fresh))

    def filter_record(
        self,
        schema_name: str,
        record_klass: type[R],
        *,
        timeout: float | None = None,
        where: Mapping[str, Any] | None = None,
        **filter_kwargs: Any,
    ) -> Future[list[R]]:
        """Records whose fields equal every given value, sorted by key.

        Pass conditions as keyword arguments, or in ``where`` for a field
        whose name clashes with a parameter (such as ``timeout``); a field
        named in both is refused with InvalidFilterError. With no condition
        every record of the schema is returned.

        When every condition is on a field that ``record_klass`` lists in
        ``__indexed__`` (and each value is a str, int, float, bool or None)
        the backend's index finds the candidates; otherwise every record of
        the schema is read. Either way each record is checked against every
        condition, so both give the same answer. The index is kept by
        writes made with a class that declares it.
        """
        try:
            schema = check_schema(schema_name)
            _check_class(record_klass, schema)
            conditions = _conditions(where, filter_kwargs, schema)
            check_filter_fields(record_klass, conditions, schema)
            if "id" in conditions:
                conditions["id"] = normalize_key(conditions["id"], schema)
            _check_values(conditions, schema)
        except StoreError as error:
            return self._failed(error)
        items = tuple(conditions.items())
        pairs = _lookup_pairs(record_klass, items)
        message = m.Scan(schema) if pairs is None else m.Lookup(schema, pairs)

        def select(pairs: list[tuple[str, bytes]]) -> list[R]:
            found: list[R] = []
            for key, raw in sorted(pairs):
                data = codec.loads(raw, schema, key)
                if _matches(data, key, items):
                    found.append(instantiate(record_klass, data, schema, key))
            return found

        return self._fetch_all(message, timeout).map(select)

    def _fetch_all(
        self, message: m.Message, timeout: float | None
    ) -> Future[list[tuple[str, bytes]]]:
        """Run a Scan or Lookup; a store may spread the reads over its pool."""
        return self._send(message, timeout)

    # -- bulk calls ---------------------------------------------------------

    def insert_many(
        self,
        schema_name: str,
        records: Mapping[str | int, Any] | Iterable[tuple[str | int, Any]],
        *,
        timeout: float | None = None,
    ) -> Future[None]:
        """Store new records, all or none, in one call.

        ``records`` maps keys to records (or is an iterable of pairs). If any
        key is already stored the future fails with ObjectExistError, whose
        ``keys`` lists every taken key, and nothing is written. A key given
        twice fails with ValidationError before anything is sent. Redis and
        memory apply the whole batch atomically; a backend without bulk
        support inserts one by one and removes its own records on failure.
        """
        items: list[tuple[str, bytes, m.IndexPairs]] = []
        try:
            schema = check_schema(schema_name)
            seen: set[str] = set()
            for record_key, record in _record_pairs(records, schema):
                key = normalize_key(record_key, schema)
                if key in seen:
                    raise ValidationError(
                        f"key {key!r} is given twice to insert_many on schema "
                        f"{schema!r}",
                        schema=schema,
                        key=key,
                    )
                seen.add(key)
                items.append((key, *encode_indexed(record, schema, key)))
        except StoreError as error:
            return self._failed(error)
        if not items:
            return Future.completed(None, STORE_ERRORS)
        return self._send(m.InsertMany(schema, tuple(items)), timeout)

    def get_many(
        self,
        schema_name: str,
        klass: type[R],
        record_keys: Iterable[str | int],
        *,
        timeout: float | None = None,
    ) -> Future[dict[str, R]]:
        """The stored records of ``record_keys``, by key, in one call.

        The dict's keys are the canonical (str) keys, in the order asked;
        a key with no record is left out rather than raising.
        """
        try:
            schema = check_schema(schema_name)
            _check_class(klass, schema)
            keys = _unique_keys(record_keys, schema)
        except StoreError as error:
            return self._failed(error)
        if not keys:
            return Future.completed({}, STORE_ERRORS)

        def build(found: list[tuple[str, bytes]]) -> dict[str, R]:
            return {
                key: instantiate(klass, codec.loads(raw, schema, key), schema, key)
                for key, raw in found
            }

        return self._send(m.GetMany(schema, keys), timeout, build)

    def delete_many(
        self,
        schema_name: str,
        record_keys: Iterable[str | int],
        *,
        timeout: float | None = None,
    ) -> Future[int]:
        """Remove the stored records of ``record_keys``; how many were removed.

        A key with no record is skipped, not an error, so the call can be
        repeated safely. Redis and memory remove the batch atomically.
        """
        try:
            schema = check_schema(schema_name)
            keys = _unique_keys(record_keys, schema)
        except StoreError as error:
            return self._failed(error)
        if not keys:
            return Future.completed(0, STORE_ERRORS)
        return self._send(m.DeleteMany(schema, keys), timeout)

    # -- lifecycle ----------------------------------------------------------

    def stats(self) -> PoolStats:
        """Figures of this store's connections right now."""
        return self._manager.stats()

    def close(self, timeout: float = 5.0) -> None:
        """Finish in-flight calls (up to ``timeout`` s), then stop everything."""
        self._manager.close(timeout)

    def __enter__(self) -> KeyValueStoreBackendBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._manager.name}>"


_MANAGER_OPTIONS = frozenset(
    name
    for name, parameter in inspect.signature(
        ConnectorManagerBase.__init__
    ).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "errors"
)


def _mode(mode: Any, owner: str) -> ConnectionMode | None:
    if mode is None or isinstance(mode, ConnectionMode):
        return mode
    choices = [m.value for m in ConnectionMode]
    if mode not in choices:
        raise ConfigurationError(
            f"{owner}: connection_mode must be one of {', '.join(choices)} or "
            f"None, got {mode!r}"
        )
    return ConnectionMode(mode)


class _Build:
    """Turns a stored payload into a record of ``klass`` (on the actor).

    A small object rather than a closure: one call, one object for the
    garbage collector instead of a function and its cells.
    """

    __slots__ = ("key", "klass", "schema")

    def __init__(self, klass: type[Any], schema: str, key: str) -> None:
        self.klass = klass
        self.schema = schema
        self.key = key

    def __call__(self, raw: bytes) -> Any:
        schema, key = self.schema, self.key
        return instantiate(self.klass, codec.loads(raw, schema, key), schema, key)


def _deadline(timeout: Any) -> float | None:
    """The deadline to hand on: None for no deadline (None or infinity)."""
    if timeout is None:
        return None
    if type(timeout) not in (int, float):
        raise ValueError(
            f"timeout must be a number of seconds or None, got {type(timeout).__name__}"
        )
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be 0 seconds or more, got {timeout!r}")
    return None if math.isinf(timeout) else float(timeout)


def _check_class(klass: Any, schema: str) -> None:
    if not isinstance(klass, type):
        raise ValidationError(
            f"the record class must be a class, got {type(klass).__name__} "
            f"(schema {schema!r})",
            schema=schema,
        )


def _conditions(where: Any, keywords: dict[str, Any], schema: str) -> dict[str, Any]:
    """The filter's conditions; InvalidFilterError for a field given twice."""
    if where is None:
        return dict(keywords)
    if not isinstance(where, Mapping):
        raise InvalidFilterError(
            f"where must be a mapping of field names to values, got "
            f"{type(where).__name__} (schema {schema!r})",
            schema=schema,
        )
    names = [name for name in where if type(name) is not str]
    if names:
        raise InvalidFilterError(
            f"field names in where must be str, got {names[0]!r} (schema {schema!r})",
            schema=schema,
        )
    both = sorted(set(where) & set(keywords))
    if both:
        raise InvalidFilterError(
            f"field(s) {', '.join(both)} given both as a keyword and in where; "
            f"give each once (schema {schema!r})",
            schema=schema,
        )
    return {**where, **keywords}


def _check_values(conditions: dict[str, Any], schema: str) -> None:
    """Raise SerializationError, naming the schema, for an unstorable value."""
    try:
        codec.dumps(conditions)
    except SerializationError as error:
        raise SerializationError(
            f"cannot filter schema {schema!r}: {error}", schema=schema
        ) from None


def _record_pairs(records: Any, schema: str) -> list[tuple[Any, Any]]:
    pairs = records.items() if isinstance(records, Mapping) else records
    try:
        return [(key, record) for key, record in pairs]
    except (TypeError, ValueError) as error:
        raise ValidationError(
            "insert_many takes a mapping of keys to records or an iterable of "
            f"(key, record) pairs ({error}; schema {schema!r})",
            schema=schema,
        ) from None


def _unique_keys(record_keys: Iterable[str | int], schema: str) -> tuple[str, ...]:
    if isinstance(record_keys, str | bytes):
        raise ValidationError(
            f"record_keys must be an iterable of keys, not one "
            f"{type(record_keys).__name__} (schema {schema!r})",
            schema=schema,
        )
    try:
        listed = list(record_keys)
    except TypeError:
        raise ValidationError(
            f"record_keys must be an iterable of keys, got "
            f"{type(record_keys).__name__} (schema {schema!r})",
            schema=schema,
        ) from None
    keys = dict.fromkeys(normalize_key(key, schema) for key in listed)
    return tuple(keys)


def _lookup_pairs(
    klass: type, items: tuple[tuple[str, Any], ...]
) -> m.IndexPairs | None:
    """The index pairs to look ``items`` up by, or None to scan."""
    indexed: tuple[str, ...] = getattr(klass, "__indexed__", ())
    if not items or not indexed:
        return None
    pairs: list[tuple[str, str]] = []
    for field, value in items:
        token = index_token(value) if field in indexed and field != "id" else None
        if token is None:
            return None
        pairs.append((field, token))
    return tuple(pairs)


def _matches(
    data: dict[str, Any], key: str, items: tuple[tuple[str, Any], ...]
) -> bool:
    for field, wanted in items:
        if field == "id":
            # The id is the key (a record's own id is checked against its
            # key on every write), whatever type the id field has.
            if key != wanted:
                return False
            continue
        if field not in data:
            return False
        value = data[field]
        if value != wanted:
            return False
        if type(value) is not type(wanted) and not (
            _numeric(value) and _numeric(wanted)
        ):
            return False
    return True


def _numeric(value: Any) -> bool:
    return type(value) in (int, float)


def _copy_into(target: R, fresh: R) -> R:
    if dataclasses.is_dataclass(target):
        for f in dataclasses.fields(target):
            object.__setattr__(target, f.name, getattr(fresh, f.name))
    elif hasattr(target, "model_fields"):
        for name in type(target).model_fields:
            object.__setattr__(target, name, getattr(fresh, name))
    else:
        target.__dict__.update(record_fields(fresh))
    return target
