"""Records: classes whose instances a store saves, loads and queries.

Mix :class:`BackendIntegrationMixin` into a dataclass, a pydantic model or a
plain class. The record's key is its ``id``; its schema is the class's
``__schema_name__`` (the class name by default). Bind a store to the class
with ``Run.bind_store(store)`` to use ``save()``, ``reload()``, ``update()``
and ``delete()`` on instances; each returns a future, like every store call.

A dataclass or pydantic model may declare ``id`` as one of its own fields;
a class that does not gets ``id`` from the mixin (None until saved, when a
random hex key is assigned).
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from volnux_actors import codec
from volnux_actors.errors import (
    STORE_ERRORS,
    CorruptRecordError,
    InvalidFilterError,
    ObjectExistError,
    SerializationError,
    StoreError,
    ValidationError,
)

if TYPE_CHECKING:
    from supervisors import Future
    from volnux_actors.stores.base import KeyValueStoreBackendBase

R = TypeVar("R")


def _failed(error: StoreError) -> Future[Any]:
    from supervisors import Future

    return Future.failed(error, STORE_ERRORS)


def describe_error(error: BaseException) -> str:
    """``error``'s message; for pydantic, field locations and messages only.

    A pydantic ValidationError's text quotes the input, which may be record
    content; the summary leaves it out.
    """
    errors = getattr(error, "errors", None)
    if type(error).__module__.startswith("pydantic") and callable(errors):
        try:
            details = errors(include_input=False, include_url=False)
        except TypeError:
            return type(error).__name__
        parts = [
            f"{'.'.join(map(str, d.get('loc', ()))) or '<record>'}: {d.get('msg')}"
            for d in details[:5]
        ]
        more = f"; and {len(details) - 5} more" if len(details) > 5 else ""
        return "; ".join(parts) + more
    return str(error)


def _transfer(source: Future[Any], target: Future[Any]) -> None:
    error = source.exception(timeout=0)
    if error is None:
        target.set(source.get(timeout=0))
    else:
        target.set_exception(error)


class BackendIntegrationMixin:
    """Gives a record class an ``id``, a schema name and store methods."""

    __schema_name__: ClassVar[str | None] = None
    __indexed__: ClassVar[tuple[str, ...]] = ()
    __store__: ClassVar[KeyValueStoreBackendBase | None] = None

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup failed: the class has no id field.
        if name == "id":
            return None
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )

    @classmethod
    def get_schema_name(cls) -> str:
        """The schema this class's records are stored under."""
        return cls.__schema_name__ or cls.__name__

    @classmethod
    def bind_store(cls, store: KeyValueStoreBackendBase | None) -> None:
        """Use ``store`` for ``save()``, ``reload()``, ``update()``, ``delete()``."""
        cls.__store__ = store

    @classmethod
    def _bound_store(cls) -> KeyValueStoreBackendBase:
        store = cls.__store__
        if store is None:
            raise StoreError(
                f"no store is bound to {cls.__name__}; call "
                f"{cls.__name__}.bind_store(store) first",
                schema=cls.get_schema_name(),
            )
        return store

    def _ensure_id(self) -> Any:
        key = self.id
        if key is None:
            key = uuid.uuid4().hex
            self._set_id(key)
        return key

    def _set_id(self, key: str) -> None:
        try:
            self.id = key
        except (AttributeError, TypeError, ValueError):
            try:
                object.__setattr__(self, "id", key)
            except (AttributeError, TypeError) as error:
                raise ValidationError(
                    f"{type(self).__name__} cannot take an id ({error}); declare "
                    "an id field",
                    schema=self.get_schema_name(),
                ) from None

    def save(self) -> Future[None]:
        """Insert this record, or update it if its key is already stored.

        Each step is atomic on the backend; between them another writer may
        delete the record, and then the update fails with ObjectDoesNotExist.
        """
        from supervisors import Future

        try:
            store = self._bound_store()
            key = self._ensure_id()
        except StoreError as error:
            return _failed(error)
        schema = self.get_schema_name()
        result: Future[None] = Future(store.errors)

        def after_insert(inserted: Future[None]) -> None:
            error = inserted.exception(timeout=0)
            if isinstance(error, ObjectExistError):
                updated = store.update_record(schema, key, self)
                updated.add_done_callback(lambda f: _transfer(f, result))
            else:
                _transfer(inserted, result)

        store.insert_record(schema, key, self).add_done_callback(after_insert)
        return result

    def update(self, **changes: Any) -> Future[None]:
        """Set ``changes`` on this record and write it over the stored one.

        A change the record refuses (a frozen class, a value its validation
        rejects, a field the class does not declare) fails the future with
        ValidationError and leaves every field as it was. The same holds
        when the store refuses the new values before writing (a value it
        cannot encode, a pydantic field that does not validate). If the
        write itself fails (the record was deleted meanwhile, the backend is
        down) the instance keeps the new values.
        """
        try:
            store = self._bound_store()
            undo = self._apply(changes)
        except StoreError as error:
            return _failed(error)
        try:
            key = self._ensure_id()
        except StoreError as error:
            undo()
            return _failed(error)
        written = store.update_record(self.get_schema_name(), key, self)
        if written.done() and isinstance(written.exception(timeout=0), ValidationError):
            undo()  # refused before any I/O: nothing was written
        return written

    def _apply(self, changes: Mapping[str, Any]) -> Callable[[], None]:
        """Set ``changes``, all or none; ValidationError if one is refused.

        Returns a function that puts the old values back.
        """
        schema = self.get_schema_name()
        unknown, declared = undeclared_fields(type(self), changes)
        if unknown:
            raise ValidationError(
                f"{type(self).__name__} (schema {schema!r}) has no field(s) "
                f"{', '.join(unknown)}; fields are {', '.join(declared)}",
                schema=schema,
            )
        missing = object()
        done: list[tuple[str, Any]] = []

        def undo() -> None:
            for earlier, old in reversed(done):
                if old is missing:
                    with contextlib.suppress(Exception):
                        delattr(self, earlier)
                else:
                    with contextlib.suppress(Exception):
                        object.__setattr__(self, earlier, old)

        for name, value in changes.items():
            try:
                done.append((name, getattr(self, name, missing)))
                setattr(self, name, value)
            except Exception as error:
                done.pop()
                undo()
                raise ValidationError(
                    f"cannot set {name!r} on {type(self).__name__} (schema "
                    f"{schema!r}): {describe_error(error)}",
                    schema=schema,
                ) from None
        return undo

    def reload(self) -> Future[Any]:
        """Replace this record's fields with the stored ones."""
        try:
            store = self._bound_store()
        except StoreError as error:
            return _failed(error)
        return store.reload_record(self.get_schema_name(), self)

    def delete(self) -> Future[None]:
        """Remove this record from the store."""
        try:
            store = self._bound_store()
            key = self._ensure_id()
        except StoreError as error:
            return _failed(error)
        return store.delete_record(self.get_schema_name(), key)

    def to_record_dict(self) -> dict[str, Any]:
        """The fields to store; override for a custom layout."""
        return record_fields(self)

    @classmethod
    def from_record_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """Build an instance from stored fields; override with to_record_dict."""
        return build_record(cls, data)


