"""The bench workload: worker threads that call a store and check every answer.

Each worker owns its keys, so it knows what every read must return. It keeps
at most ``max_live`` records in its own schema, where ``count`` and
``filter_record`` are checked exactly, and as many in a schema all workers
share, where ``get_record`` and ``exists`` are checked. A wrong read is an
answer that contradicts the worker's own state: a record that differs from
the last one written, an ``exists`` or ``count`` that disagrees, a filter
that returns other records, or a write refused with "already exists" or
"does not exist" on a key the worker knows is absent or present.

After an error whose outcome is unknown (a write that timed out) the key
may hold the old or the new value; the worker reads it back, accepts either
and counts anything else as wrong. Count and filter checks of a schema wait
until none of its keys is in doubt.

:func:`run_workload` drives any :class:`Client`; :class:`StoreClient` adapts
a store to it, and another client (a raw Redis one, say) can be compared on
the same mix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import requests
from hdfs import InsecureClient
from hdfs.util import HdfsError

from supervisors.logs import get_logger
from volnux_actors.connectors.hdfs import HDFSConnector
from volnux_actors.errors import ObjectDoesNotExist, ObjectExistError
from volnux_actors.records import BackendIntegrationMixin, encode_record
from volnux_actors.stores.base import KeyValueStoreBackendBase
from volnux_actors.stores.hdfs import HDFSStoreBackend

log = get_logger("volnux_actors.bench")

KINDS = ("insert", "get", "update", "exists", "filter", "count", "delete")
MIX = {
    "insert": 15,
    "get": 30,
    "update": 15,
    "exists": 12,
    "filter": 6,
    "count": 7,
    "delete": 15,
}
STATUSES = ("queued", "running", "succeeded", "failed")
STEP_NAMES = ("extract", "validate", "transform", "enrich", "load")


@dataclass
class PipelineRun(BackendIntegrationMixin):
    """One run of a data pipeline, about 1 KB once encoded."""

    id: str
    pipeline: str
    status: str
    attempt: int
    worker: str
    created_at: dt.datetime
    updated_at: dt.datetime
    params: dict[str, Any]
    steps: list[dict[str, Any]]
    metrics: dict[str, float]
    tags: list[str]
    error: str | None = None


def make_run(key: str, worker: str, rng: random.Random) -> PipelineRun:
    """A fresh run record with nested fields and timestamps."""
    now = dt.datetime.now(dt.timezone.utc)
    steps = [
        {
            "name": name,
            "state": "pending",
            "started_at": None,
            "rows": 0,
            "retries": 0,
            "config": {"batch_size": rng.choice((500, 1000, 5000)), "strict": True},
        }
        for name in STEP_NAMES
    ]
    return PipelineRun(
        id=key,
        pipeline=f"nightly-{rng.choice(('orders', 'payments', 'users'))}-etl",
        status="queued",
        attempt=1,
        worker=worker,
        created_at=now,
        updated_at=now,
        params={
            "source": f"s3://raw-zone/{rng.randrange(1000):04d}/part-*.parquet",
            "target": "warehouse.analytics.daily_facts",
            "window": {"start": now.date(), "days": rng.randrange(1, 8)},
            "owner": "data-platform@example.com",
        },
        steps=steps,
        metrics={"rows_in": 0.0, "rows_out": 0.0, "seconds": 0.0},
        tags=["etl", "nightly", f"shard-{rng.randrange(16)}"],
    )


def advance_run(run: PipelineRun, rng: random.Random) -> PipelineRun:
    """A copy of ``run`` one step further: new status, step state and figures."""
    status = rng.choice(STATUSES)
    steps = [dict(step) for step in run.steps]
    step = steps[rng.randrange(len(steps))]
    step["state"] = status
    step["rows"] = int(step["rows"]) + rng.randrange(1, 10_000)
    step["started_at"] = dt.datetime.now(dt.timezone.utc)
    metrics = dict(run.metrics)
    metrics["rows_in"] += rng.randrange(1, 10_000)
    metrics["seconds"] = round(metrics["seconds"] + rng.random(), 6)
    return dataclasses.replace(
        run,
        status=status,
        attempt=run.attempt + 1,
        updated_at=dt.datetime.now(dt.timezone.utc),
        steps=steps,
        metrics=metrics,
        error="step timed out" if status == "failed" else None,
    )


def record_size() -> int:
    """The encoded size of a typical bench record, in bytes."""
    run = advance_run(make_run("w0-0000001", "w0", random.Random(0)), random.Random(1))
    return len(encode_record(run, "bench", run.id))


class Client(Protocol):
    """The calls the workload makes; each blocks until done.

    ``get`` returns None for a missing key. ``insert`` raises
    ObjectExistError for a taken key; ``update`` and ``delete`` raise
    ObjectDoesNotExist for a missing one. Any other exception is an error.
    """

    def insert(self, schema: str, key: str, record: PipelineRun) -> None: ...

    def get(self, schema: str, key: str) -> PipelineRun | None: ...

    def update(self, schema: str, key: str, record: PipelineRun) -> None: ...

    def delete(self, schema: str, key: str) -> None: ...

    def exists(self, schema: str, key: str) -> bool: ...

    def count(self, schema: str) -> int: ...

    def filter(self, schema: str, status: str) -> list[PipelineRun]: ...


@runtime_checkable
class SchemaRemover(Protocol):
    """A client that can remove what an emptied schema leaves on its backend."""

    def remove_schemas(self, schemas: Sequence[str]) -> None: ...


DEFAULT_CALL_TIMEOUT = 30.0


class StoreClient:
    """A :class:`Client` on a volnux-actors store.

    Each call is sent with a ``timeout`` deadline, so that a call that could
    not run in time is dropped rather than applied later. The deadline is
    ``timeout`` if given, else the store's own ``timeout`` (the configured
    one), else :data:`DEFAULT_CALL_TIMEOUT` seconds.
    """

    def __init__(
        self, store: KeyValueStoreBackendBase, timeout: float | None = None
    ) -> None:
        if timeout is None:
            timeout = store.timeout
        self.store = store
        self.timeout = DEFAULT_CALL_TIMEOUT if timeout is None else timeout
        self._wait = self.timeout + 5.0

    def insert(self, schema: str, key: str, record: PipelineRun) -> None:
        self.store.insert_record(schema, key, record, timeout=self.timeout).get(
            timeout=self._wait
        )

    def get(self, schema: str, key: str) -> PipelineRun | None:
        future = self.store.get_record(schema, PipelineRun, key, timeout=self.timeout)
        try:
            return future.get(timeout=self._wait)
        except ObjectDoesNotExist:
            return None

    def update(self, schema: str, key: str, record: PipelineRun) -> None:
        self.store.update_record(schema, key, record, timeout=self.timeout).get(
            timeout=self._wait
        )

    def delete(self, schema: str, key: str) -> None:
        self.store.delete_record(schema, key, timeout=self.timeout).get(
            timeout=self._wait
        )

    def exists(self, schema: str, key: str) -> bool:
        future = self.store.exists(schema, key, timeout=self.timeout)
        return future.get(timeout=self._wait)

    def count(self, schema: str) -> int:
        return self.store.count(schema, timeout=self.timeout).get(timeout=self._wait)

    def filter(self, schema: str, status: str) -> list[PipelineRun]:
        future = self.store.filter_record(
            schema, PipelineRun, timeout=self.timeout, status=status
        )
        return future.get(timeout=self._wait)

    def remove_schemas(self, schemas: Sequence[str]) -> None:
        """Remove the directories that emptied schemas leave on HDFS.

        Redis and memory keep nothing for a schema without records. HDFS
        keeps ``<base_path>/<schema>``: each is deleted if it is empty (a
        directory that still holds files is left, with a warning).
        """
        if isinstance(self.store, HDFSStoreBackend):
            _remove_empty_directories(self.store, schemas)


def _remove_empty_directories(store: HDFSStoreBackend, schemas: Sequence[str]) -> None:
    # A connector of our own, never connected, only for the store's checked
    # and normalised settings; the client is HdfsCLI's, as the connector's is.
    connector = HDFSConnector(**store.connector_config())
    base = connector.base_path.rstrip("/")
    with requests.Session() as session:
        client = InsecureClient(
            connector.url,
            user=connector.username or "volnux",
            timeout=connector.timeout,
            session=session,
        )
        for schema in schemas:
            path = f"{base}/{schema}"
            try:
                client.delete(path, recursive=False)
            except (HdfsError, requests.RequestException) as error:
                log.warning(
                    "bench_schema_left",
                    schema=schema,
                    path=path,
                    error=type(error).__name__,
                    detail=str(error),
                )


@dataclass
class WrongRead:
    """One answer that contradicted the worker's own state."""

    worker: str
    kind: str
    schema: str
    key: str | None
    detail: str


