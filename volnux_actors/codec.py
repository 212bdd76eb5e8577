"""The record codec: JSON with tags for the types JSON lacks. No pickle.

Values that round-trip exactly: ``None``, ``bool``, ``int`` from
``-2**63`` to ``2**64 - 1``, finite ``float``, ``str`` of valid Unicode,
``list``, ``dict`` with ``str`` keys, and, through tags,
``datetime.datetime`` (naive or aware), ``datetime.date`` and ``bytes``.
Lists and dicts may nest up to :data:`MAX_DEPTH` levels, the record's own
dict included. Anything else (a ``set``, a ``tuple``, NaN, a bigger int, a
str with an unpaired surrogate, a dict with non-str keys, a list that holds
itself, an object of an unknown class) raises :class:`SerializationError`
before anything is written.

A tag is a one-key object such as ``{"$dt": "2026-01-02T03:04:05+00:00"}``.
A user dict key starting with ``$`` is stored with one more ``$`` in front,
so user data can never be mistaken for a tag.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from typing import Any

import orjson

from volnux_actors.errors import CorruptRecordError, SerializationError

_SCALARS = (str, int, bool, type(None))
_NESTED = (dict, list)
_TAGGED = (dt.datetime, dt.date, bytes)
MAX_DEPTH = 254
MIN_INT = -(2**63)
MAX_INT = 2**64 - 1


def to_plain(value: Any, path: str = "") -> Any:
    """Turn ``value`` into JSON-ready data, tagging datetimes and bytes."""
    try:
        return _plain(value, path)
    except RecursionError:
        problem = _locate(value, path, 1, set())
        raise SerializationError(
            problem or f"field {path or '<root>'}: nests too deep"
        ) from None


def _plain(value: Any, path: str) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        raise SerializationError(f"field {path or '<root>'}: {value} is not storable")
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise SerializationError(
                    f"field {path or '<root>'}: dict key {key!r} is not a str"
                )
            name = "$" + key if key.startswith("$") else key
            out[name] = _plain(item, f"{path}.{key}" if path else key)
        return out
    if kind is list:
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind is dt.datetime:
        return {"$dt": value.isoformat()}
    if kind is dt.date:
        return {"$date": value.isoformat()}
    if kind is bytes:
        return {"$b64": base64.b64encode(value).decode("ascii")}
    raise SerializationError(
        f"field {path or '<root>'}: values of type {kind.__name__} are not "
        "storable; use str, int, float, bool, None, list, dict, datetime, "
        "date or bytes"
    )


def from_plain(value: Any) -> Any:
    """Undo :func:`to_plain` on decoded JSON data."""
    kind = type(value)
    if kind is dict:
        if len(value) == 1:
            ((tag, text),) = value.items()
            if tag == "$dt":
                return dt.datetime.fromisoformat(text)
            if tag == "$date":
                return dt.date.fromisoformat(text)
            if tag == "$b64":
                return base64.b64decode(text)
        for key, item in value.items():
            if key[:1] == "$" or type(item) in _NESTED:
                break
        else:
            return value
        return {
            (key[1:] if key.startswith("$") else key): from_plain(item)
            for key, item in value.items()
        }
    if kind is list:
        return [from_plain(item) for item in value]
    return value


def _locate(value: Any, path: str, depth: int, active: set[int]) -> str | None:
    """Why orjson refuses ``value``, naming the field; None if it would not."""
    shown = path if len(path) <= 60 else f"{path[:60]}..."
    where = f"field {shown or '<root>'}"
    kind = type(value)
    if kind is str:
        if not _valid_text(value):
            return f"{where}: the str is not valid Unicode (unpaired surrogate)"
        return None
    if kind is int and not MIN_INT <= value <= MAX_INT:
        return (
            f"{where}: the int is outside the 64-bit range that records can "
            "hold (-2**63 to 2**64-1); store it as a str"
        )
    if kind not in _NESTED and kind not in _TAGGED:
        return None
    if depth > MAX_DEPTH:
        return f"{where}: lists and dicts nest more than {MAX_DEPTH} levels deep"
    if kind not in _NESTED:
        return None
    if id(value) in active:
        return f"{where}: the {kind.__name__} holds itself"
    active.add(id(value))
    try:
        if kind is list:
            items = ((f"{path}[{i}]", item) for i, item in enumerate(value))
        else:
            for key in value:
                if type(key) is str and not _valid_text(key):
                    return f"{where}: a dict key is not valid Unicode"
            items = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
        for inner, item in items:
            found = _locate(item, inner, depth + 1, active)
            if found is not None:
                return found
    finally:
        active.discard(id(value))
    return None


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def dumps(data: dict[str, Any]) -> bytes:
    """Encode a record's field dict to bytes."""
    plain = to_plain(data)
    try:
        return orjson.dumps(plain)
    except orjson.JSONEncodeError as error:
        problem = _locate(data, "", 1, set())
        raise SerializationError(problem or f"not storable: {error}") from None


def loads(raw: bytes | str, schema: str | None = None, key: str | None = None) -> Any:
    """Decode bytes written by :func:`dumps`."""
    try:
        return from_plain(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValueError, TypeError, RecursionError) as error:
        raise CorruptRecordError(
            f"stored record {key!r} in schema {schema!r} is not valid: {error}",
            schema=schema,
            key=key,
        ) from error
