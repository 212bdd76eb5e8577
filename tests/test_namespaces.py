"""Redis namespaces: stores that share one database never see each other."""

from __future__ import annotations

import dataclasses

import pytest

import volnux_actors as va
from tests.servers_redis import RedisServer

pytestmark = pytest.mark.redis
T = 10.0


@dataclasses.dataclass
class IndexedRun(va.BackendIntegrationMixin):
    __indexed__ = ("status",)
    id: str
    status: str


@pytest.mark.parametrize(
    "namespace",
    ["nsC:IndexedRun", "a b", "x*", "", "line\nbreak", ".hidden", "n" * 101],
)
def test_a_namespace_that_could_overlap_another_is_refused(
    redis_clean: RedisServer, namespace: str
) -> None:
    with pytest.raises(va.ConfigurationError) as info:
        va.RedisStoreBackend(port=redis_clean.port, namespace=namespace)
    assert str(info.value) == (
        "RedisConnector: namespace must be 1 to 100 letters, digits, '_', '.' or "
        f"'-' (not starting with '.' or '-'), got {namespace!r}"
    )


def test_two_namespaces_in_one_database_keep_their_records_apart(
    redis_clean: RedisServer,
) -> None:
    port = redis_clean.port
    with (
        va.RedisStoreBackend(port=port, namespace="nsC") as first,
        va.RedisStoreBackend(port=port, namespace="nsC.IndexedRun") as second,
    ):
        first.insert_record("IndexedRun", "k", IndexedRun("k", "queued")).get(timeout=T)
        assert second.count("idx").get(timeout=T) == 0
        assert second.count("IndexedRun").get(timeout=T) == 0
        second.insert_record("IndexedRun", "k", IndexedRun("k", "done")).get(timeout=T)
        first.update_record("IndexedRun", "k", IndexedRun("k", "running")).get(
            timeout=T
        )
        assert first.filter_record("IndexedRun", IndexedRun, status="running").get(
            timeout=T
        ) == [IndexedRun("k", "running")]
        assert second.filter_record("IndexedRun", IndexedRun, status="done").get(
            timeout=T
        ) == [IndexedRun("k", "done")]
        first.delete_record("IndexedRun", "k").get(timeout=T)
        assert second.get_record("IndexedRun", IndexedRun, "k").get(
            timeout=T
        ) == IndexedRun("k", "done")
    keys = sorted(k.decode() for k in redis_clean.client().keys("nsC:*"))
    assert keys == []
    assert sorted(k.decode() for k in redis_clean.client().keys("*")) == [
        "nsC.IndexedRun:IndexedRun",
        "nsC.IndexedRun:IndexedRun:idx",  # each record's index entries
        "nsC.IndexedRun:IndexedRun:idx:status:sdone",
    ]
