"""Store settings are checked when the store is built; Redis hints read right."""

from __future__ import annotations

import math
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from redis import exceptions as rx

import volnux_actors as va
from tests.records_for_tests import User
from tests.servers_redis import RedisServer, free_port
from volnux_actors.config import build_store, check_store_config, load_config
from volnux_actors.connectors.redis_errors import HINTS, TRANSLATIONS, translate

T = 10.0

REDIS = va.RedisStoreBackend
HDFS = va.HDFSStoreBackend
MEMORY = va.InMemoryKeyValueStoreBackend


@pytest.mark.parametrize(
    ("klass", "settings", "message"),
    [
        (
            REDIS,
            {"port": 0},
            "RedisConnector: port must be an integer from 1 to 65535, got 0",
        ),
        (
            REDIS,
            {"port": 70000},
            "RedisConnector: port must be an integer from 1 to 65535, got 70000",
        ),
        (
            REDIS,
            {"port": "6379"},
            "RedisConnector: port must be an integer from 1 to 65535, got '6379'",
        ),
        (
            REDIS,
            {"port": 6379.0},
            "RedisConnector: port must be an integer from 1 to 65535, got 6379.0",
        ),
        (
            REDIS,
            {"port": True},
            "RedisConnector: port must be an integer from 1 to 65535, got True",
        ),
        (
            REDIS,
            {"db": -1},
            "RedisConnector: db must be an integer of at least 0, got -1",
        ),
        (
            REDIS,
            {"db": "0"},
            "RedisConnector: db must be an integer of at least 0, got '0'",
        ),
        (
            REDIS,
            {"host": ""},
            "RedisConnector: host must be a non-empty string, got ''",
        ),
        (
            REDIS,
            {"namespace": ""},
            "RedisConnector: namespace must be 1 to 100 letters, digits, '_', '.' "
            "or '-' (not starting with '.' or '-'), got ''",
        ),
        (
            REDIS,
            {"password": 1234},
            "RedisConnector: password must be a string or None, got int",
        ),
        (
            REDIS,
            {"socket_timeout": 0},
            "RedisConnector: socket_timeout must be more than 0 seconds, or None, got 0",
        ),
        (
            REDIS,
            {"socket_timeout": math.nan},
            "RedisConnector: socket_timeout must be more than 0 seconds, or None, got nan",
        ),
        (
            REDIS,
            {"socket_connect_timeout": -1},
            "RedisConnector: socket_connect_timeout must be more than 0 seconds, or None, got -1",
        ),
        (
            REDIS,
            {"health_check_after": -1},
            "RedisConnector: health_check_after must be 0 seconds or more, got -1",
        ),
        (
            REDIS,
            {"max_connections": 0},
            "RedisStoreBackend: max_connections must be an integer of at least 1, got 0",
        ),
        (
            REDIS,
            {"max_connections": 2.5},
            "RedisStoreBackend: max_connections must be an integer of at least 1, got 2.5",
        ),
        (
            REDIS,
            {"connection_timeout": -1},
            "RedisStoreBackend: connection_timeout must be more than 0 seconds, or None, got -1",
        ),
        (
            REDIS,
            {"connection_timeout": "5"},
            "RedisStoreBackend: connection_timeout must be more than 0 seconds, or None, got '5'",
        ),
        (
            REDIS,
            {"idle_timeout": 0},
            "RedisStoreBackend: idle_timeout must be more than 0 seconds, or None, got 0",
        ),
        (
            REDIS,
            {"timeout": math.nan},
            "RedisStoreBackend: timeout must be more than 0 seconds, or None, got nan",
        ),
        (
            REDIS,
            {"connection_mode": "bogus"},
            "RedisStoreBackend: connection_mode must be one of single, pooled or None, got 'bogus'",
        ),
        (
            REDIS,
            {"connection_mode": "POOLED"},
            "RedisStoreBackend: connection_mode must be one of single, pooled or None, got 'POOLED'",
        ),
        (
            REDIS,
            {"max_conections": 3},
            "RedisStoreBackend: unknown setting(s) max_conections",
        ),
        (REDIS, {"batch_size": 0}, "RedisStoreBackend: batch_size must be at least 1"),
        (
            HDFS,
            {"base_path": "relative/dir"},
            "HDFSConnector: base_path must be an absolute path (from /), got 'relative/dir'",
        ),
        (
            HDFS,
            {"base_path": None},
            "HDFSConnector: base_path must be an absolute path (from /), got None",
        ),
        (
            HDFS,
            {"port": 65536},
            "HDFSConnector: port must be an integer from 1 to 65535, got 65536",
        ),
        (
            HDFS,
            {"read_timeout": 0},
            "HDFSConnector: read_timeout must be more than 0 seconds, or None, got 0",
        ),
        (
            HDFS,
            {"connect_timeout": -2},
            "HDFSConnector: connect_timeout must be more than 0 seconds, or None, got -2",
        ),
        (
            HDFS,
            {"temp_max_age": 0},
            "HDFSConnector: temp_max_age must be more than 0 seconds, or None, got 0",
        ),
        (
            HDFS,
            {"datanode_address": ""},
            "HDFSConnector: datanode_address must be a non-empty string or None, got ''",
        ),
        (
            HDFS,
            {"max_connections": -1},
            "HDFSStoreBackend: max_connections must be an integer of at least 1, got -1",
        ),
        (
            MEMORY,
            {"idle_timeout": -5},
            "InMemoryKeyValueStoreBackend: idle_timeout must be more than 0 seconds, or None, got -5",
        ),
        (
            MEMORY,
            {"name": ""},
            "InMemoryKeyValueStoreBackend: name must be a non-empty string or None, got ''",
        ),
    ],
)
def test_wrong_setting_raises_configuration_error_when_the_store_is_built(
    klass: type[Any], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(va.ConfigurationError) as caught:
        klass(**settings)
    assert str(caught.value) == message


NAMESPACE_RULE = (
    "1 to 100 letters, digits, '_', '.' or '-' (not starting with '.' or '-')"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "engine = 'redis'\n[connector]\nnamespace = 'a:b'\npassword = 'Hunter2'\n",
            f"RedisConnector: namespace must be {NAMESPACE_RULE}, got 'a:b'",
        ),
        (
            "engine = 'redis'\n[connector]\nhealth_check_after = inf\n",
            "RedisConnector: health_check_after must be 0 seconds or more, got inf",
        ),
        (
            "engine = 'redis'\n[connector]\nusername = ''\n",
            "RedisConnector: username must be a non-empty string or None, got ''",
        ),
        (
            "engine = 'hdfs'\n[connector]\nusername = ''\n",
            "HDFSConnector: username must be a non-empty string or None, got ''",
        ),
        (
            "name = ''\n",
            "InMemoryKeyValueStoreBackend: name must be a non-empty string or None, "
            "got ''",
        ),
    ],
)
def test_checking_a_config_refuses_what_building_its_store_refuses(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "store.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, env={})
    with pytest.raises(va.ConfigurationError) as checked:
        check_store_config(config)
    with pytest.raises(va.ConfigurationError) as built:
        build_store(config)
    assert str(checked.value) == message
    assert str(built.value) == message
    assert "Hunter2" not in message


@pytest.mark.parametrize("engine", ["memory", "redis", "hdfs"])
def test_checking_a_config_starts_no_thread_and_opens_no_socket(
    monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a socket was opened: {args!r}")

    config = load_config(engine=engine, env={})
    threads = set(threading.enumerate())
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    check_store_config(config)
    assert set(threading.enumerate()) == threads


def test_store_with_right_settings_is_built_without_connecting() -> None:
    store = va.RedisStoreBackend(port=free_port(), db=3, max_connections=2)
    try:
        assert store.stats().connections_opened == 0
        assert store.stats().connect_failures == 0
    finally:
        store.close()


def test_infinite_timeouts_mean_no_timeout() -> None:
    inf = float("inf")
    store = va.RedisStoreBackend(
        port=free_port(),
        timeout=inf,
        connection_timeout=inf,
        idle_timeout=inf,
        socket_timeout=inf,
    )
    try:
        assert store.timeout is None
        assert store.manager.connection_timeout is None
        assert store.manager.idle_timeout is None
        assert va.RedisConnector(socket_timeout=inf).socket_timeout is None
    finally:
        store.close()


def test_hdfs_store_defaults_to_eight_connections() -> None:
    store = va.HDFSStoreBackend(port=free_port())
    try:
        assert store.stats().max_connections == 8
    finally:
        store.close()


@pytest.mark.redis
def test_database_the_server_lacks_is_a_configuration_error(
    redis_clean: RedisServer,
) -> None:
    store = va.RedisStoreBackend(port=redis_clean.port, db=4000, max_connections=1)
    try:
        with pytest.raises(va.ConfigurationError) as caught:
            store.count("users").get(timeout=T)
        assert (
            f"connecting to Redis at 127.0.0.1:{redis_clean.port} db 4000: the "
            "server has no database 4000 (DB index is out of range); use a db "
            "below the server's 'databases' setting"
        ) in str(caught.value)
    finally:
        store.close()


# -- hints of the Redis errors ---------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind", "hint"),
    [
        (
            rx.ConnectionError("refused"),
            va.BackendUnavailableError,
            "the Redis server cannot be reached; retry later",
        ),
        (
            rx.TimeoutError("slow"),
            va.OperationTimeoutError,
            "the Redis server did not answer in time",
        ),
        (
            rx.AuthenticationError("bad"),
            va.ConfigurationError,
            "check the Redis username and password",
        ),
        (
            rx.NoPermissionError("NOPERM"),
            va.ConfigurationError,
            "the Redis user lacks a permission these calls need; check its ACL",
        ),
        (
            rx.BusyLoadingError("LOADING"),
            va.BackendUnavailableError,
            "the Redis server is loading its data set into memory; retry shortly",
        ),
        (
            rx.ReadOnlyError("READONLY"),
            va.BackendUnavailableError,
            "the server is a read-only replica; point the store at the primary",
        ),
        (
            rx.MasterDownError("MASTERDOWN"),
            va.BackendUnavailableError,
            "the replica has lost its primary and serves no stale data; retry later or point the store at the primary",
        ),
        (
            rx.OutOfMemoryError("OOM"),
            va.BackendResponseError,
            "the Redis server reached its maxmemory limit; free memory or raise maxmemory",
        ),
        (
            rx.ResponseError("WRONGTYPE"),
            va.BackendResponseError,
            "see the Redis server's reply",
        ),
        (
            rx.RedisClusterException("cluster"),
            va.ConfigurationError,
            "Redis Cluster is not supported; point the store at a single server",
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_each_redis_error_gets_its_own_hint(
    error: Exception, kind: type[Exception], hint: str
) -> None:
    translated = translate(error, "insert_record of key 'k'", schema="s", key="k")
    assert type(translated) is kind
    assert str(translated) == f"insert_record of key 'k': {error} ({hint})"
    assert translated.__cause__ is error


def test_only_a_connection_error_says_the_server_cannot_be_reached() -> None:
    unreachable = [
        klass.__name__
        for klass in TRANSLATIONS
        if "cannot be reached" in str(translate(klass("1 h:1"), "call"))
    ]
    assert unreachable == ["ConnectionError"]
    assert set(HINTS) <= set(TRANSLATIONS)


@pytest.mark.redis
def test_write_to_a_read_only_replica_says_to_use_the_primary(
    redis_clean: RedisServer, fresh_redis: RedisServer
) -> None:
    fresh_redis.client().replicaof("127.0.0.1", redis_clean.port)
    store = va.RedisStoreBackend(port=fresh_redis.port, max_connections=1)
    try:
        assert store.count("users").get(timeout=T) == 0
        with pytest.raises(va.BackendUnavailableError) as caught:
            store.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        assert str(caught.value).endswith(
            "(the server is a read-only replica; point the store at the primary)"
        )
        assert "cannot be reached" not in str(caught.value)
        assert (caught.value.schema, caught.value.key) == ("users", "u1")
    finally:
        store.close()
