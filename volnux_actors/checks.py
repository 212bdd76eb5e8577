"""Checks of store and connector settings, made when a store is built.

Each check returns the value to use or raises :class:`ConfigurationError`
naming the owner (a store or connector class), the setting and the value.
A timeout of ``float("inf")`` means no timeout and becomes None.
"""

from __future__ import annotations

import math
from typing import Any

from volnux_actors.errors import ConfigurationError
from volnux_actors.keys import NAME_RULE, NAME_RULE_TEXT


def _refuse(owner: str, name: str, wanted: str, value: Any) -> ConfigurationError:
    return ConfigurationError(f"{owner}: {name} must be {wanted}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def port(value: Any, owner: str) -> int:
    """A TCP port, 1 to 65535."""
    if not _is_int(value) or not 1 <= value <= 65535:
        raise _refuse(owner, "port", "an integer from 1 to 65535", value)
    return int(value)


def count(value: Any, name: str, owner: str, minimum: int) -> int:
    """An integer of at least ``minimum``."""
    if not _is_int(value) or value < minimum:
        raise _refuse(owner, name, f"an integer of at least {minimum}", value)
    return int(value)


def timeout(value: Any, name: str, owner: str) -> float | None:
    """Seconds, more than 0; None (or infinity) for no timeout."""
    if value is None:
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or math.isnan(value) or value <= 0:
        raise _refuse(owner, name, "more than 0 seconds, or None", value)
    return None if math.isinf(value) else float(value)


def seconds(value: Any, name: str, owner: str) -> float:
    """Seconds, 0 or more, finite."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 <= value < math.inf:
        raise _refuse(owner, name, "0 seconds or more", value)
    return float(value)


def text(value: Any, name: str, owner: str, *, optional: bool = False) -> str | None:
    """A non-empty str (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        wanted = "a non-empty string" + (" or None" if optional else "")
        raise _refuse(owner, name, wanted, value)
    return value


def name(value: Any, setting: str, owner: str) -> str:
    """A name that goes into backend keys: the schema names' rule.

    Letters, digits, ``_``, ``.`` and ``-``, at most 100, no separator: a
    ``:`` in a Redis namespace would let one store's keys fall inside
    another's.
    """
    if not isinstance(value, str) or not NAME_RULE.fullmatch(value):
        raise _refuse(owner, setting, NAME_RULE_TEXT, value)
    return value
