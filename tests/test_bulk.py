"""The bulk calls insert_many, get_many and delete_many, over every backend."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

import volnux_actors as va
from tests.records_for_tests import Anything, Loose, User
from volnux_actors.connectors.base import BackendConnectorBase
from volnux_actors.messages import IndexPairs

T = 10.0


def users(*names: str) -> dict[str, User]:
    return {name: User(name, name.upper(), len(name)) for name in names}


def test_insert_many_then_get_many_returns_every_record_in_the_order_asked(
    store: Any,
) -> None:
    batch = users("u3", "u1", "u2")
    future = store.insert_many("users", batch)
    assert isinstance(future, va.Future)
    assert future.get(timeout=T) is None
    found = store.get_many("users", User, ["u2", "u3", "u1"]).get(timeout=T)
    assert list(found) == ["u2", "u3", "u1"]
    assert found == {key: batch[key] for key in ("u2", "u3", "u1")}
    assert all(type(record) is User for record in found.values())
    assert store.count("users").get(timeout=T) == 3


def test_insert_many_with_a_taken_key_names_every_taken_key_and_writes_nothing(
    store: Any,
) -> None:
    store.insert_many("users", users("a", "c")).get(timeout=T)
    with pytest.raises(va.ObjectExistError) as info:
        store.insert_many("users", users("a", "b", "c", "d")).get(timeout=T)
    assert info.value.keys == ("a", "c")
    assert "'a'" in str(info.value) and "'c'" in str(info.value)
    assert "wrote nothing" in str(info.value)
    assert info.value.schema == "users"
    assert store.count("users").get(timeout=T) == 2
    assert store.get_many("users", User, ["b", "d"]).get(timeout=T) == {}


def test_insert_many_with_a_key_given_twice_is_rejected_before_io(
    store: Any,
) -> None:
    pairs = [("k", User("k", "x")), (7, Loose("y")), ("7", Loose("z"))]
    with pytest.raises(va.ValidationError, match="given twice") as info:
        store.insert_many("users", pairs).get(timeout=T)
    assert info.value.key == "7"
    assert store.count("users").get(timeout=T) == 0


def test_insert_many_with_a_value_the_codec_cannot_hold_writes_nothing(
    store: Any,
) -> None:
    batch = {"good": Anything("good", 1), "bad": Anything("bad", {1, 2})}
    with pytest.raises(va.SerializationError) as info:
        store.insert_many("types", batch).get(timeout=T)
    assert info.value.key == "bad"
    assert store.count("types").get(timeout=T) == 0


def test_bulk_calls_on_nothing_complete_at_once(store: Any) -> None:
    assert store.insert_many("users", {}).get(timeout=T) is None
    assert store.get_many("users", User, []).get(timeout=T) == {}
    assert store.delete_many("users", []).get(timeout=T) == 0


def test_int_keys_name_the_same_records_as_their_decimal_strings(
    store: Any,
) -> None:
    store.insert_many("nums", [(1, Loose("one")), (2, Loose("two"))]).get(timeout=T)
    found = store.get_many("nums", Loose, [2, "1", 1]).get(timeout=T)
    assert [(key, record.name) for key, record in found.items()] == [
        ("2", "two"),
        ("1", "one"),
    ]


def test_get_many_leaves_missing_keys_out(store: Any) -> None:
    store.insert_many("users", users("a", "b")).get(timeout=T)
    found = store.get_many("users", User, ["x", "b", "y"]).get(timeout=T)
    assert list(found) == ["b"]
    assert store.get_many("ghosts", User, ["a"]).get(timeout=T) == {}


def test_delete_many_removes_the_stored_ones_and_counts_them(store: Any) -> None:
    store.insert_many("users", users("a", "b", "c")).get(timeout=T)
    assert store.delete_many("users", ["a", "zz", "c", "a"]).get(timeout=T) == 2
    assert store.count("users").get(timeout=T) == 1
    assert store.exists("users", "a").get(timeout=T) is False
    assert store.exists("users", "b").get(timeout=T) is True
    assert store.delete_many("users", ["a", "c"]).get(timeout=T) == 0


def test_invalid_key_in_a_bulk_call_is_rejected_before_io(store: Any) -> None:
    with pytest.raises(va.InvalidKeyError):
        store.insert_many("users", {"": User("x", "y")}).get(timeout=T)
    with pytest.raises(va.InvalidKeyError):
        store.get_many("users", User, ["ok", None]).get(timeout=T)
    with pytest.raises(va.InvalidSchemaError):
        store.delete_many("bad/schema", ["k"]).get(timeout=T)


def test_overlapping_insert_many_calls_never_mix(store: Any) -> None:
    # Each batch is all-or-nothing: the schema ends up holding exactly the
    # batches that succeeded, and no two of them share a key.
    batches = [users(f"k{n}", f"k{n + 1}", f"k{n + 2}") for n in range(0, 20, 2)]
    barrier = threading.Barrier(len(batches))
    won: list[int] = []
    lock = threading.Lock()

    def insert(number: int) -> None:
        barrier.wait(timeout=T)
        try:
            store.insert_many("race", batches[number]).get(timeout=T)
        except va.ObjectExistError:
            return
        with lock:
            won.append(number)

    threads = [threading.Thread(target=insert, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(T)
    expected = {key for number in won for key in batches[number]}
    assert sum(len(batches[number]) for number in won) == len(expected)
    stored = {record.id for record in store.filter_record("race", User).get(timeout=T)}
    assert stored == expected


class OneByOneConnector(va.MemoryConnector):
    """A connector that keeps only the base class's bulk calls."""

    def insert_many(
        self, schema: str, items: Sequence[tuple[str, bytes, IndexPairs]]
    ) -> None:
        BackendConnectorBase.insert_many(self, schema, items)

    def get_many(self, schema: str, keys: Sequence[str]) -> list[tuple[str, bytes]]:
        return BackendConnectorBase.get_many(self, schema, keys)

    def delete_many(self, schema: str, keys: Sequence[str]) -> int:
        return BackendConnectorBase.delete_many(self, schema, keys)


class OneByOneStore(va.InMemoryKeyValueStoreBackend):
    connector_klass = OneByOneConnector


def test_default_bulk_calls_built_from_single_ones_keep_the_same_contract() -> None:
    with OneByOneStore() as store:
        store.insert_many("users", users("a", "b")).get(timeout=T)
        with pytest.raises(va.ObjectExistError) as info:
            store.insert_many("users", users("b", "c")).get(timeout=T)
        assert info.value.keys == ("b",)
        assert store.count("users").get(timeout=T) == 2
        found = store.get_many("users", User, ["c", "b", "a"]).get(timeout=T)
        assert list(found) == ["b", "a"]
        assert store.delete_many("users", ["a", "c"]).get(timeout=T) == 1
        assert store.count("users").get(timeout=T) == 1
