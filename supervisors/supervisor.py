"""Supervision: a housekeeping thread, restart intensity and a breaker.

A :class:`Supervisor` owns one daemon thread that runs timed callbacks: the
wait limit of queued callers, call deadlines, idle reaping and delayed
restarts. It also keeps the restart history of its children, decides how
long to wait before the next restart, and opens a circuit breaker when
children crash or lose their connection too often.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from supervisors.backoff import Backoff
from supervisors.logs import get_logger

log = get_logger("supervisors")


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart a crashed child.

    The first restart is at once; later ones wait ``backoff``. More than
    ``max_restarts`` within ``within`` seconds trips the breaker of the
    supervisor for ``cooldown`` seconds instead.
    """

    backoff: Backoff = field(default_factory=Backoff)
    max_restarts: int = 5
    within: float = 10.0
    cooldown: float = 2.0


@dataclass(frozen=True)
class BreakerPolicy:
    """When to stop sending calls to a backend that keeps failing.

    ``failure_threshold`` consecutive connection failures open the breaker;
    it stays open for a delay from ``backoff`` (growing with each opening),
    then lets one probe call through (another after ``probe_timeout`` if the
    first never reports); the first success closes it.
    """

    failure_threshold: int = 3
    probe_timeout: float = 1.0
    backoff: Backoff = field(
        default_factory=lambda: Backoff(first=0.1, base=0.1, cap=0.5, jitter=0.3)
    )


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Fails calls fast while a backend is down, probing one call at a time.

    Not thread-safe by itself: its owner calls it under its own lock.
    """

    def __init__(self, policy: BreakerPolicy, name: str) -> None:
        self.policy = policy
        self.name = name
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.openings = 0
        self.open_until = 0.0
        self.probe_in_flight = False
        self.probe_expires = 0.0
        self.last_error: str = ""

    def allow(self, now: float) -> bool:
        """Whether a new call may go to the backend now."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and now >= self.open_until:
            self.state = BreakerState.HALF_OPEN
            self.probe_in_flight = False
        if self.state is BreakerState.HALF_OPEN and (
            not self.probe_in_flight or now >= self.probe_expires
        ):
            # One probe at a time; a probe that never reports back (dropped
            # by its deadline, say) frees the slot after probe_timeout.
            self.probe_in_flight = True
            self.probe_expires = now + self.policy.probe_timeout
            return True
        return False

    def retry_in(self, now: float) -> float:
        return max(0.0, self.open_until - now)

    def success(self) -> None:
        if self.state is not BreakerState.CLOSED:
            log.info("breaker_closed", pool=self.name, openings=self.openings)
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.openings = 0
        self.probe_in_flight = False

    def failure(self, now: float, reason: str) -> None:
        self.failures += 1
        self.last_error = reason
        half_open = self.state is BreakerState.HALF_OPEN
        if half_open or self.failures >= self.policy.failure_threshold:
            self.trip(now, reason)

    def trip(self, now: float, reason: str, hold: float | None = None) -> None:
        self.openings += 1
        delay = self.policy.backoff.delay(self.openings) if hold is None else hold
        self.state = BreakerState.OPEN
        self.open_until = now + delay
        self.probe_in_flight = False
        self.last_error = reason
        log.warning(
            "breaker_opened", pool=self.name, retry_in_s=round(delay, 3), reason=reason
        )


class _Timer:
    __slots__ = ("callback", "cancelled", "owner", "when")

    def __init__(
        self, when: float, callback: Callable[[], None], owner: Supervisor | None
    ) -> None:
        self.when = when
        self.callback: Callable[[], None] | None = callback
        self.cancelled = False
        self.owner = owner

    def cancel(self) -> None:
        """Drop the callback (and what it holds) now; the entry goes later."""
        if self.cancelled:
            return
        self.cancelled = True
        self.callback = None
        owner = self.owner
        if owner is not None:
            owner._timer_cancelled()


class Supervisor:
    """Runs timed housekeeping and keeps the restart history of children."""

    def __init__(
        self,
        name: str,
        restart: RestartPolicy | None = None,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        self.name = name
        self.restart_policy = restart or RestartPolicy()
        self.breaker = CircuitBreaker(breaker or BreakerPolicy(), name)
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._cancelled = 0
        self._restarts: deque[float] = deque()
        self.restart_count = 0

    def call_at(self, when: float, callback: Callable[[], None]) -> _Timer:
        """Run ``callback`` on the housekeeping thread at monotonic ``when``."""
        timer = _Timer(when, callback, self)
        if not when < math.inf:
            timer.cancelled = True  # never due: an infinite or NaN time
            return timer
        with self._cond:
            if self._stopping:
                timer.cancelled = True
                return timer
            first = not self._heap or when < self._heap[0][0]
            heapq.heappush(self._heap, (when, next(self._seq), timer))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"supervisor-{self.name}", daemon=True
                )
                self._thread.start()
            elif first:
                # Only an earlier deadline needs to cut the current sleep short.
                self._cond.notify()
        return timer

    def _timer_cancelled(self) -> None:
        # Most deadlines are cancelled long before they are due (the call
        # finished): rebuild the heap once they are the majority, so that it
        # holds about as many entries as there are live deadlines.
        with self._cond:
            self._cancelled += 1
            if self._cancelled > 256 and self._cancelled * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        return self.call_at(time.monotonic() + delay, callback)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(min(wait, 3600.0))
                if self._stopping:
                    return
                timer = heapq.heappop(self._heap)[2]
                if timer.cancelled:
                    self._cancelled -= 1
                    continue
                timer.owner = None
            callback = timer.callback
            if callback is None:
                continue
            try:
                callback()
            except Exception:
                log.exception("supervisor_callback_failed", supervisor=self.name)

    def child_crashed(self, child: str, error: BaseException) -> float | None:
        """Record a crash; return the delay before restarting, or None.

        None means the restart intensity was exceeded: the breaker is open
        for the policy's cooldown and the child is not restarted now.
        """
        now = time.monotonic()
        policy = self.restart_policy
        self.restart_count += 1
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] > policy.within:
            self._restarts.popleft()
        recent = len(self._restarts)
        if recent > policy.max_restarts:
            log.error(
                "restart_intensity_exceeded",
                supervisor=self.name,
                child=child,
                restarts=recent,
                within_s=policy.within,
            )
            self.breaker.trip(
                now, f"{recent} restarts in {policy.within}s", policy.cooldown
            )
            return None
        delay = policy.backoff.delay(recent - 1)
        log.warning(
            "actor_restart",
            supervisor=self.name,
            child=child,
            error=repr(error),
            delay_s=round(delay, 3),
        )
        return delay

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the housekeeping thread; pending timers are dropped."""
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._cancelled = 0
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def reset_after_fork(self) -> None:
        """Forget the parent's thread and timers in a forked child."""
        self._cond = threading.Condition(threading.Lock())
        self._heap = []
        self._cancelled = 0
        self._thread = None
        self._stopping = False
