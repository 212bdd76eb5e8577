"""The HDFS store: one JSON file per record, through WebHDFS."""

from __future__ import annotations

import threading
from typing import Any

from supervisors import Future
from volnux_actors import messages as m
from volnux_actors.connectors.hdfs import HDFSConnector, ListFiles, ReadFile
from volnux_actors.errors import STORE_ERRORS
from volnux_actors.stores.base import KeyValueStoreBackendBase

DEFAULT_MAX_CONNECTIONS = 8


class HDFSStoreBackend(KeyValueStoreBackendBase):
    """Records as ``<base_path>/<schema>/<key>.json`` files on HDFS.

    ``host`` and ``port`` are the namenode's WebHDFS address (port 9870 on
    Hadoop 3). ``datanode_address`` replaces the host datanodes redirect
    to, for clusters whose datanode names do not resolve from here.
    ``filter_record`` lists the schema in one request and reads its files
    in parallel over the pool's connections; it also deletes the temporary
    files of writes that died more than ``temp_max_age`` seconds ago (10
    minutes; None: never). The pool holds up to 8 connections by default.

    A reader sees a whole record, old or new, never a partial file. An
    update racing with a delete of the same key may bring the record back.
    """

    connector_klass = HDFSConnector

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9870,
        username: str | None = "volnux",
        base_path: str = "/volnux",
        *,
        connect_timeout: float | None = 2.0,
        read_timeout: float | None = 10.0,
        datanode_address: str | None = None,
        temp_max_age: float | None = 600.0,
        **options: Any,
    ) -> None:
        self._connector_config: dict[str, Any] = {
            "host": host,
            "port": port,
            "username": username,
            "base_path": base_path,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "datanode_address": datanode_address,
            "temp_max_age": temp_max_age,
        }
        options.setdefault("max_connections", DEFAULT_MAX_CONNECTIONS)
        # WebHDFS has no pipelining: a batch would only serialise calls on
        # one connection. Hand out one call at a time, to every free actor.
        options.setdefault("batch_size", 1)
        options.setdefault("stall_timeout", None)
        super().__init__(**options)

    def connector_config(self) -> dict[str, Any]:
        return dict(self._connector_config)

    def _fetch_all(
        self, message: m.Message, timeout: float | None
    ) -> Future[list[tuple[str, bytes]]]:
        result: Future[list[tuple[str, bytes]]] = Future(STORE_ERRORS)
        listing = self._send(ListFiles(message.schema), timeout)

        def fan_out(names_future: Future[list[str]]) -> None:
            error = names_future.exception(timeout=0)
            if error is not None:
                result.set_exception(error)
                return
            names = names_future.get(timeout=0)
            # This runs on the actor that listed the schema: queue the reads
            # for the whole pool instead of running them here one by one.
            reads = [
                self._send(ReadFile(message.schema, n), timeout, direct=False)
                for n in names
            ]
            _gather(reads, result)

        listing.add_done_callback(fan_out)
        return result

    def __repr__(self) -> str:
        c = self._connector_config
        return f"<HDFSStoreBackend {c['host']}:{c['port']}{c['base_path']} {self.name}>"


def _gather(reads: list[Future[Any]], result: Future[list[tuple[str, bytes]]]) -> None:
    """Complete ``result`` with every read that found its file."""
    if not reads:
        result.set([])
        return
    remaining = [len(reads)]
    lock = threading.Lock()

    def one_done(_: Future[Any]) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if not last:
            return
        found: list[tuple[str, bytes]] = []
        for read in reads:
            error = read.exception(timeout=0)
            if error is not None:
                result.set_exception(error)
                return
            item = read.get(timeout=0)
            if item is not None:
                found.append(item)
        result.set(found)

    for read in reads:
        read.add_done_callback(one_done)