_Slot = tuple[str, str]  # (schema, key)


class _Missing:
    """The expected state of a key that must not be stored."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()
_State = PipelineRun | _Missing


class BenchWorker:
    """One worker thread's keys, expected state and figures."""

    def __init__(
        self, number: int, client: Client, prefix: str, max_live: int = 50
    ) -> None:
        self.name = f"w{number}"
        self.client = client
        self.own_schema = f"{prefix}_{self.name}"
        self.shared_schema = f"{prefix}_shared"
        self.max_live = max_live
        self.rng = random.Random(number)
        self.live: dict[str, dict[str, PipelineRun]] = {
            self.own_schema: {},
            self.shared_schema: {},
        }
        self.gone: deque[_Slot] = deque(maxlen=max_live)
        self.unsure: dict[_Slot, list[_State]] = {}
        self.keys = itertools.count(1)
        self.ops = 0
        self.latency: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self.errors: Counter[str] = Counter()
        self.wrong: list[WrongRead] = []
        self.kinds = list(MIX)
        self.weights = list(MIX.values())

    # -- the loop ---------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Make calls until ``stop`` is set."""
        while not stop.is_set():
            if self.unsure:
                self._resolve(next(iter(self.unsure)))
                continue
            kind = self.rng.choices(self.kinds, self.weights)[0]
            getattr(self, f"_do_{kind}")()

    def _call(self, kind: str, call: Callable[[], Any]) -> tuple[bool, Any]:
        start = time.perf_counter()
        try:
            value = call()
        except (ObjectExistError, ObjectDoesNotExist) as error:
            self._record(kind, start)
            return False, error
        except Exception as error:
            name = type(error).__name__
            if not self.errors[name]:
                log.warning(
                    "bench_call_failed", worker=self.name, call=kind, error=name
                )
            self.errors[name] += 1
            return False, None
        self._record(kind, start)
        return True, value

    def _record(self, kind: str, start: float) -> None:
        self.latency[kind].append(time.perf_counter() - start)
        self.ops += 1

    def _wrong(self, kind: str, slot: tuple[str, str | None], detail: str) -> None:
        schema, key = slot
        log.warning(
            "bench_wrong_read",
            worker=self.name,
            call=kind,
            schema=schema,
            key=key,
            detail=detail,
        )
        self.wrong.append(WrongRead(self.name, kind, schema, key, detail))

    # -- choosing keys ------------------------------------------------------

    def _pick_live(self) -> tuple[_Slot, PipelineRun] | None:
        schema = self.rng.choice((self.own_schema, self.shared_schema))
        if not self.live[schema]:
            schema = self._other(schema)
        records = self.live[schema]
        if not records:
            return None
        key = self.rng.choice(list(records))
        return (schema, key), records[key]

    def _other(self, schema: str) -> str:
        return self.shared_schema if schema == self.own_schema else self.own_schema

    def _pick_gone(self) -> _Slot | None:
        return self.rng.choice(self.gone) if self.gone else None

    def _expect(self, slot: _Slot) -> _State:
        record = self.live[slot[0]].get(slot[1])
        return MISSING if record is None else record

    def _settle(self, slot: _Slot, state: _State) -> None:
        schema, key = slot
        if isinstance(state, PipelineRun):
            self.live[schema][key] = state
        else:
            self.live[schema].pop(key, None)
            if slot not in self.gone:
                self.gone.append(slot)

    def _doubt(self, slot: _Slot, states: list[_State]) -> None:
        """Hold ``slot`` out of checks until read; ``[]`` accepts any value."""
        self.live[slot[0]].pop(slot[1], None)
        if slot in self.gone:
            self.gone.remove(slot)
        self.unsure[slot] = states

    # -- the calls ------------------------------------------------------------

    def _do_insert(self) -> None:
        schema = self.rng.choice((self.own_schema, self.shared_schema))
        if len(self.live[schema]) >= self.max_live:
            self._delete(schema, next(iter(self.live[schema])))
            return
        key = f"{self.name}-{next(self.keys):07d}"
        record = make_run(key, self.name, self.rng)
        ok, error = self._call(
            "insert", lambda: self.client.insert(schema, key, record)
        )
        if ok:
            self._settle((schema, key), record)
        elif isinstance(error, ObjectExistError):
            self._wrong("insert", (schema, key), "insert of a new key: already exists")
            self._doubt((schema, key), [])
        elif error is None:
            self._doubt((schema, key), [MISSING, record])

    def _do_get(self) -> None:
        slot = self._live_or_gone()
        if slot is None:
            self._do_insert()
            return
        ok, got = self._call("get", lambda: self.client.get(*slot))
        if ok:
            self._check_record("get", slot, self._expect(slot), got)

    def _do_exists(self) -> None:
        slot = self._live_or_gone()
        if slot is None:
            self._do_insert()
            return
        ok, found = self._call("exists", lambda: self.client.exists(*slot))
        expected = isinstance(self._expect(slot), PipelineRun)
        if ok and found is not expected:
            self._wrong("exists", slot, f"exists returned {found!r}, not {expected}")

    def _do_update(self) -> None:
        picked = self._pick_live()
        if picked is None:
            self._do_insert()
            return
        slot, old = picked
        new = advance_run(old, self.rng)
        ok, error = self._call("update", lambda: self.client.update(*slot, new))
        if ok:
            self._settle(slot, new)
        elif isinstance(error, ObjectDoesNotExist):
            self._wrong("update", slot, "update of a stored key: does not exist")
            self._settle(slot, MISSING)
        elif error is None:
            self._doubt(slot, [old, new])

    def _do_delete(self) -> None:
        picked = self._pick_live()
        if picked is None:
            self._do_insert()
            return
        self._delete(*picked[0])

    def _delete(self, schema: str, key: str) -> None:
        slot = (schema, key)
        old = self.live[schema][key]
        ok, error = self._call("delete", lambda: self.client.delete(schema, key))
        if ok:
            self._settle(slot, MISSING)
        elif isinstance(error, ObjectDoesNotExist):
            self._wrong("delete", slot, "delete of a stored key: does not exist")
            self._settle(slot, MISSING)
        elif error is None:
            self._doubt(slot, [old, MISSING])

    def _do_count(self) -> None:
        schema = self.own_schema
        ok, found = self._call("count", lambda: self.client.count(schema))
        if ok and not self._in_doubt(schema):
            expected = len(self.live[schema])
            if found != expected:
                self._wrong("count", (schema, None), f"count {found}, not {expected}")

    def _do_filter(self) -> None:
        schema = self.own_schema
        status = self.rng.choice(STATUSES)
        ok, found = self._call("filter", lambda: self.client.filter(schema, status))
        if not ok or self._in_doubt(schema):
            return
        records = self.live[schema]
        expected = [records[k] for k in sorted(records) if records[k].status == status]
        if found != expected:
            got = [r.id for r in found]
            want = [r.id for r in expected]
            detail = f"filter status={status!r} returned {got}, not {want}"
            if got == want:
                detail = f"filter status={status!r} returned stale record values"
            self._wrong("filter", (schema, None), detail)

    # -- checking -------------------------------------------------------------

    def _live_or_gone(self) -> _Slot | None:
        if self.gone and self.rng.random() < 0.1:
            return self._pick_gone()
        picked = self._pick_live()
        return None if picked is None else picked[0]

    def _in_doubt(self, schema: str) -> bool:
        return any(slot[0] == schema for slot in self.unsure)

    def _check_record(
        self, kind: str, slot: _Slot, expected: _State, got: PipelineRun | None
    ) -> None:
        state: _State = MISSING if got is None else got
        if state != expected:
            self._wrong(kind, slot, describe_difference(expected, state))

    def _resolve(self, slot: _Slot) -> None:
        ok, got = self._call("get", lambda: self.client.get(*slot))
        if not ok:
            return
        states = self.unsure.pop(slot)
        state: _State = MISSING if got is None else got
        if states and state not in states:
            self._wrong("get", slot, "after a failed write: " + _options(states))
        self._settle(slot, state)

    def cleanup(self) -> None:
        """Delete this worker's records, those in doubt too.

        Stops at the first failure other than "does not exist", so that a
        backend gone down costs one timeout, not one per record.
        """
        slots = [(s, k) for s, records in self.live.items() for k in records]
        slots.extend(self.unsure)
        for schema, key in slots:
            try:
                self.client.delete(schema, key)
            except ObjectDoesNotExist:
                continue
            except Exception:
                return


