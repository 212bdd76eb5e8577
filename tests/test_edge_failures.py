"""Failures found by a new user's first look, kept fixed."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any

import pytest

import volnux_actors as va
from supervisors import PooledConnectorManager
from tests.conftest import library_threads, wait_until
from tests.connector_for_tests import Echo, FakeConnector, Hold, Tracker
from tests.records_for_tests import User
from tests.servers_redis import RedisServer

T = 10.0


@pytest.fixture
def own_redis(fresh_redis: RedisServer) -> RedisServer:
    return fresh_redis


def test_a_write_reported_not_sent_is_never_applied(own_redis: RedisServer) -> None:
    own_redis.client().hset("volnux:users", "u1", b'{"id":"u1","name":"old"}')
    store = va.RedisStoreBackend(port=own_redis.port, socket_timeout=3.0)
    try:
        own_redis.freeze()
        future = store.update_record("users", "u1", User("u1", "new"), timeout=1.0)
        with pytest.raises(va.OperationTimeoutError) as info:
            future.get(timeout=T)
        own_redis.thaw()
        stored = own_redis.client().hget("volnux:users", "u1")
        if "was not sent" in str(info.value):
            assert not isinstance(info.value, va.OutcomeUnknownError)
            assert stored == b'{"id":"u1","name":"old"}'
        else:
            assert isinstance(info.value, va.WriteTimeoutError)
        assert (info.value.schema, info.value.key) == ("users", "u1")
    finally:
        own_redis.thaw()
        store.close()


def test_close_with_a_frozen_server_fails_in_flight_calls_and_ends_threads(
    own_redis: RedisServer,
) -> None:
    store = va.RedisStoreBackend(port=own_redis.port, socket_timeout=30.0)
    store.count("users").get(timeout=T)
    own_redis.freeze()
    try:
        futures = [
            store.insert_record("users", f"k{n}", User(f"k{n}", "x")) for n in range(5)
        ]
        started = time.monotonic()
        store.close(timeout=1.0)
        assert time.monotonic() - started < 5.0
        assert all(f.done() for f in futures)
        for future in futures:
            error = future.exception(timeout=0)
            assert isinstance(error, (va.OutcomeUnknownError, va.StoreClosedError))
            assert error.schema == "users"
        assert wait_until(lambda: not library_threads(), 5), library_threads()
    finally:
        own_redis.thaw()


def test_a_raising_done_callback_does_not_crash_the_actor() -> None:
    store = va.InMemoryKeyValueStoreBackend()
    try:
        for _ in range(10):
            future = store.count("users")
            future.add_done_callback(lambda f: 1 / 0)
            assert future.get(timeout=T) == 0
        assert store.stats().restarts == 0
        assert store.stats().breaker_state == "closed"
        assert store.count("users").get(timeout=T) == 0
    finally:
        store.close()


def test_an_abandoned_await_on_a_closed_loop_harms_nobody() -> None:
    tracker = Tracker()
    manager = PooledConnectorManager(
        FakeConnector, {"tracker": tracker}, max_connections=1
    )
    try:
        for _ in range(8):
            release = threading.Event()
            future = manager.submit(Hold("slow", release))

            async def abandon(future: Any = future) -> None:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(_awaitable(future), 0.01)

            asyncio.run(abandon())
            release.set()  # completes on the actor, for a loop that is gone
            assert future.get(timeout=T) == "slow"
        assert manager.submit(Echo("after")).get(timeout=T) == "after"
        assert manager.stats().restarts == 0
        assert manager.stats().breaker_state == "closed"
    finally:
        manager.close(2)


async def _awaitable(future: Any) -> Any:
    return await future


def test_infinite_timeout_means_no_deadline_and_keeps_deadlines_working() -> None:
    tracker = Tracker()
    manager = PooledConnectorManager(
        FakeConnector, {"tracker": tracker}, max_connections=1, idle_timeout=None
    )
    try:
        assert manager.submit(Echo(1), timeout=math.inf).get(timeout=T) == 1
        release = threading.Event()
        manager.submit(Hold("h", release), timeout=math.inf)
        late = manager.submit(Echo("late"), timeout=0.05)
        with pytest.raises(TimeoutError, match="not sent"):
            late.get(timeout=T)
        release.set()
    finally:
        manager.close(2)


def test_wrong_password_keeps_failing_as_a_configuration_error(
    redis_clean: RedisServer,
) -> None:
    client = redis_clean.client()
    client.execute_command("ACL", "SETUSER", "qa", "on", ">right-pw", "~*", "+@all")
    store = va.RedisStoreBackend(
        port=redis_clean.port, username="qa", password="bad-pw", max_connections=2
    )
    try:
        for _ in range(8):
            with pytest.raises(va.ConfigurationError) as info:
                store.count("users").get(timeout=T)
            assert "bad-pw" not in str(info.value)
    finally:
        store.close()
        client.execute_command("ACL", "DELUSER", "qa")


def test_errors_from_the_pool_name_schema_and_key() -> None:
    store = va.InMemoryKeyValueStoreBackend()
    store.close()
    with pytest.raises(va.StoreClosedError) as info:
        store.get_record("users", User, "u9").get(timeout=T)
    assert (info.value.schema, info.value.key) == ("users", "u9")
    assert "'u9'" in str(info.value) and "'users'" in str(info.value)


def test_close_from_a_done_callback_does_not_wait_for_itself() -> None:
    store = va.InMemoryKeyValueStoreBackend()
    closed = threading.Event()
    took: list[float] = []

    def close_now(_: Any) -> None:
        started = time.monotonic()
        store.close(timeout=3.0)
        took.append(time.monotonic() - started)
        closed.set()

    store.count("users").add_done_callback(close_now)
    assert closed.wait(T)
    assert took[0] < 1.0
    assert wait_until(lambda: not library_threads(), 5)


def test_stats_count_reconnects_and_only_connections_that_are_open(
    own_redis: RedisServer,
) -> None:
    store = va.RedisStoreBackend(port=own_redis.port, max_connections=2)
    try:
        assert store.count("s").get(timeout=5) == 0
        stats = store.stats()
        assert (stats.actors, stats.connections_open, stats.connections_opened) == (
            1,
            1,
            1,
        )
        own_redis.client().client_kill_filter(_type="normal")
        assert store.count("s").get(timeout=5) == 0  # on a new connection
        stats = store.stats()
        assert (stats.connections_opened, stats.connections_lost) == (2, 1)
        assert stats.connections_open == 1
        own_redis.kill()
        error = store.count("s").exception(timeout=5)
        assert isinstance(error, va.BackendUnavailableError)
        stats = store.stats()
        assert (stats.actors, stats.connections_open) == (1, 0)
        own_redis.start()

        def answers() -> bool:
            return store.count("s").exception(timeout=5) is None

        assert wait_until(answers, 10)
        stats = store.stats()
        assert (stats.connections_open, stats.connections_opened) == (1, 3)
    finally:
        store.close()