def _is_pydantic(obj: Any) -> bool:
    kind = type(obj)
    return hasattr(kind, "model_dump") and hasattr(kind, "model_fields")


def record_fields(record: Any) -> dict[str, Any]:
    """The field dict of a dataclass, pydantic model or plain record."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if _is_pydantic(record):
        data: dict[str, Any] = record.model_dump(mode="python")
        return data
    try:
        attrs = vars(record)
    except TypeError:
        raise SerializationError(
            f"{type(record).__name__} has no fields to store; define "
            "to_record_dict() and from_record_dict()"
        ) from None
    return {k: v for k, v in attrs.items() if not k.startswith("_")}


def field_names(klass: type) -> frozenset[str] | None:
    """Declared field names of a record class, or None if it declares none."""
    if dataclasses.is_dataclass(klass):
        return frozenset(f.name for f in dataclasses.fields(klass))
    fields = getattr(klass, "model_fields", None)
    if isinstance(fields, Mapping):
        return frozenset(fields)
    return None


_INIT_FIELDS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _dataclass_fields(klass: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names of a dataclass's init fields and of its other fields."""
    found = _INIT_FIELDS.get(klass)
    if found is None:
        fields = dataclasses.fields(klass)
        found = (
            tuple(f.name for f in fields if f.init),
            tuple(f.name for f in fields if not f.init),
        )
        _INIT_FIELDS[klass] = found
    return found


def build_record(klass: type[R], data: Mapping[str, Any]) -> R:
    """Instantiate ``klass`` from a stored field dict."""
    if dataclasses.is_dataclass(klass):
        names, others = _dataclass_fields(klass)
        init = {name: data[name] for name in names if name in data}
        later = {name: data[name] for name in others if name in data}
        made = klass(**init)
        for name, value in later.items():
            object.__setattr__(made, name, value)
        return made
    validate = getattr(klass, "model_validate", None)
    if validate is not None:
        result: R = validate(dict(data))
        return result
    obj = klass.__new__(klass)
    obj.__dict__.update(data)
    return obj


def encode_record(record: Any, schema: str, key: str) -> bytes:
    """Serialise ``record`` to bytes, or raise SerializationError."""
    return _encode(record, schema, key)[0]


