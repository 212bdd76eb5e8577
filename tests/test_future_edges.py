"""Futures: striped completion locks across fork, many waiters, direct task resumption."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest

from supervisors import future as future_module
from supervisors.future import Future

T = 5.0


def stripe(future: Future[object]) -> int:
    return (id(future) >> 4) & 63


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_futures_made_in_a_forked_child_complete(  # pragma: no cover - forks
) -> None:
    # A thread of the parent is completing a future at the moment of the
    # fork (here: inside expire()'s error_for, which runs under the lock).
    inside = threading.Event()
    leave = threading.Event()
    held: Future[object] = Future()

    def error_for(sent: bool) -> BaseException:
        inside.set()
        leave.wait(T)
        return RuntimeError("expired")

    completer = threading.Thread(target=held.expire, args=(error_for,), daemon=True)
    completer.start()
    assert inside.wait(T)
    index = stripe(held)
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            # A future of the child's own, on the same stripe as the one
            # the parent's thread was completing.
            keep = []
            mine: Future[int] = Future()
            while stripe(mine) != index:
                keep.append(mine)
                mine = Future()
            setter = threading.Thread(target=mine.set, args=(42,), daemon=True)
            setter.start()
            setter.join(1.0)
            code = 0 if mine.done() and mine.get(timeout=0) == 42 else 1
        finally:
            os._exit(code)
    leave.set()
    completer.join(T)
    _, status = os.waitpid(pid, 0)
    assert held.exception(timeout=0) is not None
    assert os.waitstatus_to_exitcode(status) == 0, "child hung completing a future"


def test_parent_stripes_are_shared_by_unrelated_futures() -> None:
    # The premise of the fork test: two live futures can share one lock.
    futures = [Future() for _ in range(200)]
    by_stripe: dict[int, list[Future[object]]] = {}
    for f in futures:
        by_stripe.setdefault(stripe(f), []).append(f)
    shared = next(group for group in by_stripe.values() if len(group) > 1)
    assert shared[0]._lock is shared[1]._lock
    assert shared[0]._lock in future_module._MUTEXES


def test_two_tasks_and_a_thread_get_the_same_value_and_error() -> None:
    ok: Future[object] = Future()
    bad: Future[object] = Future()
    error = KeyError("the key")
    value = object()
    seen: list[object] = []

    def in_thread() -> None:
        seen.append(ok.get(timeout=T))
        seen.append(bad.exception(timeout=T))

    thread = threading.Thread(target=in_thread)
    thread.start()

    async def main() -> list[object]:
        loop = asyncio.get_running_loop()

        async def one(f: Future[object]) -> object:
            try:
                return await f
            except KeyError as caught:
                return caught

        tasks = [asyncio.ensure_future(one(f)) for f in (ok, ok, bad, bad)]
        await asyncio.sleep(0)  # all four are now waiting
        assert ok._task_waiter is not None and ok._callbacks is not None
        await loop.run_in_executor(None, ok.set, value)
        await loop.run_in_executor(None, bad.set_exception, error)
        return list(await asyncio.gather(*tasks))

    results = asyncio.run(main())
    thread.join(T)
    assert results[0] is value and results[1] is value
    assert results[2] is error and results[3] is error
    assert seen == [value, error]
    assert ok._task_waiter is None and ok._waker is None


def test_a_cancelled_first_task_does_not_take_the_second_tasks_value() -> None:
    future: Future[int] = Future()

    async def main() -> tuple[bool, int, int]:
        first = asyncio.ensure_future(_await(future))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        second = asyncio.ensure_future(_await(future))
        await asyncio.sleep(0)
        threading.Thread(target=future.set, args=(7,)).start()
        got = await asyncio.wait_for(second, T)
        again = await future  # already done: no new waiter
        return first.cancelled(), got, again

    assert asyncio.run(main()) == (True, 7, 7)


def test_stop_iteration_reaches_an_awaiting_task_as_runtime_error() -> None:
    future: Future[int] = Future()

    async def main() -> BaseException:
        task = asyncio.ensure_future(_await(future))
        await asyncio.sleep(0)
        threading.Thread(target=future.set_exception, args=(StopIteration(3),)).start()
        try:
            await asyncio.wait_for(task, T)
        except BaseException as error:
            return error
        raise AssertionError("no error")

    error = asyncio.run(main())
    assert type(error) is RuntimeError and "StopIteration(3)" in str(error)


async def _await(future: Future[int]) -> int:
    return await future


@pytest.mark.parametrize("bad", ["5", True, float("nan"), [1]])
def test_a_bad_wait_timeout_fails_the_same_way_done_or_pending(bad: Any) -> None:
    done: Future[int] = Future()
    done.set(1)
    pending: Future[int] = Future()
    for future in (done, pending):
        with pytest.raises(TypeError) as info:
            future.get(timeout=bad)
        assert str(info.value) == (
            f"timeout must be a number of seconds or None, got {bad!r}"
        )
    assert done.get(timeout=0) == 1
    assert not pending.done()
