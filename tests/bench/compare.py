"""Our Redis store against plain redis-py, side by side, in one run.

``python -m tests.bench.compare`` runs one workload two ways: through
:class:`~volnux_actors.RedisStoreBackend` (each call a future, resolved at
once by the calling thread) and through plain redis-py (one shared
``ConnectionPool``, the same threads, the same JSON codec and record class).
Each caller thread owns a share of the records and loops over them: four
``get_record`` calls to one ``update_record`` that raises the record's step.
redis-py does the same with ``HGET`` and the smallest correct update, a
script that writes only an existing field. Every read is checked against
what its thread last wrote; a mismatch is a wrong read.

The table has one row per number of caller threads, a row for the in-memory
store, a row for asyncio (tasks on one event loop awaiting our futures, with
the longest stall of the loop measured by a heartbeat task) and a row for
``filter_record`` on an indexed field against the same filter by scan. The
goals of issue 5 follow, each marked met or not met.

After its setup the benchmark moves every object alive to the collector's
permanent generation (``gc.freeze()``), as a long-running worker would after
its imports; the asyncio row also prints the longest pause of the garbage
collector during the run, which stalls the loop like any other work.

Without ``--url`` a private ``redis-server`` is started on a free port. The
exit status is 1 when a read was wrong or a call failed; a goal not met does
not change it, as timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import resource
import statistics
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

import redis

import volnux_actors as va
from volnux_actors import codec
from volnux_actors.records import record_fields

SCHEMA = "bench"
FILTER_SCHEMA = "bench_filter"
UPDATE_EVERY = 5
CALL_TIMEOUT = 60.0
THREADS = (1, 4, 16, 64, 256)
RAW_UPDATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


@dataclass
class BenchRun(va.BackendIntegrationMixin):
    """The benchmark's record: about 60 bytes once encoded."""

    id: str
    status: str
    step: int
    owner: str


@dataclass
class IndexedRun(va.BackendIntegrationMixin):
    """A record of the filter schema, read with the index on ``status``."""

    __indexed__ = ("status",)

    id: str
    status: str
    step: int
    owner: str


@dataclass
class PlainRun(va.BackendIntegrationMixin):
    """The same records, read without an index: filters scan."""

    id: str
    status: str
    step: int
    owner: str


class Side(Protocol):
    def get(self, key: str) -> BenchRun: ...

    def update(self, record: BenchRun) -> None: ...


class OurSide:
    """Calls through one of our stores."""

    def __init__(self, store: va.KeyValueStoreBackendBase) -> None:
        self.store = store

    def get(self, key: str) -> BenchRun:
        found: BenchRun = self.store.get_record(SCHEMA, BenchRun, key).get(
            timeout=CALL_TIMEOUT
        )
        return found

    def update(self, record: BenchRun) -> None:
        self.store.update_record(SCHEMA, record.id, record).get(timeout=CALL_TIMEOUT)


class RawSide:
    """The same calls through plain redis-py."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.client = client
        self.name = name
        self.script = client.register_script(RAW_UPDATE)

    def get(self, key: str) -> BenchRun:
        raw = self.client.hget(self.name, key)
        if raw is None:
            raise KeyError(key)
        return BenchRun(**codec.loads(raw))

    def update(self, record: BenchRun) -> None:
        payload = codec.dumps(record_fields(record))
        if not self.script(keys=[self.name], args=[record.id, payload]):
            raise KeyError(record.id)


@dataclass
class Result:
    """The figures of one run of the workload."""

    seconds: float
    latencies: array[float] = field(default_factory=lambda: array("d"))
    wrong: int = 0
    errors: int = 0
    stall_ms: float | None = None
    gc_pause_ms: float | None = None
    calls: int = 0
    switches: int = 0

    @property
    def switches_per_call(self) -> float:
        """Context switches of the whole process per call made."""
        return self.switches / self.calls if self.calls else float("nan")

    @property
    def ops(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile_us(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1e6

    def merge(self, other: Result) -> None:
        self.latencies.extend(other.latencies)
        self.wrong += other.wrong
        self.errors += other.errors
        self.calls += other.calls


@dataclass
class Window:
    """When a run's measured window opens and closes (perf_counter)."""

    begin: float = 0.0
    end: float = 0.0

    def open(self, warmup: float, seconds: float) -> None:
        self.begin = time.perf_counter() + warmup
        self.end = self.begin + seconds


