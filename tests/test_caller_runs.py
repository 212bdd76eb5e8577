"""Connectors that never block (memory) run a call on the caller's thread.

The pool lends such a connector to the caller when its actor is idle; a busy
connection is never lent, and a connector that raises while lent fails the
call and has its actor restarted, as after any crash.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import volnux_actors as va
from supervisors import CallTimeout, ConnectorManagerBase, ManagerClosed
from tests.conftest import fake_pool, wait_until
from tests.connector_for_tests import (
    Call,
    Crash,
    Echo,
    Hold,
    Interrupt,
    Interrupted,
    Tracker,
)
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


def lent_in_thread(
    manager: ConnectorManagerBase, message: Any, **options: Any
) -> tuple[threading.Thread, list[Any]]:
    """Submit ``message`` on a new thread; the list receives its future."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(manager.submit(message, **options))
        except BaseException as error:
            out.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def started_idle(
    managers: list[ConnectorManagerBase], tracker: Tracker, **options: Any
) -> ConnectorManagerBase:
    manager = fake_pool(
        managers, tracker, max_connections=1, caller_runs=True, **options
    )
    assert manager.submit(Echo("first")).get(timeout=T) == "first"
    assert wait_until(lambda: idle(manager), T)
    return manager


def lend_a_held_call(
    manager: ConnectorManagerBase,
) -> tuple[threading.Event, threading.Thread, list[Any]]:
    """A thread that borrowed the connector and holds it until the event."""
    release, started = threading.Event(), threading.Event()
    lender, lent = lent_in_thread(manager, Hold("lent", release, started=started))
    assert started.wait(T)
    return release, lender, lent


