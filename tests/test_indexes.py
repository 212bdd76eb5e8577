"""Secondary indexes: filter_record by index gives what a scan gives."""

from __future__ import annotations

import dataclasses
import random
import threading
from typing import Any

import pytest

from tests.records_for_tests import User
from tests.servers_redis import RedisServer
from volnux_actors import BackendIntegrationMixin, RedisStoreBackend
from volnux_actors import messages as m
from volnux_actors.records import index_token

T = 10.0
INDEXED = ("memory", "redis")


@dataclasses.dataclass
class Job(BackendIntegrationMixin):
    __indexed__ = ("status", "team", "size")

    id: str
    status: str
    team: str
    size: Any = 0
    note: str = ""


@dataclasses.dataclass
class ScannedJob(BackendIntegrationMixin):
    """The same fields, no index: its filters scan."""

    id: str
    status: str
    team: str
    size: Any = 0
    note: str = ""


def sent_messages(store: Any) -> list[type]:
    """Record each Lookup or Scan message the store hands to its manager."""
    seen: list[type] = []
    manager = store.manager
    submit = manager.submit

    def spy(message: Any, **options: Any) -> Any:
        if type(message) in (m.Lookup, m.Scan):
            seen.append(type(message))
        return submit(message, **options)

    manager.submit = spy
    return seen


def both_ways(store: Any, **conditions: Any) -> list[str]:
    indexed = store.filter_record("jobs", Job, **conditions).get(timeout=T)
    scanned = store.filter_record("jobs", ScannedJob, **conditions).get(timeout=T)
    assert [dataclasses.astuple(r) for r in indexed] == [
        dataclasses.astuple(r) for r in scanned
    ]
    return [record.id for record in indexed]


def test_filter_on_indexed_fields_uses_the_index_and_matches_the_scan(
    store: Any, backend: str
) -> None:
    jobs = {
        f"j{n}": Job(f"j{n}", ["queued", "done"][n % 2], f"t{n % 3}", n % 4)
        for n in range(30)
    }
    store.insert_many("jobs", jobs).get(timeout=T)
    seen = sent_messages(store)
    assert both_ways(store, status="done") == sorted(
        k for k, j in jobs.items() if j.status == "done"
    )
    assert both_ways(store, status="queued", team="t1") == sorted(
        k for k, j in jobs.items() if j.status == "queued" and j.team == "t1"
    )
    assert both_ways(store, status="lost") == []
    if backend in INDEXED:
        assert seen == [m.Lookup, m.Scan] * 3


def test_filter_on_an_unindexed_field_scans(store: Any, backend: str) -> None:
    store.insert_record("jobs", "a", Job("a", "done", "x", note="n")).get(timeout=T)
    seen = sent_messages(store)
    assert both_ways(store, status="done", note="n") == ["a"]
    assert both_ways(store, id="a") == ["a"]
    assert both_ways(store) == ["a"]
    if backend in INDEXED:
        assert seen == [m.Scan] * 6


def test_update_that_changes_an_indexed_value_moves_the_record(store: Any) -> None:
    store.insert_record("jobs", "a", Job("a", "queued", "x")).get(timeout=T)
    store.insert_record("jobs", "b", Job("b", "queued", "x")).get(timeout=T)
    store.update_record("jobs", "a", Job("a", "running", "y")).get(timeout=T)
    assert both_ways(store, status="queued") == ["b"]
    assert both_ways(store, status="running") == ["a"]
    assert both_ways(store, team="x") == ["b"]
    store.update_record("jobs", "a", Job("a", "running", "y", note="z")).get(timeout=T)
    assert both_ways(store, status="running", team="y") == ["a"]


def test_deleted_records_leave_the_index(store: Any) -> None:
    batch = {k: Job(k, "done", "x") for k in ("a", "b", "c", "d")}
    store.insert_many("jobs", batch).get(timeout=T)
    store.delete_record("jobs", "a").get(timeout=T)
    assert store.delete_many("jobs", ["b", "c"]).get(timeout=T) == 2
    assert both_ways(store, status="done") == ["d"]
    store.insert_record("jobs", "a", Job("a", "queued", "x")).get(timeout=T)
    assert both_ways(store, status="done") == ["d"]
    assert both_ways(store, status="queued") == ["a"]


