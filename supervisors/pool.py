"""Connection managers: one supervised actor per connection.

A manager accepts work from any thread and returns a :class:`Future` at
once. It hands the work to an idle connector actor, starts a new actor while
the pool has room, or queues the caller (first come, first served) for up to
``connection_timeout`` seconds. Actors idle longer than ``idle_timeout`` are
stopped; an actor in use is never reaped.
"""

from __future__ import annotations

import atexit
import itertools
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pykka

from supervisors.actor import ConnectorActor, Job, _Run, current_worker
from supervisors.backoff import Backoff
from supervisors.errors import DEFAULT_ERRORS, ErrorKinds
from supervisors.future import Future
from supervisors.logs import get_logger
from supervisors.supervisor import BreakerPolicy, RestartPolicy, Supervisor

log = get_logger("supervisors")

_managers: weakref.WeakSet[ConnectorManagerBase] = weakref.WeakSet()
_names = itertools.count(1)


class ConnectionMode(str, Enum):
    """How a store holds its backend connections."""

    SINGLE = "single"
    POOLED = "pooled"


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of a manager's figures; counters run from its start.

    ``actors`` is how many connector actors the pool has (each owns one
    connection); ``connections_open`` how many of those are connected now,
    ``connections_in_use`` and ``connections_idle`` how many actors are
    running calls or waiting for them. ``connections_opened`` counts every
    connection made, reconnects included; ``connections_lost`` those that
    broke under a call; ``connect_failures`` attempts that failed.
    """

    name: str
    mode: str
    max_connections: int
    actors: int
    connections_open: int
    connections_in_use: int
    connections_idle: int
    callers_waiting: int
    connections_opened: int
    connections_reaped: int
    connections_lost: int
    connect_failures: int
    restarts: int
    pool_timeouts: int
    breaker_state: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _route_key(message: Any) -> Hashable | None:
    key: Hashable | None = getattr(message, "route_key", None)
    return key


class ConnectorManagerBase:
    """Shared machinery of the single and pooled managers."""

    mode = ConnectionMode.POOLED

    def __init__(
        self,
        connector_class: Callable[..., Any],
        connector_config: Mapping[str, Any],
        max_connections: int = 10,
        connection_timeout: float | None = 5.0,
        idle_timeout: float | None = 300.0,
        *,
        name: str | None = None,
        errors: ErrorKinds = DEFAULT_ERRORS,
        restart: RestartPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        reconnect_backoff: Backoff | None = None,
        batch_size: int = 64,
        stall_timeout: float | None = 0.02,
        linger: float | None = 0.0003,
        caller_runs: bool | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if linger is not None and not 0 <= linger < math.inf:
            raise ValueError(
                f"linger must be a finite number of seconds (0 or more) or None, "
                f"got {linger!r}: an actor must not wait for ever for calls"
            )
        self.connector_class = connector_class
        self.connector_config = dict(connector_config)
        self.max_connections = max_connections
        self.connection_timeout = connection_timeout
        self.idle_timeout = idle_timeout
        self.name = name or f"pool{next(_names)}"
        self.errors = errors
        self.batch_size = batch_size
        self.stall_timeout = stall_timeout
        self.linger = linger if linger and linger > 0 else None
        if caller_runs is None:
            caller_runs = bool(getattr(connector_class, "runs_in_caller", False))
        self.caller_runs = caller_runs
        self.reconnect_backoff = reconnect_backoff or Backoff(
            first=0.0, base=0.05, cap=1.0, jitter=0.5
        )
        self.supervisor = Supervisor(self.name, restart, breaker)
        self._init_state()
        _managers.add(self)
        log.debug(
            "pool_created",
            pool=self.name,
            mode=self.mode.value,
            max_connections=max_connections,
            connection_timeout=connection_timeout,
            idle_timeout=idle_timeout,
        )

    def _init_state(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._workers: set[ConnectorActor] = set()
        self._idle: list[ConnectorActor] = []
        self._queue: deque[Job] = deque()
        self._affinity: dict[Hashable, list[Any]] = {}
        self._numbers = itertools.count(1)
        self._closed = False
        self._wait_timer_armed = False
        self._reaper_armed = False
        self._rescue_armed = False
        self._lingering: ConnectorActor | None = None
        self._progress = 0.0
        self._opened = 0
        self._reaped = 0
        self._lost = 0
        self._connect_failures = 0
        self._pool_timeouts = 0
        self._last_failure: BaseException | None = None

    # -- submitting work ------------------------------------------------

    def submit(
        self,
        message: Any,
        *,
        timeout: float | None = None,
        transform: Callable[[Any], Any] | None = None,
        direct: bool = True,
    ) -> Future[Any]:
        """Queue ``message`` for a connector actor; return its future at once.

        ``timeout`` is the call's deadline in seconds: a call still waiting
        when it passes is dropped unsent, and a call still running fails with
        the unknown-outcome error. ``transform`` turns the connector's raw
        outcome into the future's value, on the actor's thread. A call made
        on one of this pool's actor threads runs there at once, unless
        ``direct`` is False (work fanned out from a callback, which nobody
        on this thread waits for).
        """
        if _FORK_CHECK and os.getpid() != self._pid:
            self._after_fork()
        worker = current_worker()
        if direct and worker is not None and worker.manager is self:
            # A call made from inside one of our actors would wait on its own
            # mailbox; run it on this actor's connection instead.
            job = Job(self, message, Future(self.errors), None, transform, None)
            job.finish(worker.run_inline(message))
            return job.future
        now = time.monotonic()
        future: Future[Any] = Future(self.errors)
        if timeout is not None and not timeout < math.inf:
            timeout = None  # an infinite (or NaN) deadline is no deadline
        deadline = None if timeout is None else now + timeout
        job = Job(self, message, future, deadline, transform, _route_key(message))
        future.set_deadlock_guard(job)
        with self._lock:
            if self._closed:
                error: Exception = self._error(
                    self.errors.closed,
                    f"{_describe(message)}: pool {self.name} is closed; create a "
                    "new store",
                    message,
                )
                future.set_exception(error)
                return future
            breaker = self.supervisor.breaker
            if not breaker.allow(now):
                future.set_exception(self._breaker_error(now, message))
                return future
            start, fresh, batch = self._place_locked(job, now)
        if start is not None and not fresh and self.caller_runs:
            # A connector whose calls never block (memory) is borrowed from
            # its idle actor: two thread hand-offs cost more than the call.
            more = start.run_borrowed(batch)
            if more:
                start.actor_ref.tell(_Run(more))
            if future.done():
                return future
            start = None
        if deadline is not None:
            timer = self.supervisor.call_at(deadline, lambda: self._expire(job))
            future.add_done_callback(lambda _: timer.cancel())
        if start is not None:
            self._hand(start, fresh, batch)
        return future

    def _hand(self, worker: ConnectorActor, fresh: bool, batch: list[Job]) -> None:
        if fresh:
            self._spawn(worker, batch)
        else:
            worker.actor_ref.tell(_Run(batch))

    def _place_locked(
        self, job: Job, now: float
    ) -> tuple[ConnectorActor | None, bool, list[Job]]:
        key = job.route_key
        if key is not None:
            owner = self._affinity.get(key)
            if owner is not None:
                # A write on this key is in flight: follow it to its actor so
                # that calls on one key run in the order they were made.
                if job.write:
                    owner[1] += 1
                job.worker = owner[0]
                owner[0].local.append(job)
                return None, False, []
        if self._queue or self._batching_locked(now):
            self._enqueue_locked(job, now)
            lingering = self._lingering
            if lingering is not None and len(self._queue) >= lingering.linger_target:
                # The callers the actor just answered are back: wake it.
                self._lingering = None
                lingering.nudge.release()
                return None, False, []
            return self._spill_locked(now)
        worker, fresh = self._free_worker_locked()
        if worker is None:
            self._enqueue_locked(job, now)
            return None, False, []
        job.worker = worker
        if key is not None and job.write:
            self._affinity[key] = [worker, 1]
        self._progress = now
        return worker, fresh, [job]

    def _free_worker_locked(self) -> tuple[ConnectorActor | None, bool]:
        """An idle actor (most recently used first), else a new one if room.

        Returns the actor, marked busy, and whether it is new (not started).
        """
        if self._idle:
            worker = self._idle.pop()
            worker.busy = True
            return worker, False
        if len(self._workers) < self.max_connections:
            return self._new_worker_locked(), True
        return None, False

    def _batching_locked(self, now: float) -> bool:
        """Whether a new call should wait for the next batch of a busy actor.

        Waiting pays while a busy actor finished a batch within
        ``stall_timeout``: the calls then share one round trip instead of
        waking another actor, and fewer threads compete for the GIL.
        """
        stall = self.stall_timeout
        return (
            stall is not None
            and len(self._idle) < len(self._workers)
            and now - self._progress < stall
        )

    def _spill_locked(
        self, now: float
    ) -> tuple[ConnectorActor | None, bool, list[Job]]:
        """Hand the oldest waiting call to an idle or new actor, if it should."""
        if self._batching_locked(now):
            if not self._rescue_armed and self.stall_timeout is not None:
                self._rescue_armed = True
                when = self._progress + self.stall_timeout
                self.supervisor.call_at(when, self._rescue)
            return None, False, []
        queue = self._queue
        while queue and queue[0].future.done():
            queue.popleft()
        if not queue:
            return None, False, []
        worker, fresh = self._free_worker_locked()
        if worker is None:
            return None, False, []
        batch: list[Job] = []
        self._drain_locked(worker, batch, 1)
        if not batch:
            if fresh:
                self._workers.discard(worker)
            else:
                worker.busy = False
                self._idle.append(worker)
            return None, False, []
        self._progress = now
        return worker, fresh, batch

    def _rescue(self) -> None:
        # Runs when busy actors made no progress for stall_timeout: one
        # waiting call moves to another actor, then the check repeats.
        with self._lock:
            self._rescue_armed = False
            if self._closed:
                return
            worker, fresh, batch = self._spill_locked(time.monotonic())
            if worker is not None and self._queue and not self._rescue_armed:
                self._rescue_armed = True
                self.supervisor.call_later(self.stall_timeout or 0.0, self._rescue)
        if worker is not None:
            self._hand(worker, fresh, batch)

    def _enqueue_locked(self, job: Job, now: float) -> None:
        if self.connection_timeout is not None:
            job.wait_deadline = now + self.connection_timeout
            if not self._wait_timer_armed:
                self._wait_timer_armed = True
                self.supervisor.call_at(job.wait_deadline, self._expire_waiters)
        self._queue.append(job)

    def _new_worker_locked(self) -> ConnectorActor:
        connector = self.connector_class(**self.connector_config)
        worker = ConnectorActor(self, connector, next(self._numbers))
        self._workers.add(worker)
        log.debug(
            "pool_grew", pool=self.name, actor=worker.name, size=len(self._workers)
        )
        if self.idle_timeout is not None and not self._reaper_armed:
            self._reaper_armed = True
            self.supervisor.call_later(self._reap_interval(), self._reap)
        return worker

    def _spawn(self, worker: ConnectorActor, batch: list[Job]) -> None:
        # The actor object was built under the pool lock so that it is counted
        # at once; register and start it here, as pykka's start() would.
        pykka.ActorRegistry.register(worker.actor_ref)
        worker._start_actor_loop()
        worker.actor_ref.tell(_Run(batch))

    # -- called from actor threads -------------------------------------

    def _next_batch(
        self, worker: ConnectorActor, done: list[Job], *, linger: bool = True
    ) -> list[Job]:
        """The actor's next batch; an empty one means it is now idle.

        An actor that just answered several callers, and finds nothing
        waiting, lingers up to ``linger`` seconds for them to call again
        (it is woken as soon as as many calls are waiting): they then share
        one batch instead of one caller waking the actor alone, which costs
        a thread hand-off per call. A caller that borrowed the connection
        (``linger=False``) never lingers.
        """
        batch: list[Job] = []
        limit = self.batch_size
        with self._lock:
            affinity = self._affinity
            for job in done:
                key = job.route_key
                if key is not None and job.write:
                    owner = affinity.get(key)
                    if owner is not None and owner[0] is worker:
                        owner[1] -= 1
                        if owner[1] <= 0:
                            del affinity[key]
            self._gather_locked(worker, batch, limit)
            wait = self.linger if linger else None
            if (
                batch
                or wait is None
                or len(done) < 2
                or self._closed
                or self._lingering is not None
            ):
                self._settle_locked(worker, batch)
                return batch
            worker.linger_target = min(len(done), limit)
            self._lingering = worker
        try:
            woken = worker.nudge.acquire(True, wait)
        except BaseException:
            with self._lock:
                self._end_linger_locked(worker, False)
            raise
        with self._lock:
            self._end_linger_locked(worker, woken)
            self._gather_locked(worker, batch, limit)
            self._settle_locked(worker, batch)
        return batch

    def _end_linger_locked(self, worker: ConnectorActor, woken: bool) -> None:
        if self._lingering is worker:
            self._lingering = None  # nobody will release the nudge now
        elif not woken:
            worker.nudge.acquire()  # released just after the wait ended

    def _gather_locked(
        self, worker: ConnectorActor, batch: list[Job], limit: int
    ) -> None:
        local = worker.local
        while local and len(batch) < limit:
            batch.append(local.popleft())
        self._drain_locked(worker, batch, limit)

    def _settle_locked(self, worker: ConnectorActor, batch: list[Job]) -> None:
        now = time.monotonic()
        self._progress = now
        if not batch:
            worker.busy = False
            worker.idle_since = now
            if worker in self._workers:
                self._idle.append(worker)
            if self._closed:
                self._drained.notify_all()

    def _drain_locked(
        self, worker: ConnectorActor, batch: list[Job], limit: int
    ) -> None:
        """Move waiting calls to ``batch`` (up to ``limit``), oldest first.

        A call on a key whose write is in flight on another actor goes to
        that actor instead, and a write claims its key for ``worker``.
        """
        affinity = self._affinity
        queue = self._queue
        while queue and len(batch) < limit:
            job = queue.popleft()
            if job.future.done():
                continue
            key = job.route_key
            if key is not None:
                owner = affinity.get(key)
                if owner is not None and owner[0] is not worker:
                    if job.write:
                        owner[1] += 1
                    job.worker = owner[0]
                    owner[0].local.append(job)
                    continue
                if job.write:
                    if owner is None:
                        affinity[key] = [worker, 1]
                    else:
                        owner[1] += 1
            job.worker = worker
            batch.append(job)

    def _worker_stopped(self, worker: ConnectorActor) -> None:
        with self._lock:
            self._forget_locked(worker)

    def _forget_locked(self, worker: ConnectorActor) -> list[Job]:
        self._workers.discard(worker)
        if self._lingering is worker:
            self._lingering = None
        if worker in self._idle:
            self._idle.remove(worker)
        for key in [k for k, v in self._affinity.items() if v[0] is worker]:
            del self._affinity[key]
        orphans = list(worker.local)
        worker.local.clear()
        self._drained.notify_all()
        return orphans

    def _worker_crashed(self, worker: ConnectorActor, error: BaseException) -> None:
        delay = self.supervisor.child_crashed(worker.name, error)
        with self._lock:
            orphans = self._forget_locked(worker)
            for job in reversed(orphans):
                job.worker = None
                self._queue.appendleft(job)
            pending = bool(self._queue) and not self._closed
        if delay is None:
            self._fail_queue(self._breaker_error(time.monotonic()))
        elif pending:
            self.supervisor.call_later(delay, self._restart_for_queue)

    def _restart_for_queue(self) -> None:
        with self._lock:
            if self._closed or not self._queue:
                return
            if len(self._workers) >= self.max_connections:
                return
            worker = self._new_worker_locked()
            batch = self._take_locked(worker)
        if batch:
            self._spawn(worker, batch)
        else:
            with self._lock:
                self._workers.discard(worker)

    def _take_locked(self, worker: ConnectorActor) -> list[Job]:
        batch: list[Job] = []
        while self._queue and len(batch) < self.batch_size:
            job = self._queue.popleft()
            if not job.future.done():
                job.worker = worker
                batch.append(job)
        return batch

    def _fail_batch(self, batch: list[Job], error: BaseException) -> None:
        for job in batch:
            if not job.future.done():
                if job.sent:
                    failure = self._error(
                        self.errors.interrupted,
                        f"connector actor of pool {self.name} crashed while running "
                        f"{_describe(job.message)} ({error!r}); the call may or may "
                        "not have been applied",
                        job.message,
                    )
                else:
                    failure = self._error(
                        self.errors.unavailable,
                        f"{_describe(job.message)}: connector actor of pool "
                        f"{self.name} crashed before the call was sent: {error!r}",
                        job.message,
                    )
                job.future.set_exception(failure)

    def _connection_result(
        self,
        worker: ConnectorActor,
        problem: str | None,
        *,
        counted: bool = True,
        replaced: int = 0,
        failure: BaseException | None = None,
    ) -> None:
        """Feed the breaker: None for a working connection, else the problem.

        ``counted=False`` reports a call refused by an actor's own backoff:
        it frees a half-open probe slot but is no new evidence of failure.
        ``replaced`` counts connections the connector lost and replaced by
        itself while running the batch.
        """
        now = time.monotonic()
        with self._lock:
            if replaced > 0:
                # The connector reconnected by itself within the batch.
                self._lost += replaced
                self._opened += replaced
            breaker = self.supervisor.breaker
            if problem is None:
                self._last_failure = None
                if breaker.failures or breaker.state.value != "closed":
                    breaker.success()
                    # The backend answered: actors still backing off from
                    # the outage may reconnect at once.
                    for other in self._workers:
                        other.next_connect_at = 0.0
                return
            if not counted:
                if breaker.state.value == "half_open":
                    breaker.probe_in_flight = False
                return
            if failure is not None:
                self._last_failure = failure
            if problem == "lost" and self._closed:
                # close() cut it: no news about the backend.
                log.debug("connection_cut", pool=self.name, actor=worker.name)
                return
            if problem == "lost":
                self._lost += 1
                log.warning("connection_lost", pool=self.name, actor=worker.name)
            else:
                self._connect_failures += 1
            breaker.failure(now, problem)

    def _connected(self, worker: ConnectorActor) -> None:
        del worker
        with self._lock:
            self._opened += 1

    # -- timers ---------------------------------------------------------

    def _expire(self, job: Job) -> None:
        job.future.expire(lambda sent: self._deadline_error(job, sent))

    def _deadline_error(self, job: Job, sent: bool) -> Exception:
        what = _describe(job.message)
        if not sent:
            return self._error(
                self.errors.call_timeout,
                f"{what}: deadline passed while it waited; the call was not sent "
                f"(pool {self.name}), so nothing was applied",
                job.message,
            )
        if getattr(job.message, "is_write", True):
            return self._error(
                self.errors.unknown_outcome,
                f"{what}: deadline passed after the call was sent (pool "
                f"{self.name}); its outcome is unknown, so read before writing "
                "again",
                job.message,
            )
        return self._error(
            self.errors.call_timeout,
            f"{what}: deadline passed while the backend was answering (pool "
            f"{self.name})",
            job.message,
        )

    def _error(self, kind: type[Exception], text: str, message: Any) -> Exception:
        """An error of ``kind`` carrying the message's schema and key."""
        context = getattr(message, "context", None)
        fields: dict[str, Any] = context() if callable(context) else {}
        try:
            return kind(text, **fields)
        except TypeError:
            return kind(text)

    def for_job(self, error: BaseException, message: Any) -> BaseException:
        """A copy of a shared ``error`` naming this message's schema and key."""
        context = getattr(message, "context", None)
        if not callable(context) or getattr(error, "key", None) is not None:
            return error
        try:
            copy = type(error)(f"{_describe(message)}: {error}", **context())
        except TypeError:
            return error
        copy.__cause__ = error
        return copy

    def _expire_waiters(self) -> None:
        now = time.monotonic()
        expired: list[Job] = []
        with self._lock:
            queue = self._queue
            while queue and (
                queue[0].future.done()
                or (
                    queue[0].wait_deadline is not None and queue[0].wait_deadline <= now
                )
            ):
                expired.append(queue.popleft())
            if queue and queue[0].wait_deadline is not None:
                self.supervisor.call_at(queue[0].wait_deadline, self._expire_waiters)
            else:
                self._wait_timer_armed = False
            self._pool_timeouts += sum(1 for job in expired if not job.future.done())
            in_use = len(self._workers) - len(self._idle)
        for job in expired:
            if job.future.done():
                continue
            job.future.set_exception(
                self._error(
                    self.errors.pool_timeout,
                    f"{_describe(job.message)}: no connection of pool {self.name} "
                    f"became free within {self.connection_timeout}s "
                    f"({in_use} of max_connections={self.max_connections} in use); "
                    "raise max_connections or connection_timeout, or send fewer "
                    "calls at once",
                    job.message,
                )
            )

    def _reap_interval(self) -> float:
        assert self.idle_timeout is not None
        return max(0.02, min(self.idle_timeout / 4, 5.0))

    def _reap(self) -> None:
        if self.idle_timeout is None:
            return
        now = time.monotonic()
        victims: list[ConnectorActor] = []
        with self._lock:
            if self._closed:
                return
            for worker in list(self._idle):
                # Only idle actors are candidates, and they are taken out of
                # the idle list under the lock, so none can be handed out.
                if now - worker.idle_since >= self.idle_timeout:
                    self._idle.remove(worker)
                    self._workers.discard(worker)
                    victims.append(worker)
            self._reaped += len(victims)
            size = len(self._workers)
            if size:
                self.supervisor.call_later(self._reap_interval(), self._reap)
            else:
                self._reaper_armed = False
        for worker in victims:
            log.debug("idle_reaped", pool=self.name, actor=worker.name, size=size)
            worker.actor_ref.stop(block=False)
        if victims:
            log.debug("pool_shrank", pool=self.name, size=size)

    # -- errors -----------------------------------------------------------

    def _unavailable_error(self, reason: str) -> Exception:
        return self.errors.unavailable(f"pool {self.name}: {reason}")

    def _breaker_error(self, now: float, message: Any = None) -> Exception:
        breaker = self.supervisor.breaker
        what = "" if message is None else f"{_describe(message)}: "
        kind: type[Exception] = self.errors.unavailable
        last = self._last_failure
        if isinstance(last, Exception) and getattr(last, "permanent", False):
            # A configuration fault will not pass by waiting: say so.
            kind = type(last)
        error = self._error(
            kind,
            f"{what}backend of pool {self.name} is marked unavailable after "
            f"repeated failures ({breaker.last_error}); the next probe is in "
            f"{breaker.retry_in(now):.2f}s; retry later",
            message,
        )
        return error

    def _fail_queue(self, error: Exception) -> None:
        with self._lock:
            jobs = list(self._queue)
            self._queue.clear()
        for job in jobs:
            job.future.set_exception(error)

    # -- lifecycle --------------------------------------------------------

    def stats(self) -> PoolStats:
        """Figures of this pool right now."""
        with self._lock:
            size = len(self._workers)
            idle = len(self._idle)
            return PoolStats(
                name=self.name,
                mode=self.mode.value,
                max_connections=self.max_connections,
                actors=size,
                connections_open=sum(
                    1 for w in self._workers if w.connector.is_connected()
                ),
                connections_in_use=size - idle,
                connections_idle=idle,
                callers_waiting=sum(1 for j in self._queue if not j.future.done()),
                connections_opened=self._opened,
                connections_reaped=self._reaped,
                connections_lost=self._lost,
                connect_failures=self._connect_failures,
                restarts=self.supervisor.restart_count,
                pool_timeouts=self._pool_timeouts,
                breaker_state=self.supervisor.breaker.state.value,
            )

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, timeout: float = 5.0) -> None:
        """Drain in-flight work for up to ``timeout`` s, then stop every actor.

        Calls still waiting when the time is up fail with the closed error;
        calls still running fail with the unknown-outcome error and their
        connections are cut, so that no actor stays blocked on a socket.
        Returns once every actor thread and the housekeeping thread ended.
        """
        deadline = time.monotonic() + timeout
        me = current_worker()
        with self._lock:
            if self._closed and not self._workers:
                return
            self._closed = True
            lingering, self._lingering = self._lingering, None
            if lingering is not None:
                lingering.nudge.release()
            # From a callback on one of our actors, that actor is busy
            # running us: do not wait for it.
            while self._busy_locked(me) and time.monotonic() < deadline:
                self._drained.wait(max(0.0, deadline - time.monotonic()))
            leftovers = list(self._queue)
            self._queue.clear()
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
        for job in leftovers:
            job.future.set_exception(self._closed_error(job))
        for worker in workers:
            for job in [*worker.local, *worker.current]:
                self._close_job(job)
            if worker.busy and worker is not me:
                worker.abort()
            try:
                worker.actor_ref.stop(block=False)
            except Exception:
                log.debug("actor_already_stopped", actor=worker.name)
        for worker in workers:
            thread = worker.thread
            # An actor lent to this thread stops once this thread returns.
            if (
                thread is not None
                and worker is not me
                and thread is not threading.current_thread()
            ):
                thread.join(max(0.5, deadline - time.monotonic()))
        self.supervisor.stop(max(0.5, deadline - time.monotonic()))
        log.debug("pool_closed", pool=self.name, actors=len(workers))

    def _close_job(self, job: Job) -> None:
        job.future.expire(lambda sent: self._closed_error(job, sent))

    def _closed_error(self, job: Job, sent: bool = False) -> Exception:
        what = _describe(job.message)
        if sent and getattr(job.message, "is_write", True):
            return self._error(
                self.errors.interrupted,
                f"{what}: pool {self.name} was closed while the call was running; "
                "its outcome is unknown, so read before writing again",
                job.message,
            )
        return self._error(
            self.errors.closed,
            f"{what}: pool {self.name} was closed before the call completed",
            job.message,
        )

    def _busy_locked(self, skip: ConnectorActor | None = None) -> bool:
        if self._queue:
            return True
        return any(w.busy for w in self._workers if w is not skip)

    def _after_fork(self) -> None:
        # The child inherits copies of the parent's actors' state but not
        # their threads. Drop them without closing: their sockets are shared
        # with the parent, which keeps using them.
        closed = self._closed
        self.supervisor.reset_after_fork()
        self._init_state()
        self._closed = closed
        log.debug("pool_reset_after_fork", pool=self.name, pid=self._pid)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} max={self.max_connections}>"


