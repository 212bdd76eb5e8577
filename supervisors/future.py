"""A future that many threads, and asyncio tasks, can wait on."""

from __future__ import annotations

import asyncio
import os
import weakref
from _thread import TIMEOUT_MAX, allocate_lock
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Generic, Protocol, TypeVar, cast

from supervisors.errors import DEFAULT_ERRORS, ErrorKinds
from supervisors.logs import get_logger

log = get_logger("supervisors")

T = TypeVar("T")
U = TypeVar("U")

_PENDING = object()
_STRIPES = 64


def _new_mutexes() -> tuple[Any, ...]:
    return tuple(allocate_lock() for _ in range(_STRIPES))


_MUTEXES = _new_mutexes()
"""Short-held locks shared by all futures, picked by the future's address.

A future guards its completion with one of these rather than a lock of its
own: every call allocates one object fewer for the garbage collector to
walk, and the hold is a few instructions, so sharing costs nothing.
"""


def _fresh_mutexes_in_child() -> None:
    # A lock another thread of the parent held at fork time stays held in
    # the child for ever: futures made in the child take new ones. (Futures
    # inherited from the parent are completed by nobody in the child.)
    global _MUTEXES
    _MUTEXES = _new_mutexes()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_mutexes_in_child)

ROUND = 32
"""How many awaiting tasks one turn of an event loop wakes at most."""


class DeadlockGuard(Protocol):
    def waits_on_itself(self) -> bool: ...


class Future(Generic[T]):
    """The eventual result of one call.

    Any number of threads may call :meth:`get` at once, before or after the
    value arrives, and each receives the same value (or the same error). A
    ``get`` that times out leaves the future as it was. In asyncio code the
    future can be awaited; the event loop is woken by a callback and never
    blocks on the wait. Completions bound for one loop are delivered in
    rounds of at most :data:`ROUND` tasks per turn of the loop, so that a
    burst of results cannot hold the loop for long.
    """

    __slots__ = (
        "_callbacks",
        "_done",
        "_error",
        "_errors",
        "_guard",
        "_lock",
        "_started",
        "_task_waiter",
        "_value",
        "_waiter",
        "_waker",
    )

    # Each call creates a future, and many are alive at once, so a future
    # holds few objects the cyclic garbage collector must walk: no list
    # until a callback is added, and the first asyncio task that awaits it
    # is kept in two slots (its loop's waker and the asyncio future it
    # waits on) rather than in a closure.

    def __init__(self, errors: ErrorKinds = DEFAULT_ERRORS) -> None:
        # Waiters block on ``_waiter``, a plain lock held from birth until
        # completion: releasing it is one C call, where an Event's notify
        # runs Python code for every waiter. Each waiter that gets through
        # releases it again for the next one.
        self._lock = _MUTEXES[(id(self) >> 4) & (_STRIPES - 1)]
        self._waiter = allocate_lock()
        self._waiter.acquire()
        self._done = False
        self._started = False
        self._value: Any = _PENDING
        self._error: BaseException | None = None
        self._callbacks: list[Any] | None = None
        self._errors = errors
        self._guard: DeadlockGuard | None = None
        self._waker: _LoopWaker | None = None
        self._task_waiter: asyncio.Future[T] | None = None

    @classmethod
    def completed(cls, value: T, errors: ErrorKinds = DEFAULT_ERRORS) -> Future[T]:
        """A future that already holds ``value``."""
        future: Future[T] = cls(errors)
        future.set(value)
        return future

    @classmethod
    def failed(
        cls, error: BaseException, errors: ErrorKinds = DEFAULT_ERRORS
    ) -> Future[T]:
        """A future that already holds ``error``."""
        future: Future[T] = cls(errors)
        future.set_exception(error)
        return future

    def done(self) -> bool:
        """Whether a value or an error has arrived."""
        return self._done

    def set(self, value: T) -> bool:
        """Complete with ``value``; returns False if already completed."""
        return self._complete(value, None)

    def set_exception(self, error: BaseException) -> bool:
        """Complete with ``error``; returns False if already completed."""
        return self._complete(None, error)

    def start(self) -> bool:
        """Mark the call as sent; False if it already completed (expired).

        The runner calls this right before it sends the call, and the
        deadline timer decides its error under the same lock, so "not sent"
        is only ever said of a call that was not sent.
        """
        with self._lock:
            if self._done:
                return False
            self._started = True
            return True

    def started(self) -> bool:
        return self._started

    def expire(self, error_for: Callable[[bool], BaseException]) -> bool:
        """Fail with ``error_for(started)`` unless already completed."""
        return self._complete(None, None, error_for)

    def _complete(
        self,
        value: Any,
        error: BaseException | None,
        error_for: Callable[[bool], BaseException] | None = None,
    ) -> bool:
        with self._lock:
            if self._done:
                return False
            if error_for is not None:
                error = error_for(self._started)
            self._value = value
            self._error = error
            self._done = True
            callbacks, self._callbacks = self._callbacks, None
            waker = self._waker
            # The guard refers back to the job that holds this future: drop
            # it so that a finished call is freed at once, not by the cyclic
            # garbage collector.
            self._guard = None
            self._waiter.release()
        if waker is not None:
            waker.push(self)
        if callbacks is not None:
            for callback in callbacks:
                if type(callback) is tuple:
                    callback[0].push((callback[1], self))
                else:
                    _run_callback(callback, self)
        return True

    def set_deadlock_guard(self, guard: DeadlockGuard | None) -> None:
        """Install a check run by :meth:`get` before it blocks.

        ``guard.waits_on_itself()`` returns True when the calling thread is
        the only one that could complete this future; ``get`` then raises at
        once instead of waiting for ever.
        """
        self._guard = guard

    def get(self, *, timeout: float | None = None) -> T:
        """Wait up to ``timeout`` seconds and return the value or raise.

        Raises the call's own error if it failed, or the wait-timeout error
        if the value did not arrive in time (the future stays usable).
        ``timeout`` is checked whether or not the future is done, so a bad
        one fails the same way every time.
        """
        if timeout is not None and (
            (type(timeout) is not float and type(timeout) is not int)
            or timeout != timeout
        ):
            raise TypeError(
                f"timeout must be a number of seconds or None, got {timeout!r}"
            )
        if not self._done:
            guard = self._guard
            if guard is not None and guard.waits_on_itself():
                raise self._errors.deadlock(
                    "this thread is the actor that must complete the future it "
                    "waits on; call the store directly instead of waiting"
                )
            waiter = self._waiter
            if timeout is None:
                waiter.acquire()
            elif not waiter.acquire(True, min(max(timeout, 0.0), TIMEOUT_MAX)):
                raise self._errors.wait_timeout(
                    f"no result after waiting {timeout:.3f}s; the call is still "
                    "running and get() may be called again"
                )
            waiter.release()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)

    def exception(self, *, timeout: float | None = None) -> BaseException | None:
        """Wait like :meth:`get` and return the error, or None on success."""
        try:
            self.get(timeout=timeout)
        except BaseException as error:
            if not self._done:
                raise
            return error
        return None

    def add_done_callback(self, callback: Callable[[Future[T]], None]) -> None:
        """Run ``callback(self)`` once completed (at once if already done)."""
        with self._lock:
            if not self._done:
                if self._callbacks is None:
                    self._callbacks = [callback]
                else:
                    self._callbacks.append(callback)
                return
        _run_callback(callback, self)

    def map(self, func: Callable[[T], U]) -> Future[U]:
        """A future holding ``func(value)`` once this one completes."""
        mapped: Future[U] = Future(self._errors)

        def transfer(source: Future[T]) -> None:
            if source._error is not None:
                mapped.set_exception(source._error)
                return
            try:
                mapped.set(func(source._value))
            except Exception as error:
                mapped.set_exception(error)

        self.add_done_callback(transfer)
        return mapped

    def __await__(self) -> Generator[Any, None, T]:
        if not self._done:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[T] = loop.create_future()
            waker = _wakers.get(loop)
            if waker is None:
                waker = _wakers[loop] = _LoopWaker(loop)
            with self._lock:
                queued = not self._done
                if queued:
                    if self._waker is None:
                        self._waker = waker
                        self._task_waiter = waiter
                    elif self._callbacks is None:
                        self._callbacks = [(waker, waiter)]
                    else:
                        self._callbacks.append((waker, waiter))
            if queued:
                # The loop's waker hands this future's outcome to ``waiter``
                # on the loop's thread; the task resumes straight from it.
                return waiter.__await__()
        return _outcome(self)

    def __repr__(self) -> str:
        if not self._done:
            state = "pending"
        elif self._error is not None:
            state = f"failed {type(self._error).__name__}"
        else:
            state = "done"
        return f"<Future {state}>"


