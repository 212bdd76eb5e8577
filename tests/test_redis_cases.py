"""The Redis cases from shared/cases, on a real redis-server."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
import redis

import volnux_actors as va
from tests.conftest import wait_until
from tests.faults.proxy import FaultProxy
from tests.records_for_tests import User
from tests.servers_redis import RedisServer
from volnux_actors.connectors.redis import RedisConnector
from volnux_actors.connectors.redis_errors import TRANSLATIONS

T = 10.0
pytestmark = pytest.mark.redis


def our_clients(server: RedisServer) -> int:
    clients = server.client().client_list()
    return sum(1 for c in clients if c.get("name") == "volnux-actors")


def test_dead_connections_are_never_handed_out_again(redis_clean: RedisServer) -> None:
    # Case dead-connection-reused.
    store = va.RedisStoreBackend(port=redis_clean.port, max_connections=2)
    try:
        store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        both = [store.exists("users", "u1") for _ in range(2)]
        assert [f.get(timeout=T) for f in both] == [True, True]
        killed = redis_clean.client().client_kill_filter(_type="normal")
        assert killed >= 1
        outcomes: list[Any] = []
        for _ in range(5):
            try:
                outcomes.append(store.get_record("users", User, "u1").get(timeout=T))
            except va.BackendUnavailableError as error:
                outcomes.append(error)
        assert all(o == User("u1", "Ada") for o in outcomes[1:]), outcomes
        assert isinstance(outcomes[0], (User, va.BackendUnavailableError))
        pair = [store.get_record("users", User, "u1") for _ in range(2)]
        assert [f.get(timeout=T) for f in pair] == [User("u1", "Ada")] * 2
        assert wait_until(lambda: store.stats().connections_in_use == 0)
    finally:
        store.close()


def test_half_a_reply_closes_the_connection_and_is_never_read_again(
    redis_clean: RedisServer,
) -> None:
    # A reply cut half way leaves the rest unread: the connection must go.
    # A read is sent again on a fresh connection; a write is not, and says
    # that its outcome is unknown.
    proxy = FaultProxy(redis_clean.port)
    store = va.RedisStoreBackend(port=proxy.port, max_connections=1)
    try:
        store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        proxy.truncate_next_reply = True
        assert store.get_record("users", User, "u1").get(timeout=T) == User("u1", "Ada")
        assert proxy.truncate_next_reply is False
        assert len(proxy.accepted) == 2
        proxy.truncate_next_reply = True
        with pytest.raises(va.OutcomeUnknownError) as caught:
            store.update_record("users", "u1", User("u1", "Bea")).get(timeout=T)
        error = caught.value
        assert (error.schema, error.key) == ("users", "u1")
        assert "may or may not have been applied" in str(error)
        assert "was not sent again" in str(error)
        # The server did apply it; the next call runs on a third connection.
        assert store.get_record("users", User, "u1").get(timeout=T) == User("u1", "Bea")
        assert len(proxy.accepted) == 3
        assert store.stats().connections_lost == 2
    finally:
        store.close()
        proxy.close()


def test_dead_connection_after_server_restart_is_replaced(
    redis_clean: RedisServer,
) -> None:
    store = va.RedisStoreBackend(port=redis_clean.port, max_connections=2)
    try:
        store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        redis_clean.stop()
        redis_clean.start()
        store.insert_record("users", "u2", User("u2", "Bob")).get(timeout=T)
        assert store.get_record("users", User, "u2").get(timeout=T).name == "Bob"
        assert store.count("users").get(timeout=T) == 1
    finally:
        store.close()


class HoldingConnector(RedisConnector):
    """Keeps its connection ``hold`` seconds per batch, like a slow caller."""

    hold = 0.05

    def run_batch(self, messages: Sequence[Any]) -> list[Any]:
        time.sleep(self.hold)
        return super().run_batch(messages)


class HoldingStore(va.RedisStoreBackend):
    connector_klass = HoldingConnector


@pytest.mark.parametrize("hold", [0.05, 3.0], ids=["short", "long"])
def test_full_pool_waits_then_times_out(redis_clean: RedisServer, hold: float) -> None:
    # Case pool-exhaustion-waits.
    HoldingConnector.hold = hold
    store = HoldingStore(
        port=redis_clean.port, max_connections=2, connection_timeout=1.0
    )
    try:
        store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        HoldingConnector.hold = hold
        barrier = threading.Barrier(20)
        results: list[Any] = [None] * 20
        seen_clients: list[int] = []

        def read(n: int) -> None:
            barrier.wait(T)
            started = time.monotonic()
            future = store.get_record("users", User, "u1")
            try:
                results[n] = (future.get(timeout=T), time.monotonic() - started)
            except va.StoreError as error:
                results[n] = (error, time.monotonic() - started)

        threads = [threading.Thread(target=read, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            seen_clients.append(our_clients(redis_clean))
            time.sleep(0.05)
        for thread in threads:
            thread.join(T)
        values = [r[0] for r in results]
        if hold < 1.0:
            assert values == [User("u1", "Ada")] * 20
        else:
            ok = [v for v in values if isinstance(v, User)]
            timed_out = [r for r in results if isinstance(r[0], va.PoolTimeoutError)]
            assert len(ok) == 2
            assert len(timed_out) == 18
            assert all(0.9 <= took < 2.5 for _, took in timed_out)
            assert "within 1.0s" in str(timed_out[0][0])
        assert max(seen_clients) <= 2
        assert store.stats().callers_waiting == 0
    finally:
        HoldingConnector.hold = 0.0
        store.close()


@pytest.mark.parametrize("mode", ["single", "pooled"])
def test_stale_idle_connection_is_checked_before_use(
    redis_clean: RedisServer, mode: str
) -> None:
    # Case stale-idle-connection: Redis drops clients idle for 1 s.
    store = va.RedisStoreBackend(port=redis_clean.port, connection_mode=mode)
    try:
        redis_clean.client().config_set("timeout", 1)
        store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        time.sleep(2.5)  # the scenario itself: no traffic for 2.5 s
        assert store.get_record("users", User, "u1").get(timeout=T) == User("u1", "Ada")
        store.insert_record("users", "u2", User("u2", "Bob")).get(timeout=T)
        assert store.count("users").get(timeout=T) == 2
    finally:
        redis_clean.client().config_set("timeout", 0)
        store.close()


def test_write_is_never_replayed_after_a_timeout(redis_clean: RedisServer) -> None:
    # Case write-not-replayed.
    store = va.RedisStoreBackend(
        port=redis_clean.port, socket_timeout=0.5, health_check_after=60
    )
    try:
        assert store.count("users").get(timeout=T) == 0
        sleeper = threading.Thread(
            target=lambda: redis_clean.client().execute_command("DEBUG", "SLEEP", 1.5)
        )
        sleeper.start()
        time.sleep(0.1)
        future = store.insert_record("users", "u1", User("u1", "Ada"))
        try:
            future.get(timeout=T)
        except va.WriteTimeoutError as error:
            assert "may or may not have been applied" in str(error)
            assert "was not sent again" in str(error)
            assert isinstance(error, va.OutcomeUnknownError)
            assert isinstance(error, TimeoutError)
        sleeper.join(T)
        assert store.count("users").get(timeout=T) == 1
        assert store.get_record("users", User, "u1").get(timeout=T).name == "Ada"
    finally:
        store.close()


def test_connection_refused_is_a_typed_unavailable_error() -> None:
    from tests.servers_redis import free_port

    store = va.RedisStoreBackend(port=free_port(), max_connections=1)
    try:
        with pytest.raises(va.BackendUnavailableError) as info:
            store.count("users").get(timeout=T)
        assert "connecting to Redis at 127.0.0.1" in str(info.value)
        assert "retry later" in str(info.value)
    finally:
        store.close()


def test_wrong_password_is_a_configuration_error_without_the_password(
    redis_clean: RedisServer,
) -> None:
    client = redis_clean.client()
    client.execute_command(
        "ACL", "SETUSER", "worker", "on", ">s3cret-pw", "~*", "+@all"
    )
    store = va.RedisStoreBackend(
        port=redis_clean.port, username="worker", password="wrong-pw", max_connections=1
    )
    try:
        with pytest.raises(va.ConfigurationError) as info:
            store.count("users").get(timeout=T)
        assert "wrong-pw" not in str(info.value) and "s3cret" not in str(info.value)
        assert "wrong-pw" not in repr(store) and "wrong-pw" not in repr(
            store.manager._workers
        )
    finally:
        store.close()
        client.execute_command("ACL", "DELUSER", "worker")


def test_every_redis_py_error_class_has_a_translation() -> None:
    import inspect

    from redis import exceptions

    classes = [
        c
        for _, c in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(c, BaseException) and c.__module__ == exceptions.__name__
    ]
    missing = [c.__name__ for c in classes if c not in TRANSLATIONS]
    assert missing == []


def test_records_live_in_one_hash_per_schema(redis_clean: RedisServer) -> None:
    store = va.RedisStoreBackend(port=redis_clean.port, namespace="ns")
    try:
        store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        raw = redis_clean.client().hgetall("ns:users")
        assert list(raw) == [b"u1"]
        assert b'"name":"Ada"' in raw[b"u1"]
    finally:
        store.close()


def test_redis_py_client_sees_no_pickle_in_stored_values(
    redis_clean: RedisServer,
) -> None:
    store = va.RedisStoreBackend(port=redis_clean.port)
    try:
        store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        value = redis.Redis(port=redis_clean.port).hget("volnux:users", "u1")
        assert value is not None and value.startswith(b"{")
    finally:
        store.close()


class AskingConnector(RedisConnector):
    """Checks existence through its own store before every update."""

    store: Any = None

    def run_batch(self, messages: Sequence[Any]) -> list[Any]:
        from volnux_actors import messages as m

        for message in messages:
            if isinstance(message, m.Update):
                found = self.store.exists(message.schema, message.key).get(timeout=2)
                assert found is True
        return super().run_batch(messages)


class AskingStore(va.RedisStoreBackend):
    connector_klass = AskingConnector


@pytest.mark.parametrize("mode", ["single", "pooled"])
def test_actor_asking_its_own_store_does_not_hang(
    redis_clean: RedisServer, mode: str
) -> None:
    # Case actor-self-ask, on a real store.
    store = AskingStore(port=redis_clean.port, connection_mode=mode)
    AskingConnector.store = store
    try:
        store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        started = time.monotonic()
        store.update_record("users", "u1", User("u1", "Bea")).get(timeout=2)
        assert time.monotonic() - started < 2
        assert store.get_record("users", User, "u1").get(timeout=T).name == "Bea"
    finally:
        AskingConnector.store = None
        store.close()
