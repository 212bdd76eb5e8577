"""Connectors that never block (memory) run a call on the caller's thread.

The pool lends such a connector to the caller when its actor is idle; a busy
connection is never lent, and a connector that raises while lent fails the
call and has its actor restarted, as after any crash.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import volnux_actors as va
from supervisors import CallTimeout, ConnectorManagerBase
from tests.conftest import fake_pool, wait_until
from tests.connector_for_tests import Call, Crash, Echo, Hold, Tracker
from tests.records_for_tests import Run

T = 10.0


def idle(manager: ConnectorManagerBase) -> bool:
    stats = manager.stats()
    return stats.connections_open == 1 and stats.connections_in_use == 0


def thread_of_call(manager: ConnectorManagerBase) -> Any:
    return manager.submit(Call(lambda _: threading.get_ident()))


def test_an_idle_lent_connector_runs_the_call_on_the_callers_thread(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = fake_pool(managers, tracker, max_connections=1, caller_runs=True)
    assert manager.submit(Echo("first")).get(timeout=T) == "first"
    assert wait_until(lambda: idle(manager), T)
    future = thread_of_call(manager)
    assert future.done()  # finished before submit returned
    assert future.get(timeout=0) == threading.get_ident()
    assert manager.stats().connections_opened == 1


def test_a_connector_not_lent_runs_every_call_on_its_actor(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = fake_pool(managers, tracker, max_connections=1)
    assert manager.caller_runs is False
    assert manager.submit(Echo("first")).get(timeout=T) == "first"
    assert wait_until(lambda: idle(manager), T)
    assert thread_of_call(manager).get(timeout=T) != threading.get_ident()


def test_a_busy_connection_is_never_lent(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = fake_pool(managers, tracker, max_connections=1, caller_runs=True)
    release, started = threading.Event(), threading.Event()
    held = manager.submit(Hold("held", release, started=started))
    assert started.wait(T)
    waiting = thread_of_call(manager)
    assert not waiting.done()
    release.set()
    assert held.get(timeout=T) == "held"
    assert waiting.get(timeout=T) != threading.get_ident()


def test_a_lent_connector_that_raises_fails_the_call_and_its_actor_restarts(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = fake_pool(managers, tracker, max_connections=1, caller_runs=True)
    assert manager.submit(Echo(1)).get(timeout=T) == 1
    assert wait_until(lambda: idle(manager), T)
    crashed = manager.submit(Crash())
    assert crashed.done()
    with pytest.raises(CallTimeout, match="crashed while running crash"):
        crashed.get(timeout=0)
    assert wait_until(lambda: manager.stats().restarts == 1, T)
    assert manager.submit(Echo(2)).get(timeout=T) == 2
    assert manager.stats().connections_opened == 2
    assert wait_until(lambda: tracker.open_now == 1, T)


def test_a_lent_call_past_its_deadline_is_not_run(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = fake_pool(managers, tracker, max_connections=1, caller_runs=True)
    assert manager.submit(Echo(1)).get(timeout=T) == 1
    assert wait_until(lambda: idle(manager), T)
    late = manager.submit(Echo("late"), timeout=0)
    with pytest.raises(CallTimeout):
        late.get(timeout=T)
    assert "late" not in tracker.order


def test_the_memory_store_answers_an_idle_call_before_submit_returns() -> None:
    with va.InMemoryKeyValueStoreBackend() as store:
        assert store.count("runs").get(timeout=T) == 0
        assert wait_until(lambda: store.stats().connections_in_use == 0, T)
        inserted = store.insert_record("runs", 7, Run("7", "queued"))
        assert inserted.done()
        inserted.get(timeout=0)
        again = store.insert_record("runs", "7", Run("7", "queued"))
        with pytest.raises(va.ObjectExistError, match="'7'"):
            again.get(timeout=0)
        assert store.count("runs").get(timeout=0) == 1
        assert store.get_record("runs", Run, 7).get(timeout=0) == Run("7", "queued")