def test_a_call_made_while_the_connector_is_lent_runs_after_on_the_actor(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = started_idle(managers, tracker)
    release, lender, lent = lend_a_held_call(manager)
    queued = thread_of_call(manager)
    assert not queued.done()
    release.set()
    lender.join(T)
    assert lent[0].get(timeout=0) == "lent"
    ran_on = queued.get(timeout=T)
    assert ran_on not in (threading.get_ident(), lender.ident)
    assert tracker.overlaps == 0
    assert tracker.threads[1:] == [lender.ident, ran_on]


def test_many_threads_calling_at_once_never_share_the_connection(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = started_idle(managers, tracker)
    barrier = threading.Barrier(4)
    results: list[list[Any]] = [[] for _ in range(4)]

    def caller(n: int) -> None:
        barrier.wait(T)
        futures = [manager.submit(Echo((n, i))) for i in range(300)]
        results[n] = [future.get(timeout=T) for future in futures]

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(T)
    assert results == [[(n, i) for i in range(300)] for n in range(4)]
    assert tracker.overlaps == 0
    assert manager.stats().connections_opened == 1


def test_a_write_lent_after_one_queued_on_the_same_key_runs_second(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = started_idle(managers, tracker)
    release, lender, lent = lend_a_held_call(manager)
    first = manager.submit(Echo("w1", route_key="k", is_write=True))
    release.set()
    lender.join(T)
    assert lent[0].get(timeout=0) == "lent"
    second = manager.submit(Echo("w2", route_key="k", is_write=True))
    assert [first.get(timeout=T), second.get(timeout=T)] == ["w1", "w2"]
    assert tracker.order == ["first", "lent", "w1", "w2"]


def test_stats_during_a_lent_call_count_its_connection_in_use(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = started_idle(managers, tracker)
    seen = manager.submit(Call(lambda _: manager.stats())).get(timeout=0)
    assert (seen.connections_in_use, seen.connections_idle) == (1, 0)
    assert (seen.actors, seen.callers_waiting) == (1, 0)
    assert manager.stats().connections_in_use == 0


def test_an_awaited_call_answered_before_submit_returned_gives_its_value(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = started_idle(managers, tracker)

    async def main() -> Any:
        future = manager.submit(Echo("now"))
        assert future.done()
        return await future

    assert asyncio.run(main()) == "now"


def test_a_tiny_timeout_on_a_lent_call_fails_it_unsent(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = started_idle(managers, tracker)
    late = manager.submit(Echo("late"), timeout=1e-9)
    with pytest.raises(CallTimeout, match="the call was not sent"):
        late.get(timeout=0)
    assert manager.submit(Echo("next"), timeout=T).get(timeout=0) == "next"
    assert tracker.order == ["first", "next"]


@pytest.mark.parametrize("caller_runs", [True, False])
def test_a_deadline_passing_while_a_call_runs_fails_it_lent_or_not(
    managers: list[ConnectorManagerBase], tracker: Tracker, caller_runs: bool
) -> None:
    manager = started_idle(managers, tracker)
    manager.caller_runs = caller_runs
    release, started = threading.Event(), threading.Event()
    deadline = time.monotonic() + 0.05
    caller, out = lent_in_thread(
        manager, Hold("slow", release, started=started), timeout=0.05
    )
    assert started.wait(T)
    assert wait_until(lambda: time.monotonic() > deadline + 0.01, T)
    release.set()
    caller.join(T)
    with pytest.raises(CallTimeout, match="deadline passed while the backend"):
        out[0].get(timeout=T)


@pytest.mark.parametrize("caller_runs", [True, False])
def test_a_connector_calling_its_own_store_runs_the_call_inline(
    managers: list[ConnectorManagerBase], tracker: Tracker, caller_runs: bool
) -> None:
    manager = started_idle(managers, tracker)
    manager.caller_runs = caller_runs

    def reenter(_: Any) -> Any:
        inner = manager.submit(Call(lambda _: threading.get_ident()))
        return threading.get_ident(), inner.get(timeout=2)

    outer, inner = manager.submit(Call(reenter)).get(timeout=T)
    assert outer == inner
    assert tracker.overlaps == 0


@pytest.mark.parametrize("caller_runs", [True, False])
def test_a_call_closing_its_own_store_returns_at_once_lent_or_not(
    managers: list[ConnectorManagerBase], tracker: Tracker, caller_runs: bool
) -> None:
    manager = started_idle(managers, tracker)
    manager.caller_runs = caller_runs
    began = time.monotonic()
    closing = manager.submit(Call(lambda _: manager.close(T)))
    with pytest.raises(CallTimeout, match="was closed while the call was running"):
        closing.get(timeout=T)
    assert time.monotonic() - began < T / 2
    assert manager.closed
    assert wait_until(lambda: tracker.open_now == 0, T)
    assert tracker.overlaps == 0


def test_close_waits_for_a_lent_call_and_lets_it_finish(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = started_idle(managers, tracker)
    release, lender, lent = lend_a_held_call(manager)
    closer = threading.Thread(target=manager.close, args=(T,))
    closer.start()
    assert wait_until(lambda: manager.closed, T)
    release.set()
    lender.join(T)
    closer.join(T)
    assert not closer.is_alive()
    assert lent[0].get(timeout=0) == "lent"
    assert tracker.overlaps == 0
    assert tracker.open_now == 0


def test_close_timing_out_on_a_lent_call_does_not_disconnect_under_it(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = started_idle(managers, tracker)
    release, lender, lent = lend_a_held_call(manager)
    manager.close(0.05)
    overlaps_while_lent = tracker.overlaps
    release.set()
    lender.join(T)
    assert overlaps_while_lent == 0
    with pytest.raises(ManagerClosed, match="was closed before the call"):
        lent[0].get(timeout=0)
    assert wait_until(lambda: tracker.open_now == 0, T)
    assert tracker.overlaps == 0


def test_a_lent_call_interrupted_restarts_its_actor_and_stops_no_other(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    other = fake_pool(managers, Tracker(), max_connections=1)
    assert other.submit(Echo("other")).get(timeout=T) == "other"
    manager = started_idle(managers, tracker)
    with pytest.raises(Interrupted):
        manager.submit(Interrupt())
    assert wait_until(lambda: manager.stats().restarts == 1, T)
    assert manager.submit(Echo("again")).get(timeout=T) == "again"
    assert other.submit(Echo("still")).get(timeout=T) == "still"
    assert other.stats().connections_opened == 1
    assert other.stats().actors == 1


def test_a_call_queued_behind_a_lent_crash_on_its_key_runs_after_the_restart(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = started_idle(managers, tracker)
    release, started = threading.Event(), threading.Event()

    def crash(_: Any) -> Any:
        started.set()
        release.wait(T)
        raise RuntimeError("lent connector blew up")

    lender, lent = lent_in_thread(manager, Call(crash, route_key="k"))
    assert started.wait(T)
    queued = manager.submit(Echo("after", route_key="k", is_write=True))
    release.set()
    lender.join(T)
    assert isinstance(lent[0].exception(timeout=0), CallTimeout)
    assert queued.get(timeout=T) == "after"
    assert manager.stats().restarts == 1
    assert tracker.overlaps == 0


def test_the_idle_reaper_racing_with_lent_calls_loses_no_call(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = started_idle(managers, tracker, idle_timeout=0.001)
    values = []
    for i in range(2000):
        values.append(manager.submit(Echo(i)).get(timeout=T))
        if manager.stats().connections_reaped >= 3:
            break
    assert values == list(range(len(values)))
    assert tracker.overlaps == 0
    assert wait_until(lambda: manager.stats().actors == 0, T)
    stats = manager.stats()
    assert stats.connections_reaped == stats.connections_opened
    assert wait_until(lambda: tracker.open_now == 0, T)