def one_call(
    side: Side, key: str, n: int, expected: dict[str, BenchRun], result: Result
) -> None:
    """Make the ``n``-th call of a caller on ``key`` and check its answer."""
    try:
        if n % UPDATE_EVERY == UPDATE_EVERY - 1:
            old = expected[key]
            new = dataclasses.replace(old, step=old.step + 1)
            side.update(new)
            expected[key] = new
        elif side.get(key) != expected[key]:
            result.wrong += 1
    except Exception as error:
        result.errors += 1
        if result.errors == 1:
            print(f"  call failed: {error!r}", file=sys.stderr)


def run_threads(
    side: Side,
    threads: int,
    seconds: float,
    warmup: float,
    expected: dict[str, BenchRun],
) -> Result:
    """Run the workload on ``threads`` caller threads; one merged result."""
    keys = sorted(expected)
    window = Window()
    barrier = threading.Barrier(threads, action=lambda: window.open(warmup, seconds))
    results = [Result(seconds) for _ in range(threads)]

    def caller(number: int) -> None:
        owned = keys[number::threads]
        result = results[number]
        clock = time.perf_counter
        barrier.wait()
        n = 0
        while True:
            started = clock()
            if started >= window.end:
                break
            one_call(side, owned[n % len(owned)], n, expected, result)
            if started >= window.begin:
                result.latencies.append(clock() - started)
            n += 1
        result.calls = n

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    before = _switches()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    merged = Result(seconds)
    merged.switches = _switches() - before
    for result in results:
        merged.merge(result)
    return merged


def _switches() -> int:
    """Context switches of this process so far, voluntary or not.

    Under the GIL these, not Redis, set the pace with many caller threads:
    each one is a thread handing the interpreter to another.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


async def run_tasks(
    store: va.KeyValueStoreBackendBase,
    tasks: int,
    seconds: float,
    warmup: float,
    expected: dict[str, BenchRun],
) -> Result:
    """The workload on ``tasks`` asyncio tasks awaiting our futures."""
    keys = sorted(expected)
    window = Window()
    window.open(warmup, seconds)
    merged = Result(seconds, stall_ms=0.0)
    clock = time.perf_counter

    async def heartbeat() -> None:
        while clock() < window.end:
            started = clock()
            await asyncio.sleep(0.001)
            late = (clock() - started - 0.001) * 1e3
            if started >= window.begin and merged.stall_ms is not None:
                merged.stall_ms = max(merged.stall_ms, late)

    async def caller(number: int) -> None:
        owned = keys[number::tasks]
        n = 0
        while True:
            started = clock()
            if started >= window.end:
                break
            key = owned[n % len(owned)]
            try:
                if n % UPDATE_EVERY == UPDATE_EVERY - 1:
                    old = expected[key]
                    new = dataclasses.replace(old, step=old.step + 1)
                    await store.update_record(SCHEMA, key, new)
                    expected[key] = new
                elif await store.get_record(SCHEMA, BenchRun, key) != expected[key]:
                    merged.wrong += 1
            except Exception:
                merged.errors += 1
            if started >= window.begin:
                merged.latencies.append(clock() - started)
            n += 1

    with gc_pauses(window) as pauses:
        await asyncio.gather(heartbeat(), *(caller(i) for i in range(tasks)))
    merged.gc_pause_ms = max(pauses, default=0.0)
    return merged


@contextlib.contextmanager
def gc_pauses(window: Window) -> Iterator[list[float]]:
    """Collect the pauses (ms) of the garbage collector inside ``window``."""
    pauses: list[float] = []
    started = [0.0]

    def watch(phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            started[0] = now
        elif started[0] >= window.begin and now <= window.end:
            pauses.append((now - started[0]) * 1e3)

    gc.callbacks.append(watch)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(watch)


@dataclass
class FilterResult:
    records: int
    matches: int
    indexed_ms: float
    scan_ms: float
    same: bool

    @property
    def speedup(self) -> float:
        return self.scan_ms / self.indexed_ms if self.indexed_ms else float("inf")


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median time of ``repeat`` calls, in ms, and the last answer."""
    times: list[float] = []
    answer: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times), answer


