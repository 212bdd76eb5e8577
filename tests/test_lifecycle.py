"""Shutdown, interpreter exit and fork."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import volnux_actors as va
from tests.conftest import library_threads, wait_until
from tests.records_for_tests import User
from tests.servers_redis import RedisServer

T = 10.0


def test_unclosed_store_is_drained_and_closed_at_interpreter_exit(
    redis_clean: RedisServer,
) -> None:
    script = textwrap.dedent(
        f"""
        import volnux_actors as va
        from tests.records_for_tests import User
        store = va.RedisStoreBackend(port={redis_clean.port}, max_connections=2)
        for n in range(500):
            store.insert_record("exit", f"k{{n}}", User(f"k{{n}}", "x"))
        print("submitted", flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "submitted"
    assert redis_clean.client().hlen("volnux:exit") == 500


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_child_gets_fresh_connections_and_parent_keeps_working(
    redis_clean: RedisServer,
) -> None:
    store = va.RedisStoreBackend(port=redis_clean.port, max_connections=2)
    try:
        store.insert_record("fork", "parent-1", User("parent-1", "p")).get(timeout=T)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                store.insert_record("fork", "child", User("child", "c")).get(timeout=5)
                got = store.get_record("fork", User, "parent-1").get(timeout=5)
                code = 0 if got.name == "p" else 2
                store.close(2)
            finally:
                os.write(write, bytes([code]))
                os._exit(code)
        os.close(write)
        status = os.read(read, 1)
        os.waitpid(pid, 0)
        os.close(read)
        assert status == bytes([0])
        store.insert_record("fork", "parent-2", User("parent-2", "p")).get(timeout=T)
        assert store.count("fork").get(timeout=T) == 3
        assert store.stats().connections_opened <= 2
    finally:
        store.close()


def test_close_with_calls_in_flight_finishes_them_first(
    backend: str, store_factory: Any
) -> None:
    store = store_factory(backend, connection_timeout=None)
    futures = [
        store.insert_record("drain", f"k{n}", User(f"k{n}", "x")) for n in range(300)
    ]
    store.close(10)
    assert all(f.done() for f in futures)
    assert [f.exception(timeout=0) for f in futures] == [None] * 300
    assert wait_until(lambda: not library_threads(), 5)


def test_stats_report_connections_waiters_and_breaker(store: Any) -> None:
    store.insert_record("s", "k", User("k", "x")).get(timeout=T)
    # The actor marks itself idle just after it completes the future.
    assert wait_until(lambda: store.stats().connections_in_use == 0)
    stats = store.stats()
    assert stats.connections_open >= 1
    assert stats.connections_in_use == 0
    assert stats.connections_idle == stats.connections_open
    assert stats.callers_waiting == 0
    assert stats.breaker_state == "closed"
    assert set(stats.as_dict()) >= {
        "connections_opened",
        "connections_reaped",
        "restarts",
        "pool_timeouts",
        "connections_lost",
    }
