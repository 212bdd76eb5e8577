"""Pool and supervisor behaviour, with a small test connector."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from supervisors import (
    Backoff,
    CallTimeout,
    ConnectionMode,
    ConnectorManagerBase,
    ConnectorManagerFactory,
    DeadlockDetected,
    PooledConnectorManager,
    PoolTimeout,
    RestartPolicy,
    SingleConnectorManager,
    Unavailable,
)
from tests.conftest import fake_pool, library_threads, wait_until
from tests.connector_for_tests import (
    Call,
    Crash,
    Echo,
    FakeConnector,
    Hold,
    Tracker,
    busy_then_seven,
)

T = 10.0


def pool(
    managers: list[ConnectorManagerBase], tracker: Tracker, **options: Any
) -> ConnectorManagerBase:
    options.setdefault("max_connections", 2)
    return fake_pool(managers, tracker, **options)


def test_factory_picks_single_for_memory_and_pooled_by_default(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    from volnux_actors import MemoryConnector, RedisConnector

    single = ConnectorManagerFactory.create_manager(MemoryConnector, {})
    pooled = ConnectorManagerFactory.create_manager(RedisConnector, {})
    forced = ConnectorManagerFactory.create_manager(
        FakeConnector, {"tracker": tracker}, ConnectionMode.SINGLE, max_connections=9
    )
    managers.extend([single, pooled, forced])
    assert isinstance(single, SingleConnectorManager)
    assert isinstance(pooled, PooledConnectorManager)
    assert isinstance(forced, SingleConnectorManager)
    assert forced.max_connections == 1


def test_pool_grows_on_demand_to_the_limit_and_no_further(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=3)
    release = threading.Event()
    futures = [manager.submit(Hold(n, release)) for n in range(10)]
    assert wait_until(lambda: tracker.open_now == 3)
    stats = manager.stats()
    assert (stats.connections_open, stats.connections_in_use) == (3, 3)
    assert stats.callers_waiting == 7
    release.set()
    assert sorted(f.get(timeout=T) for f in futures) == list(range(10))
    assert tracker.open_max == 3
    assert manager.stats().connections_opened == 3
    assert wait_until(lambda: manager.stats().connections_in_use == 0)


def test_waiting_callers_are_served_first_come_first_served(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1, batch_size=1)
    release = threading.Event()
    started = threading.Event()
    first = manager.submit(Hold("first", release, started=started))
    assert started.wait(T)
    later = [manager.submit(Echo(n)) for n in range(8)]
    release.set()
    assert [f.get(timeout=T) for f in later] == list(range(8))
    assert first.get(timeout=T) == "first"
    assert tracker.order == ["first", *range(8)]


def test_full_pool_caller_gets_pool_timeout_after_connection_timeout(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1, connection_timeout=0.2)
    release = threading.Event()
    busy = manager.submit(Hold("busy", release))
    started = time.monotonic()
    waiting = manager.submit(Echo("late"))
    with pytest.raises(PoolTimeout) as info:
        waiting.get(timeout=T)
    waited = time.monotonic() - started
    assert 0.15 <= waited < 3.0
    assert "within 0.2s" in str(info.value) and "max_connections=1" in str(info.value)
    assert manager.stats().pool_timeouts == 1
    release.set()
    assert busy.get(timeout=T) == "busy"


def test_idle_reaper_closes_idle_connections_and_spares_busy_ones(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=2, idle_timeout=0.1)
    release = threading.Event()
    busy = manager.submit(Hold("busy", release))
    assert manager.submit(Echo("quick")).get(timeout=T) == "quick"
    assert wait_until(lambda: manager.stats().connections_reaped == 1)
    assert wait_until(lambda: tracker.open_now == 1)
    stats = manager.stats()
    assert (stats.connections_open, stats.connections_in_use) == (1, 1)
    release.set()
    assert busy.get(timeout=T) == "busy"
    assert wait_until(lambda: manager.stats().connections_reaped == 2)
    assert wait_until(lambda: tracker.open_now == 0)


def test_crashed_actor_is_restarted_and_its_caller_gets_a_typed_error(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1)
    assert manager.submit(Echo(1)).get(timeout=T) == 1
    with pytest.raises(CallTimeout, match="crashed"):
        manager.submit(Crash()).get(timeout=T)
    assert manager.submit(Echo(2)).get(timeout=T) == 2
    stats = manager.stats()
    assert stats.restarts == 1
    assert stats.connections_opened == 2
    assert tracker.open_now == 1


def test_calls_queued_behind_a_crash_are_served_by_the_restarted_actor(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1, batch_size=1)
    release = threading.Event()
    started = threading.Event()
    manager.submit(Hold("h", release, started=started))
    assert started.wait(T)
    crash = manager.submit(Crash())
    after = [manager.submit(Echo(n)) for n in range(3)]
    release.set()
    with pytest.raises(CallTimeout):
        crash.get(timeout=T)
    assert [f.get(timeout=T) for f in after] == [0, 1, 2]
    assert manager.stats().restarts == 1


def test_restart_intensity_exceeded_marks_the_backend_unavailable(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    policy = RestartPolicy(
        backoff=Backoff(first=0, base=0.001, cap=0.001),
        max_restarts=2,
        within=30,
        cooldown=30,
    )
    manager = pool(managers, tracker, max_connections=1, restart=policy)
    for _ in range(3):
        with pytest.raises(CallTimeout):
            manager.submit(Crash()).get(timeout=T)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="marked unavailable") as info:
        manager.submit(Echo("x")).get(timeout=T)
    assert time.monotonic() - started < 0.5
    assert "restarts" in str(info.value)
    assert manager.stats().breaker_state == "open"


def test_breaker_fails_fast_then_one_probe_closes_it(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    from supervisors import BreakerPolicy

    breaker = BreakerPolicy(failure_threshold=2, backoff=Backoff(first=0.2, base=0.2))
    manager = PooledConnectorManager(
        FakeConnector,
        {"tracker": tracker, "fail_connect": True},
        max_connections=2,
        breaker=breaker,
        reconnect_backoff=Backoff(first=0, base=0.0, cap=0.0),
    )
    managers.append(manager)
    for _ in range(2):
        with pytest.raises(ConnectionRefusedError):
            manager.submit(Echo("x")).get(timeout=T)
    assert manager.stats().breaker_state == "open"
    started = time.monotonic()
    with pytest.raises(Unavailable, match="marked unavailable"):
        manager.submit(Echo("fast")).get(timeout=T)
    assert time.monotonic() - started < 0.1
    manager.connector_config["fail_connect"] = False
    for worker in list(manager._workers):
        worker.connector.fail_connect = False  # type: ignore[attr-defined]
    assert wait_until(
        lambda: manager.supervisor.breaker.retry_in(time.monotonic()) == 0
    )
    assert manager.submit(Echo("probe")).get(timeout=T) == "probe"
    assert manager.stats().breaker_state == "closed"
    assert manager.submit(Echo("after")).get(timeout=T) == "after"


def test_deadline_passed_while_waiting_fails_unsent(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1, connection_timeout=None)
    release = threading.Event()
    manager.submit(Hold("h", release))
    late = manager.submit(Echo("late"), timeout=0.05)
    with pytest.raises(CallTimeout, match="not sent"):
        late.get(timeout=T)
    release.set()
    assert manager.submit(Echo("next")).get(timeout=T) == "next"
    assert "late" not in tracker.order


def test_no_future_outlives_its_deadline_even_on_a_stuck_connection(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1)
    release = threading.Event()
    stuck = manager.submit(Hold("stuck", release, is_write=True), timeout=0.1)
    with pytest.raises(CallTimeout, match="outcome is unknown"):
        stuck.get(timeout=T)
    release.set()


def test_call_from_inside_an_actor_runs_directly_and_does_not_hang(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    # Case actor-self-ask: the inner call goes direct, not via the mailbox.
    manager = pool(managers, tracker, max_connections=1)

    def nested(_: FakeConnector) -> Any:
        return manager.submit(Echo("inner")).get(timeout=2)

    started = time.monotonic()
    assert manager.submit(Call(nested)).get(timeout=2) == "inner"
    assert time.monotonic() - started < 2


def test_waiting_inside_an_actor_on_its_own_work_raises_at_once(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1)
    holder: dict[str, Any] = {}
    release = threading.Event()

    def wait_on_queued(_: FakeConnector) -> Any:
        release.wait(T)
        try:
            holder["future"].get(timeout=5)
        except DeadlockDetected as error:
            return f"raised: {error}"
        return "waited"

    started = time.monotonic()
    outer = manager.submit(Call(wait_on_queued))
    holder["future"] = manager.submit(Echo("queued"))
    release.set()
    result = outer.get(timeout=T)
    assert result.startswith("raised: this thread is the actor")
    assert time.monotonic() - started < 2
    assert holder["future"].get(timeout=T) == "queued"


def test_writes_on_one_key_keep_their_order_across_actors(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=4)
    futures = [
        manager.submit(Echo(n, route_key="k", is_write=True)) for n in range(200)
    ]
    assert [f.get(timeout=T) for f in futures] == list(range(200))
    assert tracker.order == list(range(200))


def test_close_drains_in_flight_work_and_leaves_no_thread(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=2)
    futures = [manager.submit(Hold(n, seconds=0.01)) for n in range(20)]
    manager.close(5)
    assert [f.get(timeout=0) for f in futures] == list(range(20))
    assert tracker.open_now == 0
    assert wait_until(lambda: not library_threads(), 5), library_threads()


def test_actor_lingers_for_the_callers_it_answered_and_batches_them(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1, linger=5.0)
    first = busy_then_seven(manager)
    assert [f.get(timeout=T) for f in first] == ["first", *range(7)]
    assert wait_until(lambda: manager._lingering is not None)
    began = time.monotonic()
    again = [manager.submit(Echo(n)) for n in range(10, 17)]
    assert [f.get(timeout=T) for f in again] == list(range(10, 17))
    # Woken by the seventh call, not by the 5 s limit, and one batch.
    assert time.monotonic() - began < 2.0
    assert tracker.batches == [1, 7, 7]
    assert wait_until(lambda: manager.stats().connections_in_use == 0)


def test_a_lingering_actor_takes_fewer_calls_when_its_time_is_up(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1, linger=0.05)
    for future in busy_then_seven(manager):
        future.get(timeout=T)
    late = manager.submit(Echo("late"))
    assert late.get(timeout=T) == "late"
    assert tracker.batches == [1, 7, 1]
    assert wait_until(lambda: manager.stats().connections_idle == 1)


def test_close_wakes_a_lingering_actor_at_once(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1, linger=30.0)
    for future in busy_then_seven(manager):
        future.get(timeout=T)
    assert wait_until(lambda: manager._lingering is not None)
    began = time.monotonic()
    manager.close(10)
    assert time.monotonic() - began < 2.0
    assert manager._lingering is None
    assert wait_until(lambda: not library_threads(), 5), library_threads()


def test_no_linger_after_a_single_call(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    manager = pool(managers, tracker, max_connections=1, linger=30.0)
    assert manager.submit(Echo("one")).get(timeout=T) == "one"
    assert wait_until(lambda: manager.stats().connections_idle == 1)
    assert manager._lingering is None
