"""A stored record always reads back: ids agree with keys, models validate.

Run over every backend. Each test writes something a user could write by
mistake and checks both the error and that stored data stayed as it was.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import pydantic
import pytest

import volnux_actors as va
from tests.records_for_tests import Run

T = 10.0


class Loose(va.BackendIntegrationMixin, pydantic.BaseModel):
    """A pydantic model that does not validate assignments (the default)."""

    id: str
    opt: Optional[int] = None  # noqa: UP045 - the spelling users write


@dataclasses.dataclass
class IntId(va.BackendIntegrationMixin):
    id: int
    n: int


def error_of(future: Any) -> BaseException:
    error = future.exception(timeout=T)
    assert error is not None, "the call succeeded"
    return error


def test_a_model_that_does_not_validate_is_refused_and_nothing_is_written(
    store: Any,
) -> None:
    Loose.bind_store(store)
    try:
        record = Loose(id="q")
        record.save().get(timeout=T)
        with pytest.warns(UserWarning):  # pydantic's serializer warns first
            error = error_of(record.update(opt="x"))
        assert isinstance(error, va.ValidationError)
        assert str(error).startswith(
            "record 'q' of schema 'Loose' does not validate as Loose, so it was "
            "not written: opt: Input should be a valid integer"
        )
        assert record.opt is None  # refused before any I/O: fields put back
        record.opt = "y"  # type: ignore[assignment]
        with pytest.warns(UserWarning):
            assert isinstance(error_of(record.save()), va.ValidationError)
        assert store.get_record("Loose", Loose, "q").get(timeout=T) == Loose(id="q")
        assert store.filter_record("Loose", Loose).get(timeout=T) == [Loose(id="q")]
    finally:
        Loose.bind_store(None)


def test_a_record_whose_id_differs_from_its_key_is_refused(store: Any) -> None:
    error = error_of(store.insert_record("Run", "kx", Run("OTHER", "queued")))
    assert isinstance(error, va.ValidationError)
    assert str(error) == (
        "record of schema 'Run' has id 'OTHER' but was given key 'kx'; store it "
        "under its own id, or leave its id None"
    )
    assert (error.schema, error.key) == ("Run", "kx")
    assert store.count("Run").get(timeout=T) == 0
    store.insert_record("Run", "kx", Run("kx", "queued")).get(timeout=T)
    error = error_of(store.update_record("Run", "kx", Run("OTHER", "done")))
    assert isinstance(error, va.ValidationError)
    error = error_of(store.insert_many("Run", {"a": Run("a", "x"), "b": Run("c", "x")}))
    assert isinstance(error, va.ValidationError)
    assert store.get_record("Run", Run, "kx").get(timeout=T) == Run("kx", "queued")
    assert store.count("Run").get(timeout=T) == 1


def test_an_int_id_and_its_decimal_string_key_agree(store: Any) -> None:
    store.insert_record("IntId", 42, IntId(42, 1)).get(timeout=T)
    store.insert_record("IntId", "7", IntId(7, 1)).get(timeout=T)
    assert store.get_record("IntId", IntId, "42").get(timeout=T) == IntId(42, 1)


@pytest.mark.parametrize("wanted", [42, "42"])
def test_filter_on_an_int_id_finds_the_record(store: Any, wanted: Any) -> None:
    for record in (IntId(42, 1), IntId(7, 1)):
        store.insert_record("IntId", record.id, record).get(timeout=T)
    found = store.filter_record("IntId", IntId, id=wanted).get(timeout=T)
    assert found == [IntId(42, 1)]
    assert store.filter_record("IntId", IntId, id=wanted, n=2).get(timeout=T) == []
    assert store.filter_record("IntId", IntId, n=1).get(timeout=T) == [
        IntId(42, 1),
        IntId(7, 1),
    ]


def test_update_of_an_undeclared_field_is_refused(store: Any) -> None:
    Run.bind_store(store)
    try:
        run = Run("r1", "queued")
        run.save().get(timeout=T)
        error = error_of(run.update(bogus=1, status="done"))
        assert isinstance(error, va.ValidationError)
        assert str(error) == (
            "Run (schema 'Run') has no field(s) bogus; fields are id, status"
        )
        assert run.status == "queued"
        assert not hasattr(run, "bogus")
    finally:
        Run.bind_store(None)


def test_update_refused_by_the_codec_leaves_the_fields_as_they_were(
    store: Any,
) -> None:
    Run.bind_store(store)
    try:
        run = Run("r2", "queued")
        run.save().get(timeout=T)
        error = error_of(run.update(status={1, 2}))
        assert isinstance(error, va.SerializationError)
        assert run.status == "queued"
        assert store.get_record("Run", Run, "r2").get(timeout=T) == run
    finally:
        Run.bind_store(None)