def test_failed_bulk_insert_leaves_no_index_entry(store: Any) -> None:
    store.insert_record("jobs", "a", Job("a", "done", "x")).get(timeout=T)
    with pytest.raises(Exception, match="already exist"):
        store.insert_many(
            "jobs", {"b": Job("b", "done", "x"), "a": Job("a", "done", "x")}
        ).get(timeout=T)
    assert both_ways(store, status="done") == ["a"]


def test_numbers_match_by_value_and_booleans_by_type(store: Any) -> None:
    for key, size in [("i", 1), ("f", 1.0), ("h", 1.5), ("b", True), ("n", None)]:
        store.insert_record("jobs", key, Job(key, "s", "t", size)).get(timeout=T)
    assert both_ways(store, size=1) == ["f", "i"]
    assert both_ways(store, size=1.0) == ["f", "i"]
    assert both_ways(store, size=1.5) == ["h"]
    assert both_ways(store, size=True) == ["b"]
    assert both_ways(store, size=None) == ["n"]
    assert index_token(1) == index_token(1.0) != index_token(True)


def test_values_without_a_token_are_filtered_by_scan(store: Any, backend: str) -> None:
    store.insert_record("jobs", "l", Job("l", "s", "t", [1, 2])).get(timeout=T)
    store.insert_record("jobs", "o", Job("o", "s", "t", 3)).get(timeout=T)
    seen = sent_messages(store)
    assert both_ways(store, size=[1, 2]) == ["l"]
    if backend in INDEXED:
        assert seen == [m.Scan, m.Scan]
    assert both_ways(store, size=3) == ["o"]


def test_random_writes_keep_index_and_scan_in_agreement(store: Any) -> None:
    chance = random.Random(5)
    live: set[str] = set()
    for step in range(300):
        key = f"k{chance.randrange(40)}"
        job = Job(key, chance.choice("abc"), chance.choice("xy"), step % 3)
        if key in live and chance.random() < 0.3:
            store.delete_record("jobs", key).get(timeout=T)
            live.discard(key)
        elif key in live:
            store.update_record("jobs", key, job).get(timeout=T)
        else:
            store.insert_record("jobs", key, job).get(timeout=T)
            live.add(key)
    for status in "abc":
        for team in "xy":
            both_ways(store, status=status, team=team)
        both_ways(store, status=status)


def test_concurrent_updates_leave_each_record_in_exactly_one_status_set(
    redis_clean: RedisServer,
) -> None:
    store = RedisStoreBackend(port=redis_clean.port, namespace="ix")
    try:
        keys = [f"k{n}" for n in range(8)]
        store.insert_many("jobs", {k: Job(k, "s0", "x") for k in keys}).get(timeout=T)

        def churn(number: int) -> None:
            for step in range(60):
                key = keys[(number + step) % len(keys)]
                job = Job(key, f"s{(number * step) % 5}", "x")
                store.update_record("jobs", key, job).get(timeout=T)

        threads = [threading.Thread(target=churn, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(T)
        client = redis_clean.client()
        stored = {
            record.id: record.status
            for record in store.filter_record("jobs", ScannedJob).get(timeout=T)
        }
        holders: dict[str, list[str]] = {key: [] for key in keys}
        prefix = "ix:jobs:idx:status:s"
        for name in client.scan_iter(match=f"{prefix}*"):
            for member in client.smembers(name):
                holders[member.decode()].append(name.decode().removeprefix(prefix))
        assert holders == {key: [status] for key, status in stored.items()}
    finally:
        store.close()


def test_redis_index_sets_disappear_with_their_last_record(
    redis_clean: RedisServer,
) -> None:
    store = RedisStoreBackend(port=redis_clean.port, namespace="iy")
    try:
        store.insert_record("jobs", "a", Job("a", "done", "x")).get(timeout=T)
        client = redis_clean.client()
        names = sorted(n.decode() for n in client.scan_iter(match="iy:*"))
        assert names == [
            "iy:jobs",
            "iy:jobs:idx",
            "iy:jobs:idx:size:n0",
            "iy:jobs:idx:status:sdone",
            "iy:jobs:idx:team:sx",
        ]
        store.insert_record("users", "u", User("u", "plain")).get(timeout=T)
        assert not list(client.scan_iter(match="iy:users:idx*"))
        store.delete_record("jobs", "a").get(timeout=T)
        store.delete_record("users", "u").get(timeout=T)
        assert list(client.scan_iter(match="iy:*")) == []
    finally:
        store.close()
