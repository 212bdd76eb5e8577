"""The Redis reply reader (RedisConnector._exchange) under partial and late replies.

Some tests put a scripted fake server behind a connector that first connected
(handshake, script load) to the real redis-server: the connector's socket is
swapped for one end of a socketpair, so every byte the "server" sends, and
when, is decided by the test: no sleeps, no races.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator

import pytest

import volnux_actors as va
from tests.records_for_tests import Run
from tests.servers_redis import RedisServer
from volnux_actors import messages as m
from volnux_actors.connectors.redis import RedisConnector

pytestmark = pytest.mark.redis
T = 5.0


class ScriptedServer:
    """The server end of a socketpair; the test decides every byte it sends."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(T)
        self.received = b""

    def wait_for(self, marker: bytes, count: int = 1) -> None:
        """Read what the client sent until ``marker`` was seen ``count`` times."""
        while self.received.count(marker) < count:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("client closed before sending the marker")
            self.received += data

    def wait_closed(self) -> None:
        """Read until the client closes its end."""
        while data := self.sock.recv(65536):
            self.received += data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


@pytest.fixture
def scripted(
    redis_clean: RedisServer,
) -> Iterator[tuple[RedisConnector, ScriptedServer]]:
    connector = RedisConnector(
        port=redis_clean.port, socket_timeout=0.3, health_check_after=3600.0
    )
    connector.connect()
    conn = connector._conn
    assert conn is not None
    client_end, server_end = socket.socketpair()
    client_end.settimeout(0.3)  # what socket_timeout set on the real socket
    real = conn._sock
    conn._sock = client_end
    assert real is not None
    real.close()
    server = ScriptedServer(server_end)
    try:
        yield connector, server
    finally:
        connector.disconnect()
        server_end.close()