def _run_callback(callback: Callable[[Future[Any]], None], future: Future[Any]) -> None:
    # Callbacks run on whichever thread completes the future, usually a
    # connector actor: one that raises must not take that actor down.
    try:
        callback(future)
    except Exception as error:
        log.warning(
            "future_callback_failed", callback=repr(callback), error=repr(error)
        )


def _outcome(future: Future[T]) -> Generator[Any, None, T]:
    return future.get()
    yield  # a generator that ends at once, for an already completed future


class _LoopWaker:
    """Wakes the tasks of one event loop whose futures completed.

    Any thread may push; the loop is woken once per burst (one self-pipe
    write, not one per future) and then resolves ``ROUND`` waiters per turn,
    letting its other callbacks and timers run in between.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # A completed Future whose first awaiting task waits here, or a
        # (asyncio future, Future) pair for any further task awaiting it.
        self.pending: deque[Any] = deque()
        self.lock = allocate_lock()
        self.scheduled = False

    def push(self, item: Any) -> None:
        # ``scheduled`` is read and written under the lock, and deliver()
        # clears it only after seeing the deque empty under the same lock,
        # so no pushed waiter is left without a delivery scheduled.
        with self.lock:
            self.pending.append(item)
            if self.scheduled:
                return
            self.scheduled = True
        try:
            self.loop.call_soon_threadsafe(self.deliver)
        except RuntimeError:
            # The loop was closed: its tasks are gone, nobody is waiting.
            with self.lock:
                self.pending.clear()
                self.scheduled = False

    def deliver(self) -> None:
        pending = self.pending
        for _ in range(ROUND):
            if not pending:
                break
            item = pending.popleft()
            if type(item) is tuple:
                waiter, future = item
            else:
                future = item
                waiter, future._task_waiter = future._task_waiter, None
                future._waker = None
            if waiter is None or waiter.done():
                continue  # the task was cancelled
            error = future._error
            if error is None:
                waiter.set_result(future._value)
                continue
            try:
                waiter.set_exception(error)
            except TypeError:
                # asyncio refuses some exception types (StopIteration).
                waiter.set_exception(RuntimeError(repr(error)))
        with self.lock:
            if not pending:
                self.scheduled = False
                return
        self.loop.call_soon(self.deliver)


_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWaker] = (
    weakref.WeakKeyDictionary()
)
