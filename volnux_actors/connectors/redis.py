"""The Redis connector: one redis-py connection, driven in pipelines.

The connector speaks to Redis through a single ``redis.connection.Connection``
so that it alone decides when to reconnect and what may be sent again: reads
are retried once on a fresh connection, writes never are. When its actor
hands it several messages at once they go out in one pipeline.

Layout: one hash per schema, named ``<namespace>:<schema>``; the hash field
is the record key and the value the encoded record. Indexed fields live in
sets beside it, kept by the scripts of :mod:`redis_scripts`.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Sequence
from typing import Any

import orjson
from hiredis import Reader, pack_command
from redis import exceptions as rx
from redis.backoff import NoBackoff
from redis.connection import Connection
from redis.retry import Retry

from volnux_actors import checks
from volnux_actors import messages as m
from volnux_actors.connectors import redis_scripts as scripts
from volnux_actors.connectors.base import BackendConnectorBase
from volnux_actors.connectors.errors import (
    already_exist_many,
    already_exists,
    does_not_exist,
)
from volnux_actors.connectors.redis_errors import translate, translate_connect
from volnux_actors.errors import (
    BackendUnavailableError,
    ConfigurationError,
    OperationTimeoutError,
    OutcomeUnknownError,
    StoreError,
    WriteTimeoutError,
)
from volnux_actors.secret import Secret

_NOT_ENOUGH = object()
"""What the reply parser answers while a reply is still incomplete."""
_READ_SIZE = 65536


class RedisConnector(BackendConnectorBase):
    """Owns one connection to a Redis server.

    ``health_check_after`` is how long the connection may sit unused before
    it is checked with a PING ahead of the next call; ``socket_timeout``
    bounds every read and write on the socket.
    """

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
        client_name: str = "volnux-actors",
    ) -> None:
        owner = type(self).__name__
        if password is not None and not isinstance(password, str | Secret):
            raise ConfigurationError(
                f"{owner}: password must be a string or None, got "
                f"{type(password).__name__}"
            )
        super().__init__(
            checks.text(host, "host", owner),
            checks.port(port, owner),
            checks.text(username, "username", owner, optional=True),
            password,
            checks.count(db, "db", owner, 0),
        )
        self.namespace = checks.name(namespace, "namespace", owner)
        self.socket_timeout = checks.timeout(socket_timeout, "socket_timeout", owner)
        self.socket_connect_timeout = checks.timeout(
            socket_connect_timeout, "socket_connect_timeout", owner
        )
        self.health_check_after = checks.seconds(
            health_check_after, "health_check_after", owner
        )
        self.client_name = checks.text(client_name, "client_name", owner)
        self._conn: Connection | None = None
        self._connecting: Connection | None = None
        self._aborted = False
        self._reader: Any = None
        self._last_used = 0.0
        self.connections_lost = 0

    # -- connection ---------------------------------------------------------

    def _where(self) -> str:
        return f"Redis at {self.host}:{self.port} db {self.db}"

    def connect(self) -> None:
        if self.is_connected():
            return
        if self._aborted:
            raise BackendUnavailableError(
                f"the connection to {self._where()} was cut because its store is "
                "closing; create a new store"
            )
        conn = Connection(
            host=self.host or "127.0.0.1",
            port=int(self.port or 6379),
            db=int(self.db or 0),
            username=self.username,
            password=self.password,
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=self.socket_connect_timeout,
            retry=Retry(NoBackoff(), 0),
            client_name=self.client_name,
        )
        # Visible to abort() while the handshake may block.
        self._connecting = conn
        try:
            conn.connect()
            _load_scripts(conn)
        except (rx.RedisError, OSError) as error:
            conn.disconnect()
            what = f"connecting to {self._where()}"
            raise translate_connect(error, what, self.db) from error
        finally:
            self._connecting = None
        self._conn = conn
        # Replies are read with a parser of our own, straight off the socket:
        # redis-py's per-reply path costs more than the parse itself. Its own
        # parser has nothing buffered once the handshake above is answered.
        self._reader = Reader(
            protocolError=rx.InvalidResponse,
            replyError=conn._parser.parse_error,
            notEnoughData=_NOT_ENOUGH,
        )
        self._last_used = time.monotonic()

    def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        self._reader = None
        if conn is not None:
            conn.disconnect()

    def abort(self) -> None:
        """Shut the socket down from another thread; a blocked read returns.

        The connector is finished after this: it never connects again, so a
        read that would be retried on a fresh connection fails instead of
        blocking its actor once more. A handshake in progress is cut too.
        """
        self._aborted = True
        for conn in (self._conn, self._connecting):
            sock = None if conn is None else conn._sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    continue

    def is_connected(self) -> bool:
        conn = self._conn
        return conn is not None and conn._sock is not None

    def _drop(self) -> None:
        self.connections_lost += 1
        self.disconnect()

    def _check_idle(self) -> None:
        """Drop a connection the server closed, before anything is sent on it.

        With no call outstanding, a socket that is readable holds either the
        server's close or bytes nobody asked for: both make it unusable. A
        connection unused for ``health_check_after`` seconds is also PINGed.
        """
        conn = self._conn
        if conn is None or conn._sock is None:
            return
        try:
            readable, _, _ = select.select([conn._sock], [], [], 0)
        except (OSError, ValueError):
            readable = [True]
        if readable:
            self._drop()
            return
        if time.monotonic() - self._last_used < self.health_check_after:
            return
        _, failed = self._exchange([("PING",)])
        if failed is not None:
            self._drop()

    # -- batches -----------------------------------------------------------

    def run_batch(self, messages: Sequence[m.Message]) -> list[Any]:
        results: list[Any] = [None] * len(messages)
        start = 0
        while start < len(messages):
            if isinstance(messages[start], m.Scan):
                results[start] = self._scan_once(messages[start])
                start += 1
                continue
            end = start
            while end < len(messages) and not isinstance(messages[end], m.Scan):
                end += 1
            self._pipeline(messages, range(start, end), results)
            start = end
        return results

    def _ensure(self) -> StoreError | None:
        try:
            self._check_idle()
            self.connect()
        except StoreError as error:
            return error
        return None

    def _pipeline(
        self, messages: Sequence[m.Message], span: range, results: list[Any]
    ) -> None:
        error = self._ensure()
        if error is not None:
            for i in span:
                results[i] = error
            return
        commands = [self._command(messages[i]) for i in span]
        replies, failed = self._exchange(commands)
        if failed is not None:
            # Before anything else is sent (a NOSCRIPT fallback, say): the
            # broken connection may still deliver late replies.
            self._drop()
        for pos, i in enumerate(span):
            if pos < len(replies):
                results[i] = self._interpret(messages[i], replies[pos])
        if failed is None:
            return
        retry: list[int] = []
        for i in span[len(replies) :]:
            message = messages[i]
            if message.is_write:
                results[i] = self._unknown(message, failed)
            else:
                retry.append(i)
        if retry:
            self._retry_reads(messages, retry, results, failed)

    def _retry_reads(
        self,
        messages: Sequence[m.Message],
        indexes: list[int],
        results: list[Any],
        first: BaseException,
    ) -> None:
        # Reads are safe to send again: once, on a fresh connection.
        error = self._ensure()
        if error is None:
            commands = [self._command(messages[i]) for i in indexes]
            replies, failed = self._exchange(commands)
            if failed is not None:
                self._drop()
            for pos, i in enumerate(indexes):
                if pos < len(replies):
                    results[i] = self._interpret(messages[i], replies[pos])
            if failed is None:
                return
            first = failed
            indexes = indexes[len(replies) :]
        for i in indexes:
            message = messages[i]
            results[i] = translate(
                first, message.describe(), schema=message.schema, key=_key(message)
            )

    def _exchange(
        self, commands: list[tuple[Any, ...]]
    ) -> tuple[list[Any], BaseException | None]:
        """Send ``commands`` in one write; read replies until one fails.

        Error replies come back as exception instances, one per command.
        The second item is the failure of the link (or of the protocol)
        that stopped the exchange, after which the connection is unusable:
        the caller drops it, so a partial reply is never read by a later
        call.
        """
        conn = self._conn
        assert conn is not None
        sock = conn._sock
        reader = self._reader
        replies: list[Any] = []
        if sock is None or reader is None:
            return replies, rx.ConnectionError(f"not connected to {self._where()}")
        wanted = len(commands)
        try:
            sock.sendall(b"".join(map(pack_command, commands)))
            while True:
                reply = reader.gets()
                while reply is not _NOT_ENOUGH:
                    replies.append(reply)
                    if len(replies) == wanted:
                        self._last_used = time.monotonic()
                        return replies, None
                    reply = reader.gets()
                data = sock.recv(_READ_SIZE)
                if not data:
                    raise rx.ConnectionError(f"{self._where()} closed the connection")
                reader.feed(data)
        except TimeoutError as error:
            timeout = rx.TimeoutError(
                f"no answer from {self._where()} within {self.socket_timeout}s"
            )
            timeout.__cause__ = error
            return replies, timeout
        except OSError as error:
            return replies, rx.ConnectionError(
                f"connection to {self._where()} failed: {error}"
            )
        except (rx.ConnectionError, rx.InvalidResponse) as error:
            return replies, error
        except BaseException:
            # Interrupted (KeyboardInterrupt, say) part way: the rest of the
            # replies would be read by the next call as its own.
            self._drop()
            raise

    def _unknown(self, message: m.Message, error: BaseException) -> StoreError:
        cls = (
            WriteTimeoutError
            if isinstance(error, rx.TimeoutError)
            else (OutcomeUnknownError)
        )
        return cls(
            f"{message.describe()}: the connection to {self._where()} failed after "
            f"the write was sent ({error}); it may or may not have been applied and "
            "was not sent again; read the record before retrying",
            schema=message.schema,
            key=_key(message),
        )

    def _hash(self, schema: str) -> str:
        return f"{self.namespace}:{schema}"

    def _sets(self, schema: str, pairs: m.IndexPairs) -> list[str]:
        prefix = f"{self.namespace}:{schema}:idx:"
        return [f"{prefix}{field}:{token}" for field, token in pairs]

    def _command(self, message: m.Message) -> tuple[Any, ...]:
        name = self._hash(message.schema)
        kind = type(message)
        if kind is m.Get:
            return ("HGET", name, message.key)  # type: ignore[attr-defined]
        if kind is m.Exists:
            return ("HEXISTS", name, message.key)  # type: ignore[attr-defined]
        if kind is m.Insert:
            msg_i: m.Insert = message  # type: ignore[assignment]
            if not msg_i.index:
                return ("HSETNX", name, msg_i.key, msg_i.payload)
            sets = self._sets(msg_i.schema, msg_i.index)
            return (
                *_eval(scripts.INSERT, name, msg_i.key, msg_i.payload),
                orjson.dumps(sets),
                *sets,
            )
        if kind is m.Update:
            msg_u: m.Update = message  # type: ignore[assignment]
            sets = self._sets(msg_u.schema, msg_u.index)
            listed = orjson.dumps(sets) if sets else b""
            return (
                *_eval(scripts.UPDATE, name, msg_u.key, msg_u.payload),
                listed,
                *sets,
            )
        if kind is m.Delete:
            key = message.key  # type: ignore[attr-defined]
            return _eval(scripts.DELETE, name, key)
        if kind is m.Count:
            return ("HLEN", name)
        return self._bulk_command(message, name)

    def _bulk_command(self, message: m.Message, name: str) -> tuple[Any, ...]:
        if isinstance(message, m.GetMany):
            return ("HMGET", name, *message.keys)
        if isinstance(message, m.DeleteMany):
            return _eval(scripts.DELETE_MANY, name, *message.keys)
        if isinstance(message, m.InsertMany):
            args: list[Any] = []
            for key, payload, index in message.items:
                sets = self._sets(message.schema, index)
                args += (key, payload, orjson.dumps(sets), len(sets), *sets)
            return _eval(scripts.INSERT_MANY, name, *args)
        if isinstance(message, m.Lookup):
            sets = self._sets(message.schema, message.pairs)
            return ("EVALSHA", scripts.LOOKUP.sha, 1, name, *sets)
        raise TypeError(f"no Redis command for {type(message).__name__}")

    def _interpret(self, message: m.Message, reply: Any) -> Any:
        if isinstance(reply, rx.NoScriptError):
            reply = self._eval_fallback(message)
        if isinstance(reply, BaseException):
            if isinstance(reply, StoreError):
                return reply
            return translate(
                reply, message.describe(), schema=message.schema, key=_key(message)
            )
        kind = type(message)
        if kind is m.Get:
            if reply is None:
                return does_not_exist(message.schema, _key(message))
            return reply
        if kind is m.Exists:
            return bool(reply)
        if kind is m.Count or kind is m.DeleteMany:
            return int(reply)
        if kind is m.GetMany:
            asked: tuple[str, ...] = message.keys  # type: ignore[attr-defined]
            pairs = zip(asked, reply, strict=True)
            return [(key, value) for key, value in pairs if value is not None]
        if kind is m.Lookup:
            return [
                (reply[i].decode("utf-8"), reply[i + 1])
                for i in range(0, len(reply), 2)
            ]
        if kind is m.InsertMany:
            if reply:
                taken = [key.decode("utf-8") for key in reply]
                return already_exist_many(message.schema, taken)
            return None
        if not reply:
            if kind is m.Insert:
                return already_exists(message.schema, _key(message))
            return does_not_exist(message.schema, _key(message))
        return None

    def _eval_fallback(self, message: m.Message) -> Any:
        # NOSCRIPT means the script did not run, so sending it in full is
        # safe, on a fresh connection if the one it came on broke since.
        error = self._ensure()
        if error is not None:
            return error
        command = self._command(message)
        assert command[0] == "EVALSHA"
        command = ("EVAL", scripts.BY_SHA[command[1]].source, *command[2:])
        replies, failed = self._exchange([command])
        if failed is not None:
            self._drop()
            return self._unknown(message, failed)
        return replies[0]

    def _scan_once(self, message: m.Message) -> Any:
        for attempt in (1, 2):
            error = self._ensure()
            if error is not None:
                return error
            found, failed, replied = self._scan(message.schema)
            if failed is None:
                return found
            if replied:
                # An error reply (a key of the wrong type, say): the link is
                # fine and asking again would give the same answer.
                return translate(failed, message.describe(), schema=message.schema)
            self._drop()
            if attempt == 2:
                return translate(failed, message.describe(), schema=message.schema)
        return None

    def _scan(
        self, schema: str
    ) -> tuple[list[tuple[str, bytes]], BaseException | None, bool]:
        """The schema's records, or the failure and whether Redis replied it."""
        name = self._hash(schema)
        found: dict[bytes, bytes] = {}
        cursor: Any = 0
        while True:
            replies, failed = self._exchange([("HSCAN", name, cursor, "COUNT", 1000)])
            if failed is not None:
                return [], failed, False
            reply = replies[0]
            if isinstance(reply, BaseException):
                return [], reply, True
            cursor, flat = reply
            for i in range(0, len(flat), 2):
                found[flat[i]] = flat[i + 1]
            if int(cursor) == 0:
                break
        items = [(key.decode("utf-8"), value) for key, value in found.items()]
        return items, None, False

    # The primitive operations, for direct use of a connector.

    def _one(self, message: m.Message) -> Any:
        outcome = self.run_batch([message])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def exists(self, schema: str, key: str) -> bool:
        return bool(self._one(m.Exists(schema, key)))

    def get(self, schema: str, key: str) -> bytes:
        value: bytes = self._one(m.Get(schema, key))
        return value

    def delete(self, schema: str, key: str) -> None:
        self._one(m.Delete(schema, key))

    def insert(
        self, schema: str, key: str, payload: bytes, index: tuple[tuple[str, str], ...]
    ) -> None:
        self._one(m.Insert(schema, key, payload, index))

    def update(
        self, schema: str, key: str, payload: bytes, index: tuple[tuple[str, str], ...]
    ) -> None:
        self._one(m.Update(schema, key, payload, index))

    def count(self, schema: str) -> int:
        return int(self._one(m.Count(schema)))

    def scan(self, schema: str) -> list[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = self._one(m.Scan(schema))
        return found

    def insert_many(
        self, schema: str, items: Sequence[tuple[str, bytes, m.IndexPairs]]
    ) -> None:
        self._one(m.InsertMany(schema, tuple(items)))

    def get_many(self, schema: str, keys: Sequence[str]) -> list[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = self._one(m.GetMany(schema, tuple(keys)))
        return found

    def delete_many(self, schema: str, keys: Sequence[str]) -> int:
        return int(self._one(m.DeleteMany(schema, tuple(keys))))

    def lookup(self, schema: str, pairs: m.IndexPairs) -> list[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = self._one(m.Lookup(schema, pairs))
        return found


def _eval(script: scripts.Script, name: str, *args: Any) -> tuple[Any, ...]:
    return ("EVALSHA", script.sha, 2, name, f"{name}:idx", *args)


def _load_scripts(conn: Connection) -> None:
    """Load every script once per connection, ahead of the first EVALSHA.

    A script missing from the server in the middle of a pipeline would run
    after the calls behind it; loading on connect keeps NOSCRIPT rare.
    """
    conn.send_packed_command(
        conn.pack_commands([("SCRIPT", "LOAD", s.source) for s in scripts.ALL]),
        check_health=False,
    )
    for _ in scripts.ALL:
        conn.read_response()


def _key(message: m.Message) -> str:
    key: str = getattr(message, "key", "")
    return key


__all__ = ["OperationTimeoutError", "RedisConnector"]
