"""The pool's linger: an actor waits briefly for the callers it just answered."""

from __future__ import annotations

import math

import pytest

from supervisors import ConnectorManagerBase
from tests.conftest import fake_pool, wait_until
from tests.connector_for_tests import Echo, Tracker, busy_then_seven

T = 10.0


def test_an_unbounded_linger_is_refused_when_the_pool_is_built(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    # Lock.acquire(True, inf) raises OverflowError inside the actor: an
    # infinite linger would crash the actor after every batch.
    for bad in (math.inf, -0.001, math.nan):
        with pytest.raises(ValueError, match="linger must be a finite number"):
            fake_pool(managers, tracker, max_connections=1, linger=bad)
    manager = fake_pool(managers, tracker, max_connections=1, linger=None)
    assert manager.submit(Echo(1)).get(timeout=T) == 1


def test_a_lingering_actor_is_woken_exactly_once_and_its_nudge_stays_held(
    managers: list[ConnectorManagerBase], tracker: Tracker
) -> None:
    # Woken by the seventh caller; the callers behind it must not release
    # the nudge a second time (RuntimeError on an unlocked lock, or a lock
    # left released that would end the next linger at once).
    manager = fake_pool(managers, tracker, max_connections=1, linger=30.0)
    for future in busy_then_seven(manager):
        future.get(timeout=T)
    assert wait_until(lambda: manager._lingering is not None)
    worker = manager._lingering
    assert worker is not None
    again = [manager.submit(Echo(n)) for n in range(10, 30)]
    assert [f.get(timeout=T) for f in again] == list(range(10, 30))
    assert wait_until(
        lambda: manager._lingering is worker or manager.stats().connections_idle == 1
    )
    assert worker.nudge.locked()
    assert tracker.batches[:2] == [1, 7] and sum(tracker.batches) == 28
    manager.close(5)
    assert manager._lingering is None
    assert worker.nudge.locked()  # taken back by the actor close() woke
    assert manager.stats().restarts == 0
