"""Bad input fails the returned future with a ValidationError, on every backend."""

from __future__ import annotations

import dataclasses
import math
import traceback
from typing import Any

import pydantic
import pytest

import volnux_actors as va
from tests.records_for_tests import Anything, Loose, User

T = 10.0


def nested(depth: int) -> list[Any]:
    top: list[Any] = []
    inner = top
    for _ in range(depth - 1):
        inner.append([])
        inner = inner[0]
    return top


def error_of(future: va.Future[Any]) -> BaseException:
    error = future.exception(timeout=T)
    assert error is not None
    return error


# -- values the codec cannot hold ------------------------------------------------


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**400])
def test_int_outside_64_bits_fails_with_serialization_error_naming_the_field(
    store: Any, number: int
) -> None:
    error = error_of(store.insert_record("big", "k", Anything("k", [1, number])))
    assert type(error) is va.SerializationError
    assert str(error) == (
        "cannot store record 'k' in schema 'big': field value[1]: the int is "
        "outside the 64-bit range that records can hold (-2**63 to 2**64-1); "
        "store it as a str"
    )
    assert (error.schema, error.key) == ("big", "k")
    assert store.count("big").get(timeout=T) == 0


def test_ints_at_the_ends_of_the_64_bit_range_round_trip(store: Any) -> None:
    value = [2**64 - 1, -(2**63)]
    store.insert_record("big", "k", Anything("k", value)).get(timeout=T)
    assert store.get_record("big", Anything, "k").get(timeout=T).value == value


@pytest.mark.parametrize(
    ("value", "field"),
    [("a\ud800b", "value"), ({"x": ["\udfff"]}, "value.x[0]")],
    ids=["str", "nested-str"],
)
def test_str_with_a_lone_surrogate_fails_with_serialization_error(
    store: Any, value: Any, field: str
) -> None:
    error = error_of(store.insert_record("text", "k", Anything("k", value)))
    assert type(error) is va.SerializationError
    assert str(error) == (
        f"cannot store record 'k' in schema 'text': field {field}: the str is "
        "not valid Unicode (unpaired surrogate)"
    )


def test_dict_key_with_a_lone_surrogate_fails_with_serialization_error() -> None:
    with va.InMemoryKeyValueStoreBackend() as store:
        error = error_of(store.insert_record("t", "k", Anything("k", {"\ud800": 1})))
    assert type(error) is va.SerializationError
    assert str(error).endswith("field value: a dict key is not valid Unicode")


@pytest.mark.parametrize("depth", [300, 5000])
def test_lists_nested_too_deep_fail_with_serialization_error(
    store: Any, depth: int
) -> None:
    error = error_of(store.insert_record("deep", "k", Anything("k", nested(depth))))
    assert type(error) is va.SerializationError
    assert str(error).endswith(": lists and dicts nest more than 254 levels deep")
    assert "field value[0][0]" in str(error)


def test_lists_nested_to_the_limit_round_trip() -> None:
    # The record's own dict is the first of the 254 levels.
    value = nested(253)
    with va.InMemoryKeyValueStoreBackend() as store:
        store.insert_record("deep", "k", Anything("k", value)).get(timeout=T)
        assert store.get_record("deep", Anything, "k").get(timeout=T).value == value


def test_list_that_holds_itself_fails_with_serialization_error(store: Any) -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    error = error_of(store.insert_record("loop", "k", Anything("k", {"a": loop})))
    assert type(error) is va.SerializationError
    assert str(error) == (
        "cannot store record 'k' in schema 'loop': field value.a[1]: the list "
        "holds itself"
    )


def test_to_record_dict_that_raises_fails_with_serialization_error() -> None:
    class Broken(va.BackendIntegrationMixin):
        def to_record_dict(self) -> dict[str, Any]:
            raise KeyError("colour")

    with va.InMemoryKeyValueStoreBackend() as store:
        error = error_of(store.insert_record("b", "k", Broken()))
    assert type(error) is va.SerializationError
    assert str(error) == (
        "cannot store record 'k' in schema 'b': reading its fields raised "
        "KeyError: 'colour'"
    )


# -- arguments of the wrong kind ---------------------------------------------------