def run_filter(store: va.RedisStoreBackend, count: int, quick: bool) -> FilterResult:
    """Time one equality filter with and without the index on ``status``."""
    statuses = ("done", "queued", "running")
    records = {
        f"f{i:07d}": IndexedRun(
            f"f{i:07d}", "failed" if i % 1000 == 7 else statuses[i % 3], i, "bench"
        )
        for i in range(count)
    }
    for chunk in chunked(list(records.items()), 5000):
        store.insert_many(FILTER_SCHEMA, dict(chunk)).get(timeout=CALL_TIMEOUT)

    def indexed() -> list[Any]:
        return store.filter_record(FILTER_SCHEMA, IndexedRun, status="failed").get(
            timeout=CALL_TIMEOUT
        )

    def scan() -> list[Any]:
        return store.filter_record(FILTER_SCHEMA, PlainRun, status="failed").get(
            timeout=CALL_TIMEOUT
        )

    indexed_ms, by_index = timed(indexed, 7)
    scan_ms, by_scan = timed(scan, 1 if quick else 3)
    same = [r.id for r in by_index] == [r.id for r in by_scan]
    return FilterResult(count, len(by_index), indexed_ms, scan_ms, same)


def chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def initial_records(count: int) -> dict[str, BenchRun]:
    return {
        f"r{i:05d}": BenchRun(f"r{i:05d}", "running", 0, f"worker-{i % 16}")
        for i in range(count)
    }


def populate(store: va.KeyValueStoreBackendBase, records: dict[str, BenchRun]) -> None:
    for chunk in chunked(list(records.items()), 2000):
        store.insert_many(SCHEMA, dict(chunk)).get(timeout=CALL_TIMEOUT)


@dataclass
class Settings:
    threads: tuple[int, ...]
    seconds: float
    warmup: float
    records: int
    tasks: int
    filter_records: int
    memory_threads: int
    url: str | None
    quick: bool


@dataclass
class Report:
    settings: Settings
    redis_rows: list[tuple[int, Result, Result]] = field(default_factory=list)
    memory: Result | None = None
    asyncio_row: Result | None = None
    filter_row: FilterResult | None = None

    @property
    def wrong(self) -> int:
        return sum(r.wrong for r in self._results()) + (
            0 if self.filter_row is None or self.filter_row.same else 1
        )

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self._results())

    def _results(self) -> list[Result]:
        found = [r for _, ours, raw in self.redis_rows for r in (ours, raw)]
        found += [r for r in (self.memory, self.asyncio_row) if r is not None]
        return found


def run(settings: Settings, where: str) -> Report:
    """Run every row against the Redis server at ``where`` (a URL)."""
    url = urlparse(where)
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    db = int((url.path or "/0").lstrip("/") or 0)
    namespace = f"cmp{uuid.uuid4().hex[:8]}"
    report = Report(settings)
    count = max(settings.records, max(settings.threads, default=1), settings.tasks)
    callers = max((*settings.threads, settings.memory_threads))
    pool = redis.ConnectionPool(host=host, port=port, db=db, max_connections=callers)
    client = redis.Redis(connection_pool=pool)
    store = va.RedisStoreBackend(host, port, db, namespace=namespace)
    try:
        ours_expected = initial_records(count)
        raw_expected = initial_records(count)
        populate(store, ours_expected)
        raw_name = f"{namespace}-raw:{SCHEMA}"
        client.hset(
            raw_name,
            mapping={k: codec.dumps(record_fields(r)) for k, r in raw_expected.items()},
        )
        ours, raw = OurSide(store), RawSide(client, raw_name)
        gc.collect()
        gc.freeze()
        s = settings
        for threads in s.threads:
            mine = run_threads(ours, threads, s.seconds, s.warmup, ours_expected)
            plain = run_threads(raw, threads, s.seconds, s.warmup, raw_expected)
            report.redis_rows.append((threads, mine, plain))
            print(f"  {threads} callers done", file=sys.stderr)
        gc.collect()
        gc.freeze()
        report.asyncio_row = asyncio.run(
            run_tasks(store, s.tasks, s.seconds, s.warmup, ours_expected)
        )
        report.memory = run_memory(settings, count)
        report.filter_row = run_filter(store, s.filter_records, s.quick)
    finally:
        gc.unfreeze()
        store.close()
        with contextlib.suppress(redis.RedisError):
            for name in client.scan_iter(match=f"{namespace}*", count=1000):
                client.unlink(name)
        pool.disconnect()
    return report