def describe_difference(expected: _State, got: _State) -> str:
    """Which fields of a read record differ from the expected one."""
    if not isinstance(expected, PipelineRun) or not isinstance(got, PipelineRun):
        return f"expected {_short(expected)}, read {_short(got)}"
    fields = [
        f.name
        for f in dataclasses.fields(PipelineRun)
        if getattr(expected, f.name) != getattr(got, f.name)
    ]
    return "fields differ: " + ", ".join(fields[:5])


def _short(state: _State) -> str:
    if isinstance(state, PipelineRun):
        return f"record attempt {state.attempt} status {state.status!r}"
    return "no record"


def _options(states: list[_State]) -> str:
    return "expected " + " or ".join(_short(s) for s in states)


# -- running and summing up -------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Figures of a run so far, for a progress display."""

    elapsed: float
    ops: int
    errors: int
    wrong_reads: int


@dataclass
class WorkloadResult:
    """The figures of one run of the workload."""

    workers: int
    seconds: float
    elapsed: float
    ops: int
    latency: dict[str, list[float]]
    errors: Counter[str]
    wrong: list[WrongRead]

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self, samples: int = 10) -> dict[str, Any]:
        """Plain data: totals, latency in ms overall and per call kind."""
        everything = sorted(itertools.chain.from_iterable(self.latency.values()))
        by_kind = {
            kind: {"ops": len(values), **_percentiles(sorted(values))}
            for kind, values in self.latency.items()
        }
        return {
            "workers": self.workers,
            "seconds": self.seconds,
            "elapsed_s": round(self.elapsed, 3),
            "ops": self.ops,
            "ops_per_s": round(self.ops_per_s, 1),
            "errors": sum(self.errors.values()),
            "errors_by_type": dict(self.errors),
            "wrong_reads": len(self.wrong),
            "wrong_read_samples": [dataclasses.asdict(w) for w in self.wrong[:samples]],
            "latency_ms": _percentiles(everything),
            "latency_ms_by_kind": by_kind,
            "record_bytes": record_size(),
        }


