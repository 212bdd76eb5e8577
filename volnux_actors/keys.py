"""The one rule for record keys and schema names, on every backend.

A record key is a ``str`` or an ``int`` (an int and its decimal string name
the same record). A key is 1 to 512 characters of valid Unicode with no
control characters (``U+0000``-``U+001F``, ``U+007F``-``U+009F``) and no
unpaired surrogates. Everything else, including ``/``, ``%``, ``?``, ``#``,
spaces and non-ASCII letters, is allowed and stored exactly; a backend whose
names cannot hold a character escapes it reversibly.

A schema name is 1 to 100 characters from ``A-Z a-z 0-9 _ . -`` that does
not start with ``.`` or ``-``.
"""

from __future__ import annotations

import re

from volnux_actors.errors import InvalidKeyError, InvalidSchemaError

MAX_KEY_LENGTH = 512
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
NAME_RULE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}")
"""Schema names, and names that go into backend keys (a Redis namespace)."""
NAME_RULE_TEXT = (
    "1 to 100 letters, digits, '_', '.' or '-' (not starting with '.' or '-')"
)
"""What :data:`NAME_RULE` allows, for settings' error messages."""


def normalize_key(key: object, schema: str | None = None) -> str:
    """Return the canonical ``str`` form of ``key`` or raise InvalidKeyError."""
    if type(key) is str:
        text = key
    elif isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    else:
        raise InvalidKeyError(
            f"record key must be str or int, got {type(key).__name__} "
            f"(schema {schema!r})",
            schema=schema,
        )
    if not text or len(text) > MAX_KEY_LENGTH:
        raise InvalidKeyError(
            f"record key must be 1 to {MAX_KEY_LENGTH} characters, got "
            f"{len(text)} (schema {schema!r})",
            schema=schema,
            key=text[:40],
        )
    if _CONTROL.search(text):
        raise InvalidKeyError(
            f"record key {text!r} holds a control character; keys may not "
            f"(schema {schema!r})",
            schema=schema,
            key=text,
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKeyError(
            f"record key {text!r} is not valid Unicode (unpaired surrogate) "
            f"(schema {schema!r})",
            schema=schema,
            key=text,
        ) from None
    return text


def check_schema(schema: object) -> str:
    """Return ``schema`` if it is a valid schema name, else raise."""
    if type(schema) is not str or not NAME_RULE.fullmatch(schema):
        raise InvalidSchemaError(
            f"schema name {schema!r} is invalid: use 1 to 100 characters from "
            "A-Z a-z 0-9 _ . - , not starting with . or -",
            schema=schema if isinstance(schema, str) else None,
        )
    return schema
