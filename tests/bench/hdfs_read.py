"""Reading one HDFS schema: our pooled store against a plain HdfsCLI loop.

Both sides read the same ``--records`` records, in one run: every record by
key, then one filter over the whole schema. Ours uses a pool of ``--pool``
connections and submits every call at once; the plain side is the loop a
user would write with HdfsCLI, one request after another. The goal is ours
at least 4 times faster.

    python -m tests.bench.hdfs_read                        # starts a MiniDFSCluster
    python -m tests.bench.hdfs_read --url http://127.0.0.1:9870 --records 1000
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import hdfs
import orjson

import volnux_actors as va
from tests.records_for_tests import User
from volnux_actors.connectors.hdfs_names import key_to_name


@contextmanager
def cluster(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.servers_hdfs import MiniHdfs

    with MiniHdfs() as mini:
        yield mini.url


def run(url: str, records: int, pool: int) -> dict[str, Any]:
    parts = urlsplit(url)
    base = f"/bench-{uuid.uuid4().hex[:8]}"
    store = va.HDFSStoreBackend(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 9870,
        base_path=base,
        max_connections=pool,
        connection_timeout=None,  # every call is submitted at once, on purpose
    )
    raw = hdfs.InsecureClient(url, user="volnux")
    keys = [f"run-{n:05}" for n in range(records)]
    try:
        writes = [
            store.insert_record("runs", k, User(k, "bench", n % 7))
            for n, k in enumerate(keys)
        ]
        for write in writes:
            write.get(timeout=300)

        started = time.perf_counter()
        futures = [store.get_record("runs", User, k) for k in keys]
        ours_gets = [f.get(timeout=300) for f in futures]
        ours_get_s = time.perf_counter() - started
        started = time.perf_counter()
        ours_filter = store.filter_record("runs", User, age=3).get(timeout=300)
        ours_filter_s = time.perf_counter() - started

        folder = f"{base}/runs"
        started = time.perf_counter()
        plain_gets = []
        for key in keys:
            with raw.read(f"{folder}/{key_to_name(key)}") as reader:
                plain_gets.append(User(**orjson.loads(reader.read())))
        plain_get_s = time.perf_counter() - started
        started = time.perf_counter()
        plain_filter = []
        for name in sorted(raw.list(folder)):
            with raw.read(f"{folder}/{name}") as reader:
                data = orjson.loads(reader.read())
            if data.get("age") == 3:
                plain_filter.append(data)
        plain_filter_s = time.perf_counter() - started

        assert [u.id for u in ours_gets] == keys
        assert [u.name for u in ours_gets] == [u.name for u in plain_gets]
        assert len(ours_filter) == len(plain_filter)
    finally:
        store.close()
        raw.delete(base, recursive=True)
    ours = ours_get_s + ours_filter_s
    plain = plain_get_s + plain_filter_s
    return {
        "records": records,
        "pool": pool,
        "ours_get_s": round(ours_get_s, 3),
        "ours_filter_s": round(ours_filter_s, 3),
        "plain_get_s": round(plain_get_s, 3),
        "plain_filter_s": round(plain_filter_s, 3),
        "ours_total_s": round(ours, 3),
        "plain_total_s": round(plain, 3),
        "ratio": round(plain / ours, 2),
        "goal_met": plain / ours >= 4.0,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="WebHDFS URL; default: start a MiniDFSCluster")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=8)
    args = parser.parse_args(argv)
    with cluster(args.url) as url:
        result = run(url, args.records, args.pool)
    print(f"{'':8}{'ours (pool of ' + str(args.pool) + ')':>20}{'plain HdfsCLI':>16}")
    print(f"{'get':8}{result['ours_get_s']:>19.3f}s{result['plain_get_s']:>15.3f}s")
    print(
        f"{'filter':8}{result['ours_filter_s']:>19.3f}s"
        f"{result['plain_filter_s']:>15.3f}s"
    )
    print(
        f"{'total':8}{result['ours_total_s']:>19.3f}s{result['plain_total_s']:>15.3f}s"
    )
    verdict = "met" if result["goal_met"] else "NOT met"
    print(f"ratio {result['ratio']}x (goal: at least 4x) {verdict}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
