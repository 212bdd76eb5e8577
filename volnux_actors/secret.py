"""A password that never shows: its repr and str are ``***``."""

from __future__ import annotations

import hmac


class Secret:
    """Holds a password; only :meth:`reveal` gives the text back.

    Stores keep their passwords as Secret so that a repr, ``vars()``, a log
    line or an error message built from their settings shows ``***``.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds a str, got {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    @classmethod
    def wrap(cls, value: str | Secret | None) -> Secret | None:
        """A str as a Secret; anything else (None, a Secret) as it is."""
        return cls(value) if isinstance(value, str) else value

    def reveal(self) -> str:
        """The password itself, for the client library that sends it."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Secret cannot be changed")

    def __repr__(self) -> str:
        return "'***'"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        mine = self._value.encode("utf-8", "surrogatepass")
        theirs = other._value.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(mine, theirs)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))
