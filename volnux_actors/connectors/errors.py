"""Ready-made errors for connectors, with the facts every message needs."""

from __future__ import annotations

from volnux_actors.errors import ObjectDoesNotExist, ObjectExistError


def already_exists(schema: str, key: str) -> ObjectExistError:
    return ObjectExistError(
        f"record {key!r} already exists in schema {schema!r}; use "
        "update_record to change it",
        schema=schema,
        key=key,
    )


def does_not_exist(schema: str, key: str) -> ObjectDoesNotExist:
    return ObjectDoesNotExist(
        f"no record {key!r} in schema {schema!r}",
        schema=schema,
        key=key,
    )


def already_exist_many(schema: str, keys: list[str]) -> ObjectExistError:
    shown = ", ".join(repr(key) for key in keys[:10])
    more = f" and {len(keys) - 10} more" if len(keys) > 10 else ""
    return ObjectExistError(
        f"records {shown}{more} already exist in schema {schema!r}; "
        "insert_many wrote nothing",
        schema=schema,
        key=keys[0],
        keys=tuple(keys),
    )
