"""The store contract, run unchanged over every backend."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

import pytest

import volnux_actors as va
from tests.conftest import library_threads, wait_until
from tests.records_for_tests import Account, Anything, Loose, Run, User

T = 10.0


def test_insert_then_get_returns_an_equal_record_of_the_class_asked_for(
    store: Any,
) -> None:
    user = User("u1", "Ada", 36)
    assert store.insert_record("users", "u1", user).get(timeout=T) is None
    loaded = store.get_record("users", User, "u1").get(timeout=T)
    assert type(loaded) is User
    assert loaded == user


def test_dataclass_with_its_own_id_field_round_trips(store: Any) -> None:
    run = Run(id="r-17", status="running")
    store.insert_record("Run", run.id, run).get(timeout=T)
    assert store.get_record("Run", Run, "r-17").get(timeout=T) == run


def test_pydantic_record_round_trips(store: Any) -> None:
    account = Account(id="a1", owner="Zoë", balance=12.5, labels=["x", "y"])
    store.insert_record("accounts", "a1", account).get(timeout=T)
    loaded = store.get_record("accounts", Account, "a1").get(timeout=T)
    assert isinstance(loaded, Account)
    assert loaded == account


def test_record_without_id_field_gets_its_key_as_id(store: Any) -> None:
    store.insert_record("loose", "k9", Loose("n", 1.5, ["a"])).get(timeout=T)
    loaded = store.get_record("loose", Loose, "k9").get(timeout=T)
    assert (loaded.name, loaded.score, loaded.tags, loaded.id) == (
        "n",
        1.5,
        ["a"],
        "k9",
    )


def test_insert_of_existing_key_raises_object_exist_error(store: Any) -> None:
    store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
    with pytest.raises(va.ObjectExistError) as info:
        store.insert_record("users", "u1", User("u1", "Bob")).get(timeout=T)
    assert "'u1'" in str(info.value) and "'users'" in str(info.value)
    assert (info.value.schema, info.value.key) == ("users", "u1")
    assert store.get_record("users", User, "u1").get(timeout=T).name == "Ada"


@pytest.mark.parametrize("call", ["update", "delete", "get", "reload"])
def test_call_on_missing_key_raises_does_not_exist(store: Any, call: str) -> None:
    store.insert_record("users", "other", User("other", "x")).get(timeout=T)
    future = {
        "update": lambda: store.update_record("users", "nope", User("nope", "x")),
        "delete": lambda: store.delete_record("users", "nope"),
        "get": lambda: store.get_record("users", User, "nope"),
        "reload": lambda: store.reload_record("users", User("nope", "x")),
    }[call]()
    with pytest.raises(va.ObjectDoesNotExist) as info:
        future.get(timeout=T)
    assert info.value.key == "nope" and info.value.schema == "users"
    assert "no record 'nope' in schema 'users'" in str(info.value)
    assert store.exists("users", "nope").get(timeout=T) is False


def test_update_on_missing_schema_raises_does_not_exist(store: Any) -> None:
    with pytest.raises(va.ObjectDoesNotExist):
        store.update_record("ghosts", "g", User("g", "x")).get(timeout=T)
    assert store.count("ghosts").get(timeout=T) == 0


def test_update_replaces_and_delete_removes(store: Any) -> None:
    store.insert_record("users", "u1", User("u1", "Ada", 1)).get(timeout=T)
    store.update_record("users", "u1", User("u1", "Ada", 2)).get(timeout=T)
    assert store.get_record("users", User, "u1").get(timeout=T).age == 2
    assert store.count("users").get(timeout=T) == 1
    store.delete_record("users", "u1").get(timeout=T)
    assert store.exists("users", "u1").get(timeout=T) is False
    assert store.count("users").get(timeout=T) == 0


def test_count_and_filter_of_unknown_schema_are_zero_and_empty(store: Any) -> None:
    assert store.count("never_seen").get(timeout=T) == 0
    assert store.filter_record("never_seen", User).get(timeout=T) == []


def test_filter_returns_records_whose_fields_equal_the_values(store: Any) -> None:
    users = [
        User("u1", "Ada", 30, True),
        User("u2", "Bob", 30, False),
        User("u3", "Cy", 41, True),
        User("u4", "Di", 30, True),
    ]
    for user in users:
        store.insert_record("users", user.id, user).get(timeout=T)
    found = store.filter_record("users", User, age=30, active=True).get(timeout=T)
    assert found == [users[0], users[3]]
    assert store.filter_record("users", User, name="Cy").get(timeout=T) == [users[2]]
    assert store.filter_record("users", User, age=99).get(timeout=T) == []
    assert len(store.filter_record("users", User).get(timeout=T)) == 4


def test_filter_on_true_does_not_match_one(store: Any) -> None:
    store.insert_record("any", "a", Anything("a", 1)).get(timeout=T)
    store.insert_record("any", "b", Anything("b", True)).get(timeout=T)
    found = store.filter_record("any", Anything, value=True).get(timeout=T)
    assert [r.id for r in found] == ["b"]


def test_filter_on_unknown_field_is_rejected_before_io(store: Any) -> None:
    with pytest.raises(va.InvalidFilterError, match="no field"):
        store.filter_record("users", User, colour="red").get(timeout=T)


def test_int_key_and_its_decimal_string_name_the_same_record(store: Any) -> None:
    store.insert_record("nums", 42, Loose("forty-two")).get(timeout=T)
    assert store.exists("nums", "42").get(timeout=T) is True
    assert store.get_record("nums", Loose, "42").get(timeout=T).name == "forty-two"
    with pytest.raises(va.ObjectExistError):
        store.insert_record("nums", "42", Loose("again")).get(timeout=T)
    store.delete_record("nums", 42).get(timeout=T)
    assert store.exists("nums", "42").get(timeout=T) is False


def test_value_types_round_trip_with_the_same_python_types(store: Any) -> None:
    # Case value-types-round-trip.
    value = {
        "name": "Zoë",
        "active": True,
        "score": None,
        "n": 3,
        "ratio": 0.5,
        "tags": ["a", "b"],
        "nested": {"deep": {"x": [1, {"y": False}]}, "$dollar": "kept"},
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=dt.timezone.utc),
        "naive": dt.datetime(2026, 1, 2, 3, 4, 5),
        "day": dt.date(2026, 12, 3),
        "raw": b"\x00\xffbytes",
    }
    store.insert_record("types", "t1", Anything("t1", value)).get(timeout=T)
    loaded = store.get_record("types", Anything, "t1").get(timeout=T).value
    assert loaded == value
    for name in value:
        assert type(loaded[name]) is type(value[name]), name
    assert loaded["active"] is True and loaded["score"] is None


@pytest.mark.parametrize(
    "bad",
    [{1, 2}, (1, 2), object(), float("nan"), {1: "int key"}, frozenset()],
    ids=["set", "tuple", "object", "nan", "int-dict-key", "frozenset"],
)
def test_unsupported_value_fails_with_serialization_error_and_writes_nothing(
    store: Any, bad: Any
) -> None:
    with pytest.raises(va.SerializationError) as info:
        store.insert_record("types", "bad", Anything("bad", bad)).get(timeout=T)
    assert "field value" in str(info.value)
    assert info.value.key == "bad"
    assert store.exists("types", "bad").get(timeout=T) is False
    assert store.count("types").get(timeout=T) == 0


def test_bad_update_leaves_the_stored_record_as_it_was(store: Any) -> None:
    store.insert_record("types", "k", Anything("k", 1)).get(timeout=T)
    with pytest.raises(va.SerializationError):
        store.update_record("types", "k", Anything("k", {1, 2})).get(timeout=T)
    assert store.get_record("types", Anything, "k").get(timeout=T).value == 1


@pytest.mark.parametrize(
    "key", ["", "a\x00b", "line\nbreak", "x" * 513, 1.5, None, True]
)
def test_invalid_key_is_rejected_before_io(store: Any, key: Any) -> None:
    with pytest.raises(va.InvalidKeyError):
        store.insert_record("users", key, User("x", "y")).get(timeout=T)
    assert store.count("users").get(timeout=T) == 0


@pytest.mark.parametrize("schema", ["", "a/b", "../up", ".hidden", "sp ace", "x" * 101])
def test_invalid_schema_is_rejected_before_io(store: Any, schema: str) -> None:
    with pytest.raises(va.InvalidSchemaError, match="schema name"):
        store.count(schema).get(timeout=T)


@pytest.mark.parametrize(
    "key",
    ["year=2015", "a b", "50%", "a+b", "café", "x:y", "q?x", "#frag", "a/b", "%2F"],
)
def test_keys_with_special_characters_round_trip_exactly(store: Any, key: str) -> None:
    # Case hdfs-key-characters, on every backend.
    store.insert_record("keys", key, Loose(key)).get(timeout=T)
    assert store.exists("keys", key).get(timeout=T) is True
    assert store.get_record("keys", Loose, key).get(timeout=T).name == key
    found = store.filter_record("keys", Loose).get(timeout=T)
    assert [(r.id, r.name) for r in found] == [(key, key)]


def test_twenty_threads_inserting_one_key_give_exactly_one_success(store: Any) -> None:
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def insert(n: int) -> None:
        barrier.wait(timeout=T)
        try:
            store.insert_record("race", "k", User("k", f"t{n}")).get(timeout=T)
            result = "ok"
        except va.ObjectExistError:
            result = "exists"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=insert, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(T)
    assert sorted(outcomes) == ["exists"] * 19 + ["ok"]
    assert store.count("race").get(timeout=T) == 1


def test_mixin_save_reload_update_delete(store: Any) -> None:
    User.bind_store(store)
    try:
        user = User("u5", "Eve", 20)
        user.save().get(timeout=T)
        user.age = 21
        user.save().get(timeout=T)
        assert store.get_record("User", User, "u5").get(timeout=T).age == 21
        store.update_record("User", "u5", User("u5", "Eve", 99)).get(timeout=T)
        assert user.reload().get(timeout=T) is user
        assert user.age == 99
        user.update(name="Eva").get(timeout=T)
        assert store.get_record("User", User, "u5").get(timeout=T).name == "Eva"
        user.delete().get(timeout=T)
        assert store.exists("User", "u5").get(timeout=T) is False
        assert User.get_schema_name() == "User"
    finally:
        User.bind_store(None)


def test_mixin_without_bound_store_says_how_to_bind_one() -> None:
    with pytest.raises(va.StoreError, match=r"User.bind_store\(store\)"):
        User("u", "n").save().get(timeout=T)


def test_one_future_many_waiters_all_get_the_same_record(store: Any) -> None:
    # Case future-many-waiters.
    store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
    future = store.get_record("users", User, "u1")
    barrier = threading.Barrier(2)
    seen: list[Any] = []

    def wait() -> None:
        barrier.wait(timeout=T)
        seen.append(future.get(timeout=2))

    threads = [threading.Thread(target=wait) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(T)
    seen.append(future.get(timeout=2))
    assert seen == [User("u1", "Ada")] * 3
    assert seen[0] is seen[1] is seen[2]


def test_short_wait_times_out_without_using_the_result_up(store: Any) -> None:
    # Case future-many-waiters: the early timeout leaves the future usable.
    future: va.Future[int] = va.Future()
    with pytest.raises(TimeoutError):
        future.get(timeout=0.001)
    future.set(7)
    assert future.get() == 7
    assert future.get(timeout=0) == 7


def test_futures_can_be_awaited_in_asyncio(store: Any) -> None:
    store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)

    async def main() -> list[Any]:
        futures = [store.get_record("users", User, "u1") for _ in range(50)]
        return [await f for f in futures]

    assert asyncio.run(main()) == [User("u1", "Ada")] * 50


def test_close_leaves_no_thread_behind(store: Any) -> None:
    for n in range(30):
        store.insert_record("users", f"u{n}", User(f"u{n}", "x")).get(timeout=T)
    store.close()
    assert wait_until(lambda: not library_threads(), 5), library_threads()
    with pytest.raises(va.StoreClosedError, match="closed"):
        store.count("users").get(timeout=T)


def test_store_is_a_context_manager(backend: str, store_factory: Any) -> None:
    with store_factory(backend) as store:
        store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        assert store.count("users").get(timeout=T) == 1
    assert store.manager.closed