def _percentiles(ordered: list[float]) -> dict[str, float]:
    def rank(p: float) -> float:
        if not ordered:
            return 0.0
        index = max(0, math.ceil(p / 100 * len(ordered)) - 1)
        return round(ordered[index] * 1000, 3)

    return {"p50": rank(50), "p99": rank(99), "max": rank(100)}


def run_workload(
    client: Client,
    *,
    workers: int = 8,
    seconds: float = 5.0,
    max_live: int = 50,
    prefix: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    tick: float = 0.1,
) -> WorkloadResult:
    """Run the mix on ``client`` from ``workers`` threads for ``seconds``.

    Schemas are named ``<prefix>_w<n>`` and ``<prefix>_shared``; the default
    prefix is unique to the run. Workers delete their records at the end,
    and a :class:`SchemaRemover` client then removes the emptied schemas.
    """
    prefix = prefix or f"bench{uuid.uuid4().hex[:8]}"
    crew = [BenchWorker(n, client, prefix, max_live) for n in range(workers)]
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=worker.run, args=(stop,), name=f"bench-{worker.name}", daemon=True
        )
        for worker in crew
    ]
    log.debug("bench_started", workers=workers, seconds=seconds, prefix=prefix)
    start = time.monotonic()
    for thread in threads:
        thread.start()
    deadline = start + seconds
    while (now := time.monotonic()) < deadline:
        stop.wait(min(tick, deadline - now))
        if on_progress is not None:
            on_progress(_progress(crew, time.monotonic() - start))
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    result = _gather(crew, workers, seconds, elapsed)
    for worker in crew:
        worker.cleanup()
    if isinstance(client, SchemaRemover):
        schemas = [worker.own_schema for worker in crew]
        client.remove_schemas([*schemas, f"{prefix}_shared"])
    log.debug("bench_finished", ops=result.ops, elapsed=round(elapsed, 3))
    return result


def _progress(crew: list[BenchWorker], elapsed: float) -> Progress:
    # Read without a lock: the counters are ints that only their own worker
    # writes, and a figure one call behind is fine for a display.
    return Progress(
        elapsed=elapsed,
        ops=sum(w.ops for w in crew),
        errors=sum(sum(w.errors.values()) for w in crew),
        wrong_reads=sum(len(w.wrong) for w in crew),
    )


def _gather(
    crew: list[BenchWorker], workers: int, seconds: float, elapsed: float
) -> WorkloadResult:
    latency: dict[str, list[float]] = {kind: [] for kind in KINDS}
    errors: Counter[str] = Counter()
    wrong: list[WrongRead] = []
    for worker in crew:
        for kind, values in worker.latency.items():
            latency[kind].extend(values)
        errors.update(worker.errors)
        wrong.extend(worker.wrong)
    return WorkloadResult(
        workers=workers,
        seconds=seconds,
        elapsed=elapsed,
        ops=sum(w.ops for w in crew),
        latency=latency,
        errors=errors,
        wrong=wrong,
    )
