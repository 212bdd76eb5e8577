"""File names for record keys on HDFS, reversible and safe in any URL.

A key becomes ``<name>.json`` where every character outside ``A-Z a-z 0-9
_ . -`` (and a leading ``.``) is written as ``~HH`` for each byte of its
UTF-8 form: ``year=2015`` is ``year~3D2015.json``, ``café`` is
``caf~C3~A9.json``. The name never holds ``/``, ``%``, ``#``, ``?``, ``:``
or a space, so neither HDFS path rules nor URL quoting can alter it, and it
can never point outside its schema's directory. A key whose name would
pass 200 bytes is stored as ``~~<sha256 of the key>.json`` with the key
inside the file. Names starting with ``.`` are temporary files.
"""

from __future__ import annotations

import hashlib
import re

SUFFIX = ".json"
HASHED = "~~"
MAX_NAME = 200
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_ESCAPE = re.compile(r"(?:~[0-9A-F]{2})+")


def key_to_name(key: str) -> str:
    """The file name (with ``.json``) that holds ``key``."""
    parts: list[str] = []
    for position, char in enumerate(key):
        if char in _SAFE and not (position == 0 and char == "."):
            parts.append(char)
        else:
            parts.extend(f"~{byte:02X}" for byte in char.encode("utf-8"))
    name = "".join(parts)
    if len(name) > MAX_NAME:
        name = HASHED + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return name + SUFFIX


def is_hashed(name: str) -> bool:
    return name.startswith(HASHED)


def name_to_key(name: str) -> str | None:
    """The key a record file name stands for; None for other files.

    Hashed names return None too: their key is read from the file.
    """
    if not name.endswith(SUFFIX) or name.startswith(".") or is_hashed(name):
        return None
    stem = name[: -len(SUFFIX)]

    def unescape(match: re.Match[str]) -> str:
        run = match.group(0)
        raw = bytes(int(run[i + 1 : i + 3], 16) for i in range(0, len(run), 3))
        return raw.decode("utf-8")

    try:
        return _ESCAPE.sub(unescape, stem)
    except UnicodeDecodeError:
        return None


def is_record_file(name: str) -> bool:
    return name.endswith(SUFFIX) and not name.startswith(".")