def test_noscript_fallback_after_a_timeout_never_reads_a_stale_reply(
    scripted: tuple[RedisConnector, ScriptedServer],
) -> None:
    connector, server = scripted
    outcome: dict[str, object] = {}

    def run() -> None:
        outcome["results"] = connector.run_batch(
            [m.Delete("users", "gone"), m.Get("users", "other")]
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    server.wait_for(b"HGET")  # the whole pipeline: EVALSHA (delete), HGET
    # The script cache was flushed: NOSCRIPT for the delete. The HGET's
    # reply is late: half of it now, and the client's socket read times out.
    server.send(b"-NOSCRIPT No matching script. Please use EVAL.\r\n$5\r\nhel")
    # The timed-out connection is dropped before anything else is sent on
    # it: the scripted server sees it close, and the EVAL goes out on a
    # fresh connection to the real server, where "gone" does not exist.
    server.wait_closed()
    thread.join(T)
    assert not thread.is_alive()
    results = outcome["results"]
    assert isinstance(results, list)
    assert b"EVAL\r\n" not in server.received.replace(b"EVALSHA", b"")
    # The delete's outcome comes from a reply to the delete, never from the
    # HGET's late bytes b"hello" (which would read as "deleted").
    assert isinstance(results[0], va.ObjectDoesNotExist), results
    # The read whose reply was cut is retried once on the fresh connection.
    assert results[1] is None or isinstance(results[1], va.ObjectDoesNotExist), results


def test_an_error_reply_in_the_middle_of_a_pipeline_leaves_nothing_behind(
    redis_clean: RedisServer,
) -> None:
    # HGET on a key of the wrong type fails alone; the replies behind it
    # (including a value far larger than one 64 KiB read) stay in step, and
    # the next call on the same connection reads its own reply.
    client = redis_clean.client()
    big = bytes(range(256)) * 1200  # 300 KiB
    client.hset("volnux:users", mapping={"a": b"A", "big": big, "c": b"C"})
    client.set("volnux:wrong", "a string")
    connector = RedisConnector(port=redis_clean.port, health_check_after=3600.0)
    try:
        results = connector.run_batch(
            [
                m.Get("users", "a"),
                m.Get("wrong", "x"),
                m.Get("users", "big"),
                m.Count("users"),
                m.Get("users", "c"),
            ]
        )
        assert results[0] == b"A"
        assert isinstance(results[1], va.BackendResponseError)
        assert "WRONGTYPE" in str(results[1])
        assert results[2] == big
        assert results[3] == 3
        assert results[4] == b"C"
        lost = connector.connections_lost
        assert connector.run_batch([m.Get("users", "c"), m.Get("users", "a")]) == [
            b"C",
            b"A",
        ]
        assert connector.connections_lost == lost
    finally:
        connector.disconnect()


def test_two_noscript_replies_and_a_lost_link_fail_only_those_calls(
    scripted: tuple[RedisConnector, ScriptedServer],
) -> None:
    connector, server = scripted
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["results"] = connector.run_batch(
                [m.Delete("users", "a"), m.Delete("users", "b")]
            )
        except BaseException as error:
            outcome["raised"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    server.wait_for(b"EVALSHA", 2)
    server.send(b"-NOSCRIPT No matching script.\r\n" * 2)
    server.wait_for(b"$4\r\nEVAL\r\n")  # the first fallback is sent...
    server.sock.shutdown(socket.SHUT_RDWR)  # ...and the link goes down
    thread.join(T)
    assert not thread.is_alive()
    assert "raised" not in outcome, repr(outcome.get("raised"))
    results = outcome["results"]
    assert isinstance(results, list)
    # The first EVAL was sent when the link went: outcome unknown. The second
    # was never sent: unknown as well, or run on a fresh connection.
    assert isinstance(results[0], va.OutcomeUnknownError), results
    assert isinstance(results[1], va.OutcomeUnknownError | va.ObjectDoesNotExist), (
        results
    )


def test_after_a_restart_reads_and_script_writes_give_exact_results(
    fresh_redis: RedisServer,
) -> None:
    # The restart closes the connection (found by the idle check, or by the
    # read: a read is retried) and empties the script cache (reloaded on
    # connect, so EVALSHA does not hit NOSCRIPT).
    connector = RedisConnector(port=fresh_redis.port, health_check_after=3600.0)
    try:
        connector.insert("users", "u1", b"one", ())
        assert connector.get("users", "u1") == b"one"
        fresh_redis.stop()
        fresh_redis.start()
        assert connector.get("users", "u1") == b"one"  # AOF kept it
        connector.update("users", "u1", b"two", ())
        connector.delete("users", "u1")
        results = connector.run_batch(
            [m.Get("users", "u1"), m.Insert("users", "u2", b"x"), m.Count("users")]
        )
        assert isinstance(results[0], va.ObjectDoesNotExist)
        assert results[1:] == [None, 1]
    finally:
        connector.disconnect()


class Interrupted(BaseException):
    """What a signal handler raises (like KeyboardInterrupt on Ctrl-C)."""


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_an_interrupted_read_never_hands_its_reply_to_the_next_call(
    scripted: tuple[RedisConnector, ScriptedServer],
) -> None:
    # Direct use of a connector on the main thread (the CLI, a notebook):
    # Ctrl-C during a slow read, then the next call.
    assert threading.current_thread() is threading.main_thread()
    connector, server = scripted
    assert connector._conn is not None and connector._conn._sock is not None
    connector._conn._sock.settimeout(T)

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    def serve_half_then_interrupt() -> None:
        server.wait_for(b"HGET")
        server.send(b"$5\r\nhel")  # half of the first reply
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        helper = threading.Thread(target=serve_half_then_interrupt, daemon=True)
        helper.start()
        with pytest.raises(Interrupted):
            connector.get("users", "old")
        helper.join(T)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    outcome: dict[str, object] = {}

    def second_call() -> None:
        try:
            outcome["value"] = connector.get("users", "new")
        except BaseException as error:
            outcome["value"] = error

    caller = threading.Thread(target=second_call, daemon=True)
    caller.start()
    if connector._conn is not None and connector._conn._sock is server.sock.__class__:
        pass
    # If the call still goes to the scripted socket, the rest of the old
    # reply arrives first, then the new call's own reply.
    try:
        server.wait_for(b"HGET", 2)
        server.send(b"lo\r\n$3\r\nnew\r\n")
    except (AssertionError, OSError, TimeoutError):
        pass  # the connector reconnected to the real server instead
    caller.join(T)
    assert not caller.is_alive()
    assert outcome["value"] != b"hello", "the next call got the old call's reply"


def test_an_error_reply_to_a_scan_keeps_the_connection(
    redis_clean: RedisServer,
) -> None:
    # The schema's key holds a string: Redis answers HSCAN with WRONGTYPE.
    # That is an answer, not a broken link: no reconnect, no lost connection.
    client = redis_clean.client()
    client.set("volnux:W", "a string")
    with va.RedisStoreBackend(port=redis_clean.port, max_connections=1) as store:
        for _ in range(5):
            error = store.filter_record("W", Run).exception(timeout=T)
            assert isinstance(error, va.BackendResponseError)
            assert "WRONGTYPE" in str(error)
            assert "'W'" in str(error)
        stats = store.stats()
        assert (stats.connections_lost, stats.connections_opened) == (0, 1)
        assert store.count("other").get(timeout=T) == 0
        names = [c.get("name") for c in client.client_list()]
        assert names.count("volnux-actors") == 1
