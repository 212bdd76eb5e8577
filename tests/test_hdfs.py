"""HDFS-specific behaviour, on a real MiniDFSCluster."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import hdfs
import pytest

import volnux_actors as va
from tests.records_for_tests import Anything, Loose, User
from volnux_actors.connectors.hdfs import HDFSConnector
from volnux_actors.connectors.hdfs_names import key_to_name, name_to_key

T = 30.0
pytestmark = pytest.mark.hdfs


@pytest.fixture
def base() -> str:
    return f"/h{uuid.uuid4().hex[:8]}"


@pytest.fixture
def hstore(hdfs_cluster: Any, base: str) -> Iterator[va.HDFSStoreBackend]:
    store = va.HDFSStoreBackend(port=hdfs_cluster.http_port, base_path=base)
    yield store
    store.close()


@pytest.fixture
def raw(hdfs_cluster: Any) -> hdfs.InsecureClient:
    return hdfs.InsecureClient(hdfs_cluster.url, user="volnux")


def every_file(raw: hdfs.InsecureClient, top: str) -> list[str]:
    found: list[str] = []
    for path, _, files in raw.walk(top):
        found.extend(f"{path}/{name}" for name in files)
    return sorted(found)


def test_insert_update_read_and_second_insert(
    hstore: va.HDFSStoreBackend, raw: hdfs.InsecureClient, base: str
) -> None:
    # Case hdfs-overwrite, first half.
    hstore.insert_record("users", "u1", Anything("u1", 1)).get(timeout=T)
    hstore.update_record("users", "u1", Anything("u1", 2)).get(timeout=T)
    assert hstore.get_record("users", Anything, "u1").get(timeout=T).value == 2
    with pytest.raises(va.ObjectExistError) as info:
        hstore.insert_record("users", "u1", Anything("u1", 9)).get(timeout=T)
    assert "already exists in schema 'users'" in str(info.value)
    assert hstore.get_record("users", Anything, "u1").get(timeout=T).value == 2
    assert every_file(raw, base) == [f"{base}/users/u1.json"]


def test_concurrent_updates_last_wins_and_readers_see_whole_records(
    hstore: va.HDFSStoreBackend, raw: hdfs.InsecureClient, base: str
) -> None:
    # Case hdfs-overwrite, second half.
    hstore.insert_record("users", "u1", Anything("u1", 2)).get(timeout=T)
    start = threading.Barrier(3)
    stop = threading.Event()
    seen: list[Any] = []
    errors: list[BaseException] = []

    def update(value: int) -> None:
        start.wait(T)
        for _ in range(5):
            try:
                hstore.update_record("users", "u1", Anything("u1", value)).get(
                    timeout=T
                )
            except va.BackendError as error:
                errors.append(error)

    def read() -> None:
        start.wait(T)
        while not stop.is_set():
            seen.append(hstore.get_record("users", Anything, "u1").get(timeout=T).value)

    writers = [threading.Thread(target=update, args=(v,)) for v in (3, 4)]
    reader = threading.Thread(target=read)
    for thread in [*writers, reader]:
        thread.start()
    for thread in writers:
        thread.join(T)
    stop.set()
    reader.join(T)
    assert errors == []
    assert seen and set(seen) <= {2, 3, 4}
    final = hstore.get_record("users", Anything, "u1").get(timeout=T).value
    assert final in (3, 4)
    assert every_file(raw, base) == [f"{base}/users/u1.json"]


def test_update_that_dies_half_way_leaves_the_old_record(
    hdfs_cluster: Any, base: str, raw: hdfs.InsecureClient
) -> None:
    class DiesBeforeRename(HDFSConnector):
        def _call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
            if operation == "_rename" and kwargs.get("renameoptions") == "OVERWRITE":
                raise RuntimeError("process died between write and rename")
            return super()._call(operation, *args, **kwargs)

    class DyingStore(va.HDFSStoreBackend):
        connector_klass = DiesBeforeRename

    store = DyingStore(port=hdfs_cluster.http_port, base_path=base, max_connections=1)
    sound = va.HDFSStoreBackend(port=hdfs_cluster.http_port, base_path=base)
    try:
        sound.insert_record("users", "u1", Anything("u1", "old")).get(timeout=T)
        with pytest.raises(va.StoreError):
            store.update_record("users", "u1", Anything("u1", "new")).get(timeout=T)
        assert sound.get_record("users", Anything, "u1").get(timeout=T).value == "old"
        assert sound.count("users").get(timeout=T) == 1
        assert [
            r.id for r in sound.filter_record("users", Anything).get(timeout=T)
        ] == ["u1"]
        leftovers = [p for p in every_file(raw, base) if "/.tmp-" in p]
        assert len(leftovers) == 1
    finally:
        store.close()
        sound.close()


def test_key_characters_map_to_escaped_names_and_back(
    hstore: va.HDFSStoreBackend, raw: hdfs.InsecureClient, base: str
) -> None:
    # Case hdfs-key-characters: names on HDFS, and listing returns originals.
    keys = ["year=2015", "a b", "50%", "a+b", "café", "x:y", "q?x", "#frag"]
    for key in keys:
        hstore.insert_record("keys", key, Loose(key)).get(timeout=T)
    names = sorted(raw.list(f"{base}/keys"))
    assert names == sorted(key_to_name(k) for k in keys)
    assert "year~3D2015.json" in names and "caf~C3~A9.json" in names
    assert sorted(name_to_key(n) for n in names) == sorted(keys)
    found = hstore.filter_record("keys", Loose).get(timeout=T)
    assert sorted(r.id for r in found) == sorted(keys)
    assert all("%25" not in r.id and "%3D" not in r.id for r in found)
    assert all(p.startswith(f"{base}/keys/") for p in every_file(raw, base))


def test_long_key_is_hashed_and_still_round_trips(
    hstore: va.HDFSStoreBackend, raw: hdfs.InsecureClient, base: str
) -> None:
    key = "ü/" * 200
    hstore.insert_record("long", key, Loose("long")).get(timeout=T)
    assert hstore.exists("long", key).get(timeout=T) is True
    assert hstore.get_record("long", Loose, key).get(timeout=T).id == key
    assert [r.id for r in hstore.filter_record("long", Loose).get(timeout=T)] == [key]
    (name,) = raw.list(f"{base}/long")
    assert name.startswith("~~") and len(name) < 80


def test_count_costs_one_request(hdfs_cluster: Any, base: str) -> None:
    connector = HDFSConnector(port=hdfs_cluster.http_port, base_path=base)
    connector.connect()
    try:
        for n in range(30):
            connector.insert("c", f"k{n}", b'{"n":1}', ())
        before = connector.requests_sent
        assert connector.count("c") == 30
        assert connector.requests_sent - before == 1
    finally:
        connector.disconnect()


def test_filter_reads_in_parallel_across_the_pool(
    hstore: va.HDFSStoreBackend,
) -> None:
    futures = [
        hstore.insert_record("many", f"k{n:03}", User(f"k{n:03}", "x", n % 3))
        for n in range(60)
    ]
    for future in futures:
        future.get(timeout=T)
    found = hstore.filter_record("many", User, age=1).get(timeout=T)
    assert [u.id for u in found] == [f"k{n:03}" for n in range(60) if n % 3 == 1]
    assert hstore.stats().connections_opened > 1


def test_explicit_datanode_address_rewrites_redirects(
    hdfs_cluster: Any, base: str
) -> None:
    store = va.HDFSStoreBackend(
        host="localhost",
        port=hdfs_cluster.http_port,
        base_path=base,
        datanode_address="127.0.0.1",
    )
    try:
        store.insert_record("dn", "k", Loose("v")).get(timeout=T)
        assert store.get_record("dn", Loose, "k").get(timeout=T).name == "v"
    finally:
        store.close()


def test_unreachable_namenode_raises_unavailable_never_false_or_zero(
    base: str,
) -> None:
    from tests.servers_redis import free_port

    store = va.HDFSStoreBackend(port=free_port(), base_path=base, max_connections=1)
    try:
        with pytest.raises(va.BackendUnavailableError, match="cannot be reached"):
            store.exists("users", "u1").get(timeout=T)
        with pytest.raises(va.BackendUnavailableError):
            store.count("users").get(timeout=T)
        with pytest.raises(va.BackendUnavailableError):
            store.filter_record("users", User).get(timeout=T)
    finally:
        store.close()


def test_safe_mode_makes_writes_unavailable_and_reads_still_work(
    hdfs_cluster: Any, hstore: va.HDFSStoreBackend
) -> None:
    hstore.insert_record("sm", "k1", Loose("v")).get(timeout=T)
    hdfs_cluster.enter_safemode()
    try:
        with pytest.raises(va.BackendUnavailableError, match="SafeModeException"):
            hstore.insert_record("sm", "k2", Loose("v")).get(timeout=T)
        assert hstore.exists("sm", "k1").get(timeout=T) is True
        assert hstore.exists("sm", "k2").get(timeout=T) is False
    finally:
        hdfs_cluster.leave_safemode()
    hstore.insert_record("sm", "k2", Loose("v")).get(timeout=T)
    assert hstore.count("sm").get(timeout=T) == 2


def test_every_client_error_class_has_a_translation(hdfs_cluster: Any) -> None:
    import inspect

    import requests

    classes = [
        c
        for _, c in inspect.getmembers(requests.exceptions, inspect.isclass)
        if issubclass(c, requests.exceptions.RequestException)
    ]
    connector = HDFSConnector(port=hdfs_cluster.http_port)
    for cls in [*classes, hdfs.util.HdfsError]:
        try:
            error = cls("boom")
        except TypeError:
            continue
        for read in (True, False):
            translated = connector._translate_exception(error, "probe", read, "s", "k")
            assert isinstance(translated, va.BackendError), cls
            assert translated.schema == "s" and translated.key == "k"


def write_stale_temp(raw: hdfs.InsecureClient, directory: str, age_s: float) -> str:
    """A temporary file as a crashed write leaves it, ``age_s`` seconds old."""
    path = f"{directory}/.tmp-{uuid.uuid4().hex}"
    raw.write(path, data=b'{"half":', overwrite=False)
    raw.set_times(path, modification_time=int((time.time() - age_s) * 1000))
    return path


def test_filter_deletes_temp_files_older_than_ten_minutes(
    hstore: va.HDFSStoreBackend, raw: hdfs.InsecureClient, base: str
) -> None:
    hstore.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
    stale = write_stale_temp(raw, f"{base}/users", 11 * 60)
    fresh = write_stale_temp(raw, f"{base}/users", 9 * 60)
    assert hstore.count("users").get(timeout=T) == 1
    assert every_file(raw, base) == sorted([stale, fresh, f"{base}/users/u1.json"])
    found = hstore.filter_record("users", User).get(timeout=T)
    assert [user.id for user in found] == ["u1"]
    assert every_file(raw, base) == sorted([fresh, f"{base}/users/u1.json"])


def test_temp_max_age_sets_the_age_and_none_keeps_every_temp_file(
    hdfs_cluster: Any, raw: hdfs.InsecureClient, base: str
) -> None:
    quick = va.HDFSStoreBackend(
        port=hdfs_cluster.http_port, base_path=base, temp_max_age=30
    )
    never = va.HDFSStoreBackend(
        port=hdfs_cluster.http_port, base_path=base, temp_max_age=None
    )
    try:
        quick.insert_record("users", "u1", User("u1", "Ada")).get(timeout=T)
        old = write_stale_temp(raw, f"{base}/users", 3600)
        never.filter_record("users", User).get(timeout=T)
        assert old in every_file(raw, base)
        recent = write_stale_temp(raw, f"{base}/users", 60)
        quick.filter_record("users", User).get(timeout=T)
        assert every_file(raw, base) == [f"{base}/users/u1.json"]
        assert recent not in every_file(raw, base)
    finally:
        quick.close()
        never.close()


def test_count_stays_one_request_with_stale_temp_files(
    hdfs_cluster: Any, raw: hdfs.InsecureClient, base: str
) -> None:
    connector = HDFSConnector(port=hdfs_cluster.http_port, base_path=base)
    connector.connect()
    try:
        connector.insert("c", "k", b'{"n":1}', ())
        stale = write_stale_temp(raw, f"{base}/c", 3600)
        before = connector.requests_sent
        assert connector.count("c") == 1
        assert connector.requests_sent - before == 1
        assert stale in every_file(raw, base)
    finally:
        connector.disconnect()


@pytest.mark.parametrize(
    ("base_path", "part"),
    [
        ("/nu2/semi;colon:", "semi;colon:"),
        ("/nu2/x/../y", ".."),
        ("/a/../../etc", ".."),
    ],
)
def test_a_base_path_that_could_leave_its_tree_or_that_hdfs_refuses_is_refused(
    base_path: str, part: str
) -> None:
    with pytest.raises(va.ConfigurationError) as info:
        va.HDFSStoreBackend(host="127.0.0.1", port=9870, base_path=base_path)
    assert str(info.value) == (
        f"HDFSConnector: base_path {base_path!r} has a part {part!r} that is not 1 "
        "to 100 letters, digits, '_', '.' or '-' (not starting with '.' or '-'); "
        "'..' and ':' are refused"
    )


def test_a_base_path_is_kept_without_empty_parts_or_a_trailing_slash() -> None:
    from volnux_actors.connectors.hdfs import HDFSConnector

    assert HDFSConnector(base_path="/volnux/").base_path == "/volnux"
    assert HDFSConnector(base_path="/a//b").base_path == "/a/b"
    assert HDFSConnector(base_path="/").base_path == "/"