def _encode(record: Any, schema: str, key: str) -> tuple[bytes, dict[str, Any]]:
    """The payload of ``record`` and the field dict it was made from."""
    to_dict = getattr(record, "to_record_dict", None)
    try:
        data = to_dict() if to_dict is not None else record_fields(record)
        if type(data) is not dict:
            raise SerializationError(
                f"to_record_dict() returned {type(data).__name__}, not a dict"
            )
        _check_id(data.get("id"), schema, key)
        if _is_pydantic(record):
            _check_model(record, data, schema, key)
        return codec.dumps(data), data
    except SerializationError as error:
        raise SerializationError(
            f"cannot store record {key!r} in schema {schema!r}: {error}",
            schema=schema,
            key=key,
        ) from None
    except ValidationError:
        raise  # the id and model checks: their messages already say it all
    except Exception as error:
        raise SerializationError(
            f"cannot store record {key!r} in schema {schema!r}: reading its "
            f"fields raised {type(error).__name__}: {describe_error(error)}",
            schema=schema,
            key=key,
        ) from error


def _check_id(own: Any, schema: str, key: str) -> None:
    """A record that carries its own id is stored under that id only."""
    if own is None:
        return
    text = own if type(own) is str else str(own)
    if text != key:
        raise ValidationError(
            f"record of schema {schema!r} has id {text!r} but was given key "
            f"{key!r}; store it under its own id, or leave its id None",
            schema=schema,
            key=key,
        )


def _check_model(record: Any, data: dict[str, Any], schema: str, key: str) -> None:
    """A pydantic record must validate as its class before it is written.

    Without ``validate_assignment`` a model accepts any value set on it;
    stored, such a record could never be read back.
    """
    try:
        type(record).model_validate(data)
    except Exception as error:
        raise ValidationError(
            f"record {key!r} of schema {schema!r} does not validate as "
            f"{type(record).__name__}, so it was not written: "
            f"{describe_error(error)}",
            schema=schema,
            key=key,
        ) from None


def encode_indexed(
    record: Any, schema: str, key: str
) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """Serialise ``record`` and give the index pairs of its indexed fields.

    The pairs are ``(field, index_token(value))`` for each field named in the
    record class's ``__indexed__`` whose value has a token.
    """
    indexed: tuple[str, ...] = getattr(type(record), "__indexed__", ())
    payload, data = _encode(record, schema, key)
    if not indexed:
        return payload, ()
    pairs: list[tuple[str, str]] = []
    for name in indexed:
        if name in data:
            token = index_token(data[name])
            if token is not None:
                pairs.append((name, token))
    return payload, tuple(pairs)


def index_token(value: Any) -> str | None:
    """The text an index files ``value`` under; None if it is not indexed.

    Two values get the same token exactly when a filter counts them equal:
    ``1`` and ``1.0`` share one, ``True`` and ``1`` do not. Only str, int,
    float, bool and None are indexed; a filter on another value scans.
    """
    kind = type(value)
    if kind is str:
        return f"s{value}"
    if kind is bool:
        return "b1" if value else "b0"
    if kind is int:
        return f"n{value}"
    if kind is float:
        number: float = value
        return f"n{int(number)}" if number.is_integer() else f"n{number!r}"
    if value is None:
        return "z"
    return None


def decode_record(klass: type[R], raw: bytes, schema: str, key: str) -> R:
    """Build a ``klass`` instance from bytes written by encode_record."""
    data = codec.loads(raw, schema, key)
    return instantiate(klass, data, schema, key)


def instantiate(klass: type[R], data: Any, schema: str, key: str) -> R:
    """Build ``klass`` from decoded data; CorruptRecordError if it does not fit.

    The error names the schema, the key and, for pydantic, the fields and
    what is wrong with them, never the stored values.
    """
    if not isinstance(data, dict):
        raise CorruptRecordError(
            f"stored record {key!r} in schema {schema!r} is not an object",
            schema=schema,
            key=key,
        )
    build = getattr(klass, "from_record_dict", None)
    try:
        obj: R = build(data) if build is not None else build_record(klass, data)
    except StoreError:
        raise
    except Exception as error:
        corrupt = CorruptRecordError(
            f"stored record {key!r} in schema {schema!r} does not fit "
            f"{klass.__name__}: {describe_error(error)}",
            schema=schema,
            key=key,
        )
        if type(error).__module__.startswith("pydantic"):
            raise corrupt from None
        raise corrupt from error
    if getattr(obj, "id", None) is None:
        with contextlib.suppress(AttributeError, TypeError):
            object.__setattr__(obj, "id", key)
    return obj


def check_filter_fields(klass: type, names: Iterable[str], schema: str) -> None:
    """Raise InvalidFilterError for a filter on a field ``klass`` lacks."""
    unknown, declared = undeclared_fields(klass, names)
    if unknown:
        raise InvalidFilterError(
            f"{klass.__name__} has no field(s) {', '.join(unknown)} to filter "
            f"schema {schema!r} on; fields are {', '.join(declared)}",
            schema=schema,
        )


def undeclared_fields(klass: type, names: Iterable[str]) -> tuple[list[str], list[str]]:
    """The ``names`` that ``klass`` does not declare (``id`` always counts as
    declared), and its declared fields, both sorted; none for a class that
    declares no fields."""
    declared = field_names(klass)
    if declared is None:
        return [], []
    return sorted(set(names) - declared - {"id"}), sorted(declared)
