"""Shared fixtures: real servers for the whole run, stores per test."""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from supervisors import ConnectorManagerBase, PooledConnectorManager
from tests.connector_for_tests import FakeConnector, Tracker
from tests.servers_redis import RedisServer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(30),
    cache_logger_on_first_use=False,
)


def _missing(what: str) -> None:
    """A backend test without its server fails in CI and skips elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true", pytrace=False)
    pytest.skip(f"{what} not available")  # outside CI only


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        _missing("redis-server")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own (AOF on), for tests that break it."""
    if shutil.which("redis-server") is None:
        _missing("redis-server")
    server = RedisServer(appendonly=True)
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_clean(redis_server: RedisServer) -> RedisServer:
    client = redis_server.client()
    if redis_server.proc is None:
        redis_server.start()
    client.flushall()
    client.config_set("timeout", 0)
    return redis_server


@pytest.fixture(scope="session")
def hdfs_cluster() -> Iterator[Any]:
    if shutil.which("java") is None or shutil.which("mvn") is None:
        _missing("java and mvn for the MiniDFSCluster")
    from tests.servers_hdfs import MiniHdfs

    cluster = MiniHdfs()
    cluster.start(timeout=600)
    try:
        yield cluster
    finally:
        cluster.stop()


BACKENDS = ["memory", "redis", "hdfs"]


def make_store(backend: str, request: pytest.FixtureRequest, **options: Any) -> Any:
    import volnux_actors as va

    if backend == "memory":
        return va.InMemoryKeyValueStoreBackend(**options)
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_clean")
        return va.RedisStoreBackend(
            port=server.port, namespace=f"t{uuid.uuid4().hex[:8]}", **options
        )
    if backend == "hdfs":
        cluster = request.getfixturevalue("hdfs_cluster")
        return va.HDFSStoreBackend(
            host="127.0.0.1",
            port=cluster.http_port,
            username="volnux",
            base_path=f"/t{uuid.uuid4().hex[:8]}",
            **options,
        )
    raise ValueError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def store_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def factory(backend: str, **options: Any) -> Any:
        store = make_store(backend, request, **options)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


@pytest.fixture
def store(backend: str, store_factory: Callable[..., Any]) -> Any:
    return store_factory(backend)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``; returns the last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def library_threads() -> list[threading.Thread]:
    """Threads started by our actors and supervisors that are still alive."""
    names = ("ConnectorActor", "supervisor-")
    return [
        t for t in threading.enumerate() if t.is_alive() and t.name.startswith(names)
    ]


@pytest.fixture
def tracker() -> Tracker:
    return Tracker()


@pytest.fixture
def managers() -> Iterator[list[ConnectorManagerBase]]:
    """Managers a test made; closed after it, and no thread of theirs left."""
    made: list[ConnectorManagerBase] = []
    yield made
    for manager in made:
        manager.close(2)
    assert wait_until(lambda: not library_threads(), 5), library_threads()


def fake_pool(
    managers: list[ConnectorManagerBase], tracker: Tracker, **options: Any
) -> ConnectorManagerBase:
    """A pooled manager of test connectors, closed after the test."""
    manager = PooledConnectorManager(FakeConnector, {"tracker": tracker}, **options)
    managers.append(manager)
    return manager