def run_memory(settings: Settings, count: int) -> Result:
    expected = initial_records(count)
    with va.InMemoryKeyValueStoreBackend() as memory:
        populate(memory, expected)
        return run_threads(
            OurSide(memory),
            settings.memory_threads,
            settings.seconds,
            settings.warmup,
            expected,
        )


def _us(value: float) -> str:
    return "-" if value != value else f"{value:,.0f}"


def format_report(report: Report) -> str:
    """The table, then the goals with met or not met."""
    s = report.settings
    lines = [
        f"volnux-actors vs redis-py: {s.seconds:g} s per run after {s.warmup:g} s "
        f"warm-up, {max(s.records, max(s.threads, default=1), s.tasks)} records, "
        f"{UPDATE_EVERY - 1} gets to 1 update, gc.freeze() after setup",
        "",
        f"{'row':<8}{'callers':>8}{'ours ops/s':>12}{'redis-py':>10}{'ratio':>7}"
        f"{'p50 us':>9}{'redis-py':>10}{'p99 us':>9}{'redis-py':>10}{'wrong':>7}"
        f"{'csw/call':>10}{'redis-py':>10}",
    ]
    for threads, ours, raw in report.redis_rows:
        ratio = ours.ops / raw.ops if raw.ops else float("inf")
        lines.append(
            f"{'redis':<8}{threads:>8}{ours.ops:>12,.0f}{raw.ops:>10,.0f}"
            f"{ratio:>6.2f}x{_us(ours.percentile_us(0.5)):>9}"
            f"{_us(raw.percentile_us(0.5)):>10}{_us(ours.percentile_us(0.99)):>9}"
            f"{_us(raw.percentile_us(0.99)):>10}{ours.wrong + raw.wrong:>7}"
            f"{ours.switches_per_call:>10.2f}{raw.switches_per_call:>10.2f}"
        )
    if report.memory is not None:
        mem = report.memory
        lines.append(
            f"{'memory':<8}{s.memory_threads:>8}{mem.ops:>12,.0f}{'-':>10}{'-':>7}"
            f"{_us(mem.percentile_us(0.5)):>9}{'-':>10}"
            f"{_us(mem.percentile_us(0.99)):>9}{'-':>10}{mem.wrong:>7}"
        )
    if report.asyncio_row is not None:
        aio = report.asyncio_row
        lines.append(
            f"{'asyncio':<8}{s.tasks:>8}{aio.ops:>12,.0f}{'-':>10}{'-':>7}"
            f"{_us(aio.percentile_us(0.5)):>9}{'-':>10}"
            f"{_us(aio.percentile_us(0.99)):>9}{'-':>10}{aio.wrong:>7}"
            f"   longest loop stall {aio.stall_ms or 0.0:.2f} ms"
            f" (longest GC pause {aio.gc_pause_ms or 0.0:.2f} ms)"
        )
    if report.filter_row is not None:
        f = report.filter_row
        lines.append(
            f"{'filter':<8}{f.records:>8} records, {f.matches} match: indexed "
            f"{f.indexed_ms:.2f} ms, scan {f.scan_ms:.1f} ms, "
            f"{f.speedup:.0f}x, same result: {'yes' if f.same else 'NO'}"
        )
    lines += ["", "goals:"]
    lines += [f"  [{mark}] {text}" for mark, text in goals(report)]
    lines += ["", f"wrong reads: {report.wrong}", f"failed calls: {report.errors}"]
    return "\n".join(lines)


