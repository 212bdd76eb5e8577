"""A small connector of our own for pool and supervisor tests.

Backend behaviour is always tested on real servers; this connector only
lets tests hold a connection, crash an actor or count connections.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tracker:
    """Counts what the test connectors did, across all of them."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    open_now: int = 0
    open_max: int = 0
    connects: int = 0
    order: list[Any] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    overlaps: int = 0
    """Times a connector was entered, or disconnected, while in use."""
    threads: list[int] = field(default_factory=list)
    """The thread that ran each batch, in order."""


@dataclass(frozen=True)
class Echo:
    value: Any
    route_key: Any = None
    is_write: bool = False

    def describe(self) -> str:
        return f"echo {self.value!r}"


@dataclass(frozen=True)
class Hold:
    """Keep the connection until ``release`` is set (or ``seconds`` pass)."""

    value: Any
    release: threading.Event | None = None
    seconds: float = 0.0
    started: threading.Event | None = None
    is_write: bool = False

    def describe(self) -> str:
        return f"hold {self.value!r}"


@dataclass(frozen=True)
class Crash:
    """Raise out of the connector: the actor dies and must be restarted."""

    describe_text: str = "crash"

    def describe(self) -> str:
        return self.describe_text


class Interrupted(BaseException):
    """Like KeyboardInterrupt, but raised only by tests."""


@dataclass(frozen=True)
class Interrupt:
    """Raise :class:`Interrupted` out of the connector."""

    def describe(self) -> str:
        return "interrupt"


@dataclass(frozen=True)
class Call:
    """Run ``func(connector)`` on the actor's thread."""

    func: Any
    route_key: Any = None
    is_write: bool = True

    def describe(self) -> str:
        return "call"


class FakeConnector:
    def __init__(self, tracker: Tracker, fail_connect: bool = False) -> None:
        self.tracker = tracker
        self.fail_connect = fail_connect
        self.connected = False
        self.using = 0
        self.user: int | None = None

    def connect(self) -> None:
        if self.fail_connect:
            raise ConnectionRefusedError("refused by the test")
        with self.tracker.lock:
            self.tracker.connects += 1
            self.tracker.open_now += 1
            self.tracker.open_max = max(self.tracker.open_max, self.tracker.open_now)
        self.connected = True

    def disconnect(self) -> None:
        if self.connected:
            with self.tracker.lock:
                self.tracker.open_now -= 1
                if self.using:
                    self.tracker.overlaps += 1
        self.connected = False

    def is_connected(self) -> bool:
        return self.connected

    def run_batch(self, messages: Sequence[Any]) -> list[Any]:
        tracker = self.tracker
        with tracker.lock:
            tracker.batches.append(len(messages))
            me = threading.get_ident()
            tracker.threads.append(me)
            if self.using and self.user != me:
                tracker.overlaps += 1  # a nested call on one thread is fine
            self.using += 1
            self.user = me
        try:
            return self._run(messages)
        finally:
            with tracker.lock:
                self.using -= 1

    def _run(self, messages: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for message in messages:
            if isinstance(message, Crash):
                raise RuntimeError("connector blew up")
            if isinstance(message, Interrupt):
                raise Interrupted("interrupted by the test")
            if isinstance(message, Hold):
                if message.started is not None:
                    message.started.set()
                if message.release is not None:
                    message.release.wait(30)
                elif message.seconds:
                    time.sleep(message.seconds)
            if isinstance(message, Call):
                out.append(message.func(self))
                continue
            with self.tracker.lock:
                self.tracker.order.append(message.value)
            out.append(message.value)
        return out


def busy_then_seven(manager: Any, timeout: float = 10.0) -> list[Any]:
    """One held call, then seven answered in one batch; returns the futures."""
    release = threading.Event()
    started = threading.Event()
    first = manager.submit(Hold("first", release, started=started))
    assert started.wait(timeout)
    seven = [manager.submit(Echo(n)) for n in range(7)]
    release.set()
    return [first, *seven]