def _describe(message: Any) -> str:
    describe = getattr(message, "describe", None)
    if callable(describe):
        return str(describe())
    return type(message).__name__


class PooledConnectorManager(ConnectorManagerBase):
    """A pool of up to ``max_connections`` connections, each its own actor.

    ``connection_timeout`` is how long a caller that finds the pool full may
    wait for a free connection (None waits until its own deadline);
    ``idle_timeout`` is how long a connection may sit unused before it is
    closed (None keeps it).

    Calls that arrive while a connection is busy and making progress wait
    for its next batch, so that they share one round trip, rather than wake
    another connection. Another connection is used when the busy ones have
    not finished a batch for ``stall_timeout`` seconds (a slow call). With
    ``stall_timeout=None`` every call goes to a free connection at once.
    An actor that answered several calls and finds none waiting waits up
    to ``linger`` seconds for its callers' next calls (None: go idle).
    """

    mode = ConnectionMode.POOLED


class SingleConnectorManager(ConnectorManagerBase):
    """One shared connection, owned by one actor; calls queue for it."""

    mode = ConnectionMode.SINGLE

    def __init__(
        self,
        connector_class: Callable[..., Any],
        connector_config: Mapping[str, Any],
        connection_timeout: float | None = None,
        idle_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("max_connections", None)
        super().__init__(
            connector_class,
            connector_config,
            1,
            connection_timeout,
            idle_timeout,
            **kwargs,
        )


class ConnectorManagerFactory:
    """Builds the right manager for a connector class and a mode."""

    @classmethod
    def create_manager(
        cls,
        connector_class: Callable[..., Any],
        connector_config: Mapping[str, Any],
        connection_mode: ConnectionMode | str | None = None,
        **kwargs: Any,
    ) -> ConnectorManagerBase:
        """Create a manager; with no mode, use the connector's preference.

        A connector class says which mode suits it with a
        ``default_connection_mode`` attribute (a process-local backend wants
        ``SINGLE``, a network backend ``POOLED``); the choice is logged.
        """
        chosen = connection_mode
        picked = chosen is None
        if chosen is None:
            chosen = getattr(
                connector_class, "default_connection_mode", ConnectionMode.POOLED
            )
        mode = ConnectionMode(chosen)
        manager_class: type[ConnectorManagerBase] = (
            SingleConnectorManager
            if mode is ConnectionMode.SINGLE
            else PooledConnectorManager
        )
        manager = manager_class(connector_class, connector_config, **kwargs)
        log.info(
            "connection_mode_picked" if picked else "connection_mode_set",
            pool=manager.name,
            connector=getattr(connector_class, "__name__", str(connector_class)),
            mode=mode.value,
        )
        return manager


def close_all(timeout: float = 2.0) -> None:
    """Close every manager still open (run at interpreter exit)."""
    for manager in list(_managers):
        if not manager.closed:
            manager.close(timeout)


def _reset_in_child() -> None:
    for manager in list(_managers):
        manager._after_fork()


atexit.register(close_all)
_FORK_CHECK = not hasattr(os, "register_at_fork")
"""Whether each call must compare process ids itself (a syscall per call)."""
if hasattr(os, "register_at_fork"):
    # Locks held by the parent's threads at fork time would never be
    # released in the child: give every manager fresh state at once.
    os.register_at_fork(after_in_child=_reset_in_child)
