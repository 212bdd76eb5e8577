"""The actor that owns one connection and runs work on it."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pykka

from supervisors.future import Future
from supervisors.logs import get_logger

if TYPE_CHECKING:
    from supervisors.pool import ConnectorManagerBase

log = get_logger("supervisors")


class _ThreadState(threading.local):
    # A class attribute: threads that never set it read None without the
    # cost of a failed attribute lookup on every call.
    worker: ConnectorActor | None = None


_local = _ThreadState()


class Connector(Protocol):
    """What a pooled connection must offer: one connection, run in batches."""

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def is_connected(self) -> bool: ...

    def run_batch(self, messages: Sequence[Any]) -> list[Any]:
        """Run ``messages`` in order; one outcome each.

        An outcome that is an exception instance is that message's failure;
        one bad message must not fail the others. A connector whose
        connection broke reports it through :meth:`is_connected` afterwards.
        """
        ...


class Job:
    """One call waiting for, or running on, a connection."""

    __slots__ = (
        "deadline",
        "future",
        "manager",
        "message",
        "route_key",
        "sent",
        "transform",
        "wait_deadline",
        "worker",
        "write",
    )

    def __init__(
        self,
        manager: ConnectorManagerBase,
        message: Any,
        future: Future[Any],
        deadline: float | None,
        transform: Callable[[Any], Any] | None,
        route_key: Hashable | None,
    ) -> None:
        self.manager = manager
        self.message = message
        self.future = future
        self.deadline = deadline
        self.transform = transform
        self.route_key = route_key
        self.write: bool = getattr(message, "is_write", True)
        self.wait_deadline: float | None = None
        self.worker: ConnectorActor | None = None
        self.sent = False

    def waits_on_itself(self) -> bool:
        """True when the current thread is the only one that can finish us."""
        worker = current_worker()
        if worker is None or worker.manager is not self.manager:
            return False
        return self.worker is worker or self.manager.max_connections == 1

    def finish(self, outcome: Any) -> None:
        future = self.future
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
            return
        if self.transform is not None:
            try:
                outcome = self.transform(outcome)
            except Exception as error:
                future.set_exception(error)
                return
        future.set(outcome)


def current_worker() -> ConnectorActor | None:
    """The connector actor running on this thread, if any."""
    return _local.worker


class _Run:
    __slots__ = ("batch",)

    def __init__(self, batch: list[Job]) -> None:
        self.batch = batch


class _Crash:
    """Tells an actor to fail with an error its connector raised elsewhere."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ConnectorActor(pykka.ThreadingActor):
    """Owns one connector; runs batches of jobs handed to it by its manager.

    After each batch the actor asks its manager for more work directly, so
    that a busy actor keeps draining the queue without a mailbox round trip.
    """

    use_daemon_thread = True

    def __init__(
        self, manager: ConnectorManagerBase, connector: Connector, number: int
    ) -> None:
        super().__init__()
        self.manager = manager
        self.connector = connector
        self.number = number
        self.name = f"{manager.name}-{number}"
        self.busy = True
        self.idle_since = time.monotonic()
        self.local: deque[Job] = deque()
        self.current: list[Job] = []
        self.thread: threading.Thread | None = None
        # Held by a caller running a batch on the lent connector: the actor
        # must not disconnect it (close() stopping it) under that caller.
        self.lent = threading.Lock()
        # Held except while the pool wakes this actor from a linger.
        self.nudge = threading.Lock()
        self.nudge.acquire()
        self.linger_target = 0
        self.connect_failures = 0
        self.next_connect_at = 0.0
        self.last_connect_error: BaseException | None = None

    def on_start(self) -> None:
        self.thread = threading.current_thread()
        _local.worker = self
        log.debug("actor_started", actor=self.name)

    def on_stop(self) -> None:
        self._disconnect()
        log.debug("actor_stopped", actor=self.name)
        self.manager._worker_stopped(self)

    def on_failure(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self._disconnect()
        error = exc_value if isinstance(exc_value, BaseException) else RuntimeError()
        log.error("actor_crashed", actor=self.name, error=repr(error))
        self.manager._worker_crashed(self, error)

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, _Run):
            if isinstance(message, _Crash):
                error = message.error
                if isinstance(error, Exception):
                    raise error
                # pykka stops every actor of the process on a BaseException
                # (an interrupt the lending caller got): crash this one only.
                raise RuntimeError(f"interrupted while lent: {error!r}") from error
            return super().on_receive(message)
        batch: list[Job] | None = message.batch
        while batch:
            self.current = batch
            try:
                self._execute(batch)
            except BaseException as error:
                self.manager._fail_batch(batch, error)
                raise
            batch = self.manager._next_batch(self, batch)
        self.current = []
        return None

    def _execute(self, batch: list[Job]) -> None:
        manager = self.manager
        live = [job for job in batch if not job.future.done()]
        if not live:
            return
        error = self._ensure_connected(time.monotonic())
        if error is not None:
            for job in live:
                job.future.set_exception(manager.for_job(error, job.message))
            return
        # Connecting may have taken a while: the deadline check and the
        # claim come after it, right before sending. Future.start() and the
        # deadline timer decide under the future's lock, so a call reported
        # "not sent" is never sent.
        now = time.monotonic()
        ready: list[Job] = []
        for job in live:
            if job.deadline is not None and job.deadline <= now:
                manager._expire(job)
            elif job.future.start():
                job.sent = True
                ready.append(job)
        live = ready
        if not live:
            return
        lost_before = getattr(self.connector, "connections_lost", 0)
        outcomes = self.connector.run_batch([job.message for job in live])
        lost = getattr(self.connector, "connections_lost", 0) - lost_before
        broken = not self.connector.is_connected()
        self.manager._connection_result(
            self, "lost" if broken else None, replaced=lost - int(broken)
        )
        now = time.monotonic()
        for job, outcome in zip(live, outcomes, strict=True):
            if job.deadline is not None and job.deadline <= now:
                # Passed while it ran; a lent call has no deadline timer.
                manager._expire(job)
            else:
                job.finish(outcome)

    def _ensure_connected(self, now: float) -> BaseException | None:
        if self.connector.is_connected():
            return None
        if now < self.next_connect_at:
            reason = (
                f"reconnect of {self.name} is backing off for "
                f"{self.next_connect_at - now:.2f}s after "
                f"{self.connect_failures} failed attempts"
            )
            self.manager._connection_result(self, reason, counted=False)
            last = self.last_connect_error
            if last is not None and getattr(last, "permanent", False):
                # Not a passing outage (a wrong password, say): keep saying
                # what is wrong instead of "backing off".
                try:
                    return type(last)(f"{reason}; last attempt: {last}")
                except TypeError:
                    pass
            return self.manager._unavailable_error(reason)
        try:
            self.connector.connect()
        except Exception as error:
            self.last_connect_error = error
            self.connect_failures += 1
            delay = self.manager.reconnect_backoff.delay(self.connect_failures)
            self.next_connect_at = now + delay
            log.warning(
                "connect_failed",
                actor=self.name,
                attempt=self.connect_failures,
                retry_in_s=round(delay, 3),
                error=str(error),
            )
            self.manager._connection_result(self, str(error), failure=error)
            return error
        if self.connect_failures:
            log.info("reconnected", actor=self.name, attempts=self.connect_failures)
        else:
            log.debug("connected", actor=self.name)
        # Held except while the pool wakes this actor from a linger.
        self.nudge = threading.Lock()
        self.nudge.acquire()
        self.linger_target = 0
        self.connect_failures = 0
        self.next_connect_at = 0.0
        self.last_connect_error = None
        self.manager._connected(self)
        return None

    def _disconnect(self) -> None:
        with self.lent:
            try:
                if self.connector.is_connected():
                    self.connector.disconnect()
                    log.debug("disconnected", actor=self.name)
            except Exception as error:
                log.warning("disconnect_failed", actor=self.name, error=str(error))

    def abort(self) -> None:
        """Cut the connection from another thread, waking a blocked call."""
        abort = getattr(self.connector, "abort", None)
        if callable(abort):
            try:
                abort()
            except Exception as error:
                log.warning("abort_failed", actor=self.name, error=str(error))

    def run_borrowed(self, batch: list[Job]) -> list[Job]:
        """Run ``batch`` in the calling thread; return the actor's next batch.

        The pool calls this only for an actor it has just marked busy for
        this batch, so the connection is used by one thread at a time, as
        if the actor ran it. If the connector raises, the batch fails and
        the actor is told to crash with the error, so its supervisor
        restarts it as after any crash.
        """
        manager = self.manager
        self.current = batch
        # While lent, this thread stands for the actor: a call the connector
        # makes on its own store runs inline, as on the actor's thread.
        caller = _local.worker
        _local.worker = self
        try:
            with self.lent:
                self._execute(batch)
        except BaseException as error:
            manager._fail_batch(batch, error)
            self.actor_ref.tell(_Crash(error))
            if not isinstance(error, Exception):
                raise
            return []
        finally:
            self.current = []
            _local.worker = caller
        return manager._next_batch(self, batch, linger=False)

    def run_inline(self, message: Any) -> Any:
        """Run one message on this actor's connection, in this thread."""
        error = self._ensure_connected(time.monotonic())
        if error is not None:
            return error
        return self.connector.run_batch([message])[0]