def goals(report: Report) -> list[tuple[str, str]]:
    """Each goal of issue 5 as ``(met or not met, what was measured)``."""
    rows = {threads: (ours, raw) for threads, ours, raw in report.redis_rows}
    found: list[tuple[str, str]] = []

    def add(ok: bool | None, text: str) -> None:
        found.append(
            ("not measured" if ok is None else "met" if ok else "NOT met", text)
        )

    if 16 in rows:
        ours, raw = rows[16]
        ratio = ours.ops / raw.ops if raw.ops else float("inf")
        add(ratio >= 3, f"16 callers: ours {ratio:.2f}x redis-py's ops/s (goal >= 3x)")
    else:
        add(None, "16 callers: ours >= 3x redis-py's ops/s")
    if 1 in rows:
        ours, raw = rows[1]
        extra = ours.percentile_us(0.5) - raw.percentile_us(0.5)
        add(extra <= 200, f"1 caller: p50 {extra:+.0f} us over redis-py (goal <= +200)")
    else:
        add(None, "1 caller: p50 at most 200 us over redis-py")
    if 16 in rows and 256 in rows:
        share = rows[256][0].ops / rows[16][0].ops if rows[16][0].ops else 0.0
        add(share >= 0.9, f"256 callers: {share:.0%} of our 16-caller ops/s (>= 90%)")
    else:
        add(None, "256 callers: at least 90% of our 16-caller ops/s")
    if report.memory is not None:
        ops = report.memory.ops
        callers = report.settings.memory_threads
        add(
            ops >= 20000 if callers == 16 else None,
            f"memory, {callers} callers: {ops:,.0f} ops/s (goal >= 20,000 at 16)",
        )
    if report.asyncio_row is not None:
        stall = report.asyncio_row.stall_ms or 0.0
        tasks = report.settings.tasks
        add(stall <= 5, f"asyncio, {tasks} tasks: longest stall {stall:.2f} ms (<= 5)")
    if report.filter_row is not None:
        f = report.filter_row
        ok = f.indexed_ms < 20 and f.speedup >= 100
        note = "" if f.records >= 100_000 else " (goal is set at 100,000 records)"
        add(
            ok if f.records >= 100_000 else None,
            f"indexed filter over {f.records:,} records: {f.indexed_ms:.2f} ms, "
            f"{f.speedup:.0f}x the scan (goal < 20 ms and >= 100x){note}",
        )
    return found


def parse(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.compare", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--threads", help="caller thread counts, e.g. 1,4,16,64,256")
    parser.add_argument("--seconds", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds per run")
    parser.add_argument("--records", type=int, help="records the callers share")
    parser.add_argument("--tasks", type=int, help="asyncio tasks on the loop")
    parser.add_argument("--filter-records", type=int, help="records to filter")
    parser.add_argument("--memory-threads", type=int, default=16)
    parser.add_argument("--url", help="redis://host:port/db (default: start one)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short run, for CI (seconds, not minutes)",
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)

    def pick(value: Any, normal: Any, short: Any) -> Any:
        return value if value is not None else short if quick else normal

    threads = (
        tuple(int(t) for t in args.threads.split(",")) if args.threads else THREADS
    )
    return Settings(
        threads=threads,
        seconds=pick(args.seconds, 3.0, 0.3),
        warmup=pick(args.warmup, 0.5, 0.1),
        records=pick(args.records, 1000, 256),
        tasks=pick(args.tasks, 1000, 1000),
        filter_records=pick(args.filter_records, 100_000, 2_000),
        memory_threads=args.memory_threads,
        url=args.url,
        quick=quick,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison, print the table; 1 if a read was wrong."""
    settings = parse(argv)
    if settings.url is not None:
        report = run(settings, settings.url)
    else:
        from tests.servers_redis import RedisServer

        with RedisServer() as server:
            report = run(settings, server.url)
    print(format_report(report))
    return 1 if report.wrong or report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