@pytest.mark.parametrize("klass", ["notaclass", None, User("u", "x")])
def test_record_class_that_is_not_a_class_fails_with_validation_error(
    store: Any, klass: Any
) -> None:
    store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
    futures = [
        store.get_record("users", klass, "u1"),
        store.get_many("users", klass, ["u1"]),
        store.filter_record("users", klass),
    ]
    for future in futures:
        error = error_of(future)
        assert type(error) is va.ValidationError
        assert str(error) == (
            f"the record class must be a class, got {type(klass).__name__} "
            "(schema 'users')"
        )


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        ("x", "timeout must be a number of seconds or None, got str"),
        (True, "timeout must be a number of seconds or None, got bool"),
        (math.nan, "timeout must be 0 seconds or more, got nan"),
        (-1, "timeout must be 0 seconds or more, got -1"),
        (-0.5, "timeout must be 0 seconds or more, got -0.5"),
    ],
)
def test_bad_timeout_fails_the_future_with_validation_error(
    store: Any, timeout: Any, message: str
) -> None:
    calls = [
        store.count("users", timeout=timeout),
        store.get_record("users", User, "u1", timeout=timeout),
        store.filter_record("users", User, timeout=timeout),
    ]
    for future in calls:
        error = error_of(future)
        assert type(error) is va.ValidationError
        assert str(error).endswith(f": {message}")
    assert str(error_of(calls[1])) == (
        f"get_record of key 'u1' in schema 'users': {message}"
    )
    assert error_of(calls[1]).key == "u1"  # type: ignore[attr-defined]


def test_infinite_timeout_means_no_deadline(store: Any) -> None:
    store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
    inf = float("inf")
    assert store.count("users", timeout=inf).get(timeout=T) == 1
    found = store.filter_record("users", User, timeout=inf).get(timeout=T)
    assert [user.id for user in found] == ["u1"]


@pytest.mark.parametrize("records", [None, 5, ["ab", "cde"], [("k",)]])
def test_insert_many_of_something_not_pairs_fails_with_validation_error(
    records: Any,
) -> None:
    with va.InMemoryKeyValueStoreBackend() as store:
        error = error_of(store.insert_many("users", records))
    assert type(error) is va.ValidationError
    assert str(error).startswith(
        "insert_many takes a mapping of keys to records or an iterable of "
        "(key, record) pairs ("
    )
    assert str(error).endswith("; schema 'users')")


@pytest.mark.parametrize("keys", ["u1", 7, None])
def test_keys_that_are_not_an_iterable_of_keys_fail_with_validation_error(
    keys: Any,
) -> None:
    with va.InMemoryKeyValueStoreBackend() as store:
        for future in (
            store.get_many("users", User, keys),
            store.delete_many("users", keys),
        ):
            error = error_of(future)
            assert type(error) is va.ValidationError
            assert "record_keys must be an iterable of keys" in str(error)


# -- filters ------------------------------------------------------------------------


def test_filter_field_given_as_keyword_and_in_where_is_rejected(store: Any) -> None:
    store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
    future = store.filter_record("users", User, name="Ada", where={"name": "Bob"})
    error = error_of(future)
    assert type(error) is va.InvalidFilterError
    assert str(error) == (
        "field(s) name given both as a keyword and in where; give each once "
        "(schema 'users')"
    )
    assert error.schema == "users"  # type: ignore[attr-defined]


@pytest.mark.parametrize("where", [5, ["name"], {1: "x"}])
def test_where_that_is_not_a_mapping_of_names_is_rejected(where: Any) -> None:
    with va.InMemoryKeyValueStoreBackend() as store:
        error = error_of(store.filter_record("users", User, where=where))
    assert type(error) is va.InvalidFilterError


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ({1, 2}, "field name: values of type set are not storable"),
        (2**70, "field name: the int is outside the 64-bit range"),
        ("\ud800", "field name: the str is not valid Unicode"),
    ],
    ids=["set", "bigint", "surrogate"],
)
def test_filter_on_a_value_that_cannot_be_stored_names_the_schema(
    store: Any, value: Any, detail: str
) -> None:
    error = error_of(store.filter_record("users", User, name=value))
    assert type(error) is va.SerializationError
    assert str(error).startswith(f"cannot filter schema 'users': {detail}")
    assert error.schema == "users"  # type: ignore[attr-defined]


class Plain(va.BackendIntegrationMixin):
    def __init__(self, id: str, colour: str) -> None:
        self.id = id
        self.colour = colour


def test_filter_of_a_plain_class_on_an_unknown_field_matches_nothing(
    store: Any,
) -> None:
    store.insert_record("plain", "p1", Plain("p1", "red")).get(timeout=T)
    assert store.filter_record("plain", Plain, nosuch=1).get(timeout=T) == []
    found = store.filter_record("plain", Plain, colour="red").get(timeout=T)
    assert [p.id for p in found] == ["p1"]


