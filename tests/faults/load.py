"""Load from worker threads, recorded call by call, for fault tests."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import volnux_actors as va
from tests.records_for_tests import User


@dataclass
class Call:
    kind: str
    key: str
    start: float
    end: float
    outcome: str


@dataclass
class Load:
    """``workers`` threads inserting fresh keys and reading their own back.

    Every call carries ``deadline`` as its timeout. A write is acknowledged
    when its future returned a value; an ObjectExistError on a fresh key
    would mean the write was sent twice.
    """

    store: Any
    workers: int = 16
    deadline: float = 2.0
    schema: str = "faults"
    calls: list[Call] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)
    samples: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.deadline + 10)

    def _work(self, number: int) -> None:
        rng = random.Random(number)
        mine: list[str] = []
        serial = 0
        while not self._stop.is_set():
            if mine and rng.random() < 0.5:
                key = rng.choice(mine)
                kind = "get"
                start = time.monotonic()
                future = self.store.get_record(
                    self.schema, User, key, timeout=self.deadline
                )
            else:
                serial += 1
                key = f"w{number}-{serial}"
                kind = "insert"
                start = time.monotonic()
                future = self.store.insert_record(
                    self.schema, key, User(key, "load"), timeout=self.deadline
                )
            try:
                value = future.get(timeout=self.deadline + 5)
                outcome = "ok"
                if kind == "get" and value != User(key, "load"):
                    outcome = "wrong_read"
            except va.WaitTimeoutError:
                outcome = "pending"
            except va.StoreError as error:
                outcome = type(error).__name__
                self.samples.setdefault(outcome, str(error)[:300])
            end = time.monotonic()
            with self._lock:
                self.calls.append(Call(kind, key, start, end, outcome))
                if kind == "insert" and outcome == "ok":
                    self.acked.add(key)
                elif (
                    kind == "insert"
                    and isinstance(outcome, str)
                    and (outcome in ("WriteTimeoutError", "OutcomeUnknownError"))
                ):
                    self.unknown.add(key)
            if kind == "insert" and outcome == "ok":
                mine.append(key)
            if outcome != "ok":
                time.sleep(0.001)

    def report(self, back_at: float, fault_at: float) -> dict[str, Any]:
        """Figures: calls, errors by type, late calls, recovery seconds."""
        with self._lock:
            calls = list(self.calls)
        errors = Counter(c.outcome for c in calls if c.outcome != "ok")
        late = [c for c in calls if c.end - c.start > self.deadline + 0.5]
        before = [c for c in calls if c.outcome == "ok" and c.end < fault_at]
        first = min((c.start for c in calls), default=fault_at)
        rate = len(before) / max(0.1, fault_at - first)
        successes = sorted(
            c.end for c in calls if c.outcome == "ok" and c.end >= back_at
        )
        recovery = None
        window = 0.2
        need = max(1, int(rate * window * 0.5))
        for i, t in enumerate(successes):
            j = i
            while j < len(successes) and successes[j] <= t + window:
                j += 1
            if j - i >= need:
                recovery = round(t - back_at, 3)
                break
        return {
            "calls": len(calls),
            "errors": dict(errors),
            "wrong_reads": errors.get("wrong_read", 0),
            "pending": errors.get("pending", 0),
            "outlived_deadline": len(late),
            "acked_writes": len(self.acked),
            "baseline_ops_per_s": round(rate),
            "recovery_s": recovery,
            "samples": dict(self.samples),
        }
