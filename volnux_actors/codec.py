"""The record codec: JSON with tags for the types JSON lacks. No pickle.

Values that round-trip exactly: ``None``, ``bool``, ``int``, finite
``float``, ``str``, ``list``, ``dict`` with ``str`` keys, and, through tags,
``datetime.datetime`` (naive or aware), ``datetime.date`` and ``bytes``.
Anything else (a ``set``, a ``tuple``, NaN, a dict with non-str keys, an
object of an unknown class) raises :class:`SerializationError` before
anything is written.

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


def to_plain(value: Any, path: str = "") -> Any:
    """Turn ``value`` into JSON-ready data, tagging datetimes and bytes."""
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
            out[name] = to_plain(item, f"{path}.{key}" if path else key)
        return out
    if kind is list:
        return [to_plain(item, f"{path}[{i}]") for i, item in enumerate(value)]
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


def dumps(data: dict[str, Any]) -> bytes:
    """Encode a record's field dict to bytes."""
    return orjson.dumps(to_plain(data))


def loads(raw: bytes | str, schema: str | None = None, key: str | None = None) -> Any:
    """Decode bytes written by :func:`dumps`."""
    try:
        return from_plain(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValueError, TypeError) as error:
        raise CorruptRecordError(
            f"stored record {key!r} in schema {schema!r} is not valid: {error}",
            schema=schema,
            key=key,
        ) from error
