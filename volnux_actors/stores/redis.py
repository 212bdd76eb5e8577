"""The Redis store: one hash per schema, atomic writes on the server."""

from __future__ import annotations

from typing import Any

from volnux_actors.connectors.redis import RedisConnector
from volnux_actors.secret import Secret
from volnux_actors.stores.base import KeyValueStoreBackendBase


class RedisStoreBackend(KeyValueStoreBackendBase):
    """Records in Redis, through a supervised pool of connections.

    Insert is ``HSETNX``, update a server-side script that writes only an
    existing field, delete ``HDEL``: each is atomic on the server, so twenty
    threads inserting one key see exactly one success.

    The password is kept as a :class:`~volnux_actors.secret.Secret`: it
    shows as ``***`` in every repr and is revealed only to redis-py.
    """

    connector_klass = RedisConnector

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | Secret | None = None,
        *,
        namespace: str = "volnux",
        socket_timeout: float | None = 5.0,
        socket_connect_timeout: float | None = 2.0,
        health_check_after: float = 1.0,
        **options: Any,
    ) -> None:
        self._connector_config: dict[str, Any] = {
            "host": host,
            "port": port,
            "db": db,
            "username": username,
            "password": Secret.wrap(password),
            "namespace": namespace,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_connect_timeout,
            "health_check_after": health_check_after,
        }
        super().__init__(**options)

    def connector_config(self) -> dict[str, Any]:
        return dict(self._connector_config)

    def __repr__(self) -> str:
        c = self._connector_config
        return f"<RedisStoreBackend {c['host']}:{c['port']}/{c['db']} {self.name}>"