# -- records that do not fit their class -------------------------------------------


class Version1(pydantic.BaseModel, va.BackendIntegrationMixin):
    id: str
    code: str


class Version2(pydantic.BaseModel, va.BackendIntegrationMixin):
    id: str
    code: int
    added: int


def test_corrupt_record_error_names_fields_but_never_the_stored_values(
    store: Any,
) -> None:
    secret = "Sensitive-Value-314"
    store.insert_record("v", "k", Version1(id="k", code=secret)).get(timeout=T)
    for future in (
        store.get_record("v", Version2, "k"),
        store.filter_record("v", Version2),
        store.get_many("v", Version2, ["k"]),
    ):
        error = error_of(future)
        assert type(error) is va.CorruptRecordError
        assert str(error) == (
            "stored record 'k' in schema 'v' does not fit Version2: code: Input "
            "should be a valid integer, unable to parse string as an integer; "
            "added: Field required"
        )
        assert (error.schema, error.key) == ("v", "k")  # type: ignore[attr-defined]
        shown = "".join(traceback.format_exception(error))
        assert secret not in shown and secret not in repr(vars(error))


def test_dataclass_that_does_not_fit_keeps_the_cause() -> None:
    @dataclasses.dataclass
    class Needs(va.BackendIntegrationMixin):
        id: str
        extra: int

    with va.InMemoryKeyValueStoreBackend() as store:
        store.insert_record("n", "k", Loose("x")).get(timeout=T)
        error = error_of(store.get_record("n", Needs, "k"))
    assert type(error) is va.CorruptRecordError
    assert "does not fit Needs: " in str(error)
    assert isinstance(error.__cause__, TypeError)


# -- record methods -------------------------------------------------------------------


@dataclasses.dataclass
class Unbound(va.BackendIntegrationMixin):
    id: str
    status: str = "new"


@pytest.mark.parametrize("method", ["save", "update", "reload", "delete"])
def test_record_method_without_a_bound_store_returns_a_failed_future(
    method: str,
) -> None:
    record = Unbound("u1")
    future = getattr(record, method)()
    error = error_of(future)
    assert type(error) is va.StoreError
    assert str(error) == (
        "no store is bound to Unbound; call Unbound.bind_store(store) first"
    )
    assert error.schema == "Unbound"  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class Frozen(va.BackendIntegrationMixin):
    id: str
    status: str
    size: int = 0


class FrozenModel(pydantic.BaseModel, va.BackendIntegrationMixin):
    model_config = pydantic.ConfigDict(frozen=True)
    id: str
    status: str


def test_update_of_a_frozen_dataclass_fails_the_future_and_changes_nothing(
    store: Any,
) -> None:
    Frozen.bind_store(store)
    try:
        record = Frozen("f1", "new", 1)
        record.save().get(timeout=T)
        error = error_of(record.update(size=2, status="done"))
        assert type(error) is va.ValidationError
        assert str(error) == (
            "cannot set 'size' on Frozen (schema 'Frozen'): cannot assign to "
            "field 'size'"
        )
        assert record == Frozen("f1", "new", 1)
        assert store.get_record("Frozen", Frozen, "f1").get(timeout=T) == record
    finally:
        Frozen.bind_store(None)


def test_update_of_a_frozen_pydantic_model_fails_the_future() -> None:
    with va.InMemoryKeyValueStoreBackend() as store:
        FrozenModel.bind_store(store)
        try:
            record = FrozenModel(id="f1", status="new")
            record.save().get(timeout=T)
            error = error_of(record.update(status="secret-status"))
        finally:
            FrozenModel.bind_store(None)
    assert type(error) is va.ValidationError
    assert str(error) == (
        "cannot set 'status' on FrozenModel (schema 'FrozenModel'): status: "
        "Instance is frozen"
    )
    assert record.status == "new"


def test_refused_update_restores_the_fields_it_had_already_set() -> None:
    class Checked(pydantic.BaseModel, va.BackendIntegrationMixin):
        model_config = pydantic.ConfigDict(validate_assignment=True)
        id: str
        name: str
        age: int

    with va.InMemoryKeyValueStoreBackend() as store:
        Checked.bind_store(store)
        try:
            record = Checked(id="c1", name="Ada", age=36)
            record.save().get(timeout=T)
            error = error_of(record.update(name="Bob", age="old"))
        finally:
            Checked.bind_store(None)
    assert type(error) is va.ValidationError
    assert (record.name, record.age) == ("Ada", 36)
