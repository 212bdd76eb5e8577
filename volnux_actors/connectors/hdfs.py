"""The HDFS connector: WebHDFS through HdfsCLI, one JSON file per record.

Layout: ``<base_path>/<schema>/<name>.json`` (see :mod:`hdfs_names`).
Writes go to a temporary file in the schema's directory first and are then
renamed into place by the namenode, which is atomic: a reader sees the old
record or the new one, never a partial or empty file. Insert renames without
overwrite (the namenode's FileAlreadyExists becomes ObjectExistError);
update renames with overwrite after checking the record exists.

Only a not-found answer means "does not exist". Every other failure (namenode
down or restarting, safe mode, a 5xx) raises BackendUnavailableError, so
``exists`` never answers False and ``count`` never 0 for an unreachable
cluster.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import orjson
import requests
import urllib3
from hdfs import InsecureClient
from hdfs.util import HdfsError

from volnux_actors import checks
from volnux_actors import messages as m
from volnux_actors.connectors.base import BackendConnectorBase
from volnux_actors.connectors.errors import already_exists, does_not_exist
from volnux_actors.connectors.hdfs_names import (
    is_hashed,
    is_record_file,
    key_to_name,
    name_to_key,
)
from volnux_actors.errors import (
    BackendError,
    BackendResponseError,
    BackendUnavailableError,
    ConfigurationError,
    CorruptRecordError,
    OperationTimeoutError,
    OutcomeUnknownError,
    StoreError,
    WriteTimeoutError,
)
from volnux_actors.keys import NAME_RULE, NAME_RULE_TEXT

# Remote exceptions that mean "the cluster cannot serve this now".
_UNAVAILABLE = frozenset(
    {
        "SafeModeException",
        "RetriableException",
        "StandbyException",
        "ObserverRetryOnActiveException",
        "ConnectException",
        "ConnectTimeoutException",
        "EOFException",
        "IOException",
        "NoRouteToHostException",
        "SocketException",
        "SocketTimeoutException",
    }
)


@dataclass(frozen=True, slots=True)
class ListFiles(m.Message):
    """The record file names of a schema (one LISTSTATUS)."""

    verb: ClassVar[str] = "filter_record"


@dataclass(frozen=True, slots=True)
class ReadFile(m.Message):
    """One record file by name: ``(key, payload)``, or None if it is gone."""

    name: str
    verb: ClassVar[str] = "filter_record"

    def describe(self) -> str:
        return f"read of file {self.name!r} in schema {self.schema!r}"


class _Session(requests.Session):
    """A session that can send datanode requests to another address.

    WebHDFS redirects reads and writes to a datanode by the name the
    datanode registered with; where that name does not resolve here (a
    container, a tunnel, loopback tests) ``datanode_address`` replaces the
    host of every request not aimed at the namenode.
    """

    def __init__(self, namenode: str, datanode_address: str | None) -> None:
        super().__init__()
        self.namenode = namenode
        self.datanode_address = datanode_address
        self.requests_sent = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        self.requests_sent += 1
        if self.datanode_address and request.url:
            parts = urlsplit(request.url)
            if parts.netloc != self.namenode:
                port = f":{parts.port}" if parts.port else ""
                netloc = f"{self.datanode_address}{port}"
                request.url = urlunsplit(parts._replace(netloc=netloc))
        return super().send(request, **kwargs)


class _DirectResponse:
    """The parts of an HTTP answer that a direct datanode read needs."""

    __slots__ = ("content", "status_code", "text")

    def __init__(self, status: int, content: bytes) -> None:
        self.status_code = status
        self.content = content
        self.text = content[:300].decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


class _Failed(Exception):
    """An HTTP answer that is not what the operation expected."""

    def __init__(self, status: int, exception: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.exception = exception
        self.message = message


class HDFSConnector(BackendConnectorBase):
    """Owns one WebHDFS session (namenode plus datanode connections).

    A write that dies between creating its temporary file and renaming it
    leaves a ``.tmp-*`` file behind. Listing a schema for ``filter_record``
    deletes those older than ``temp_max_age`` seconds (None: never), so a
    write slower than that would lose its file and fail.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9870,
        username: str | None = "volnux",
        password: str | None = None,
        db: str | int | None = None,
        *,
        base_path: str = "/volnux",
        connect_timeout: float | None = 2.0,
        read_timeout: float | None = 10.0,
        datanode_address: str | None = None,
        temp_max_age: float | None = 600.0,
    ) -> None:
        owner = type(self).__name__
        super().__init__(
            checks.text(host, "host", owner),
            checks.port(port, owner),
            checks.text(username, "username", owner, optional=True),
            password,
            db,
        )
        self.base_path = _base_path(base_path, owner)
        self.timeout = (
            checks.timeout(connect_timeout, "connect_timeout", owner),
            checks.timeout(read_timeout, "read_timeout", owner),
        )
        self.datanode_address = checks.text(
            datanode_address, "datanode_address", owner, optional=True
        )
        self.temp_max_age = checks.timeout(temp_max_age, "temp_max_age", owner)
        self._client: Any = None
        self._datanode: tuple[urllib3.HTTPConnectionPool, str] | None = None
        self._handlers[ListFiles] = lambda msg: self.list_files(msg.schema, sweep=True)
        self._handlers[ReadFile] = lambda msg: self.read_file(msg.schema, msg.name)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _where(self) -> str:
        return f"HDFS at {self.host}:{self.port}"

    # -- connection ---------------------------------------------------------

    def connect(self) -> None:
        if self._client is not None:
            return
        session = _Session(f"{self.host}:{self.port}", self.datanode_address)
        client = InsecureClient(
            self.url,
            user=self.username or "volnux",
            root="/",
            timeout=self.timeout,
            session=session,
        )
        self._client = client
        try:
            # One cheap namenode call proves the cluster answers.
            self._call(
                "_get_file_status", "/", f"connecting to {self._where()}", read=True
            )
        except StoreError:
            self.disconnect()
            raise

    def disconnect(self) -> None:
        self._forget_datanode()
        client, self._client = self._client, None
        if client is not None:
            client._session.close()

    def is_connected(self) -> bool:
        return self._client is not None

    @property
    def requests_sent(self) -> int:
        """HTTP requests this connector's current session has sent."""
        return 0 if self._client is None else int(self._client._session.requests_sent)

    # -- HTTP plumbing ----------------------------------------------------------

    def _path(self, schema: str, name: str | None = None) -> str:
        directory = f"{self.base_path.rstrip('/')}/{schema}"
        return directory if name is None else f"{directory}/{name}"

    def _call(
        self,
        operation: str,
        path: str,
        what: str,
        *,
        read: bool,
        ok: tuple[int, ...] = (200,),
        schema: str | None = None,
        key: str | None = None,
        **params: Any,
    ) -> requests.Response:
        """One WebHDFS call; a non-``ok`` answer raises :class:`_Failed`."""
        if self._client is None:
            raise BackendUnavailableError(
                f"{what}: not connected to {self._where()}", schema=schema, key=key
            )
        handler: Callable[..., requests.Response] = getattr(self._client, operation)
        try:
            response = handler(path, strict=False, **params)
        except (requests.RequestException, HdfsError, ValueError, KeyError) as error:
            raise self._translate_exception(error, what, read, schema, key) from error
        if response.status_code in ok:
            return response
        raise _failure(response)

    def _translate_exception(
        self,
        error: BaseException,
        what: str,
        read: bool,
        schema: str | None,
        key: str | None,
    ) -> StoreError:
        self.disconnect()
        if isinstance(error, requests.ConnectTimeout | requests.ConnectionError) and (
            not isinstance(error, requests.ReadTimeout)
        ):
            refused = "refused" in str(error).lower() or isinstance(
                error, requests.ConnectTimeout
            )
            if read or refused:
                return BackendUnavailableError(
                    f"{what}: {self._where()} cannot be reached ({_short(error)}); "
                    "retry later",
                    schema=schema,
                    key=key,
                )
            return OutcomeUnknownError(
                f"{what}: the connection to {self._where()} broke after the write "
                f"was sent ({_short(error)}); it may or may not have been applied "
                "and was not sent again",
                schema=schema,
                key=key,
            )
        if isinstance(error, requests.ReadTimeout):
            cls = OperationTimeoutError if read else WriteTimeoutError
            return cls(
                f"{what}: {self._where()} did not answer within "
                f"{self.timeout[1]}s"
                + ("" if read else "; the write may or may not have been applied"),
                schema=schema,
                key=key,
            )
        return BackendError(f"{what}: {_short(error)}", schema=schema, key=key)

    def _translate_failure(
        self, failure: _Failed, what: str, schema: str | None, key: str | None
    ) -> StoreError:
        if failure.exception in _UNAVAILABLE or failure.status >= 500:
            return BackendUnavailableError(
                f"{what}: {self._where()} cannot serve it now "
                f"({failure.exception or failure.status}: {failure.message}); "
                "retry later",
                schema=schema,
                key=key,
            )
        if failure.exception == "AccessControlException" or failure.status == 401:
            return ConfigurationError(
                f"{what}: permission denied by {self._where()} for user "
                f"{self.username!r} ({failure.message})",
                schema=schema,
                key=key,
            )
        return BackendResponseError(
            f"{what}: {self._where()} answered {failure.status} "
            f"{failure.exception or ''}: {failure.message}",
            schema=schema,
            key=key,
        )

    # -- the operations ---------------------------------------------------------

    def exists(self, schema: str, key: str) -> bool:
        what = f"exists of key {key!r} in schema {schema!r}"
        path = self._path(schema, key_to_name(key))
        try:
            self._call(
                "_get_file_status", path, what, read=True, schema=schema, key=key
            )
        except _Failed as failure:
            if failure.exception == "FileNotFoundException":
                return False
            raise self._translate_failure(failure, what, schema, key) from None
        return True

    def get(self, schema: str, key: str) -> bytes:
        name = key_to_name(key)
        found = self.read_file(schema, name)
        if found is None:
            raise does_not_exist(schema, key)
        return found[1]

    def read_file(self, schema: str, name: str) -> tuple[str, bytes] | None:
        """``(key, payload)`` of one record file; None if it does not exist."""
        what = f"read of file {name!r} in schema {schema!r}"
        key = name_to_key(name)
        path = self._path(schema, name)
        try:
            direct = self._read_direct(path)
            if direct is None:
                response = self._call(
                    "_open", path, what, read=True, schema=schema, key=key
                )
                self._learn_datanode(response)
                content = response.content
            elif direct.status_code == 200:
                content = direct.content
            else:
                raise _failure(direct)
        except _Failed as failure:
            if failure.exception == "FileNotFoundException" or failure.status == 404:
                return None
            raise self._translate_failure(failure, what, schema, key) from None
        except requests.RequestException as error:
            raise self._translate_exception(error, what, True, schema, key) from error
        if is_hashed(name):
            return _unwrap(content, schema, name)
        assert key is not None
        return key, content

    def insert(
        self, schema: str, key: str, payload: bytes, index: tuple[tuple[str, str], ...]
    ) -> None:
        what = f"insert_record of key {key!r} in schema {schema!r}"
        self._write_in_place(schema, key, payload, what, overwrite=False)

    def update(
        self, schema: str, key: str, payload: bytes, index: tuple[tuple[str, str], ...]
    ) -> None:
        what = f"update_record of key {key!r} in schema {schema!r}"
        if not self.exists(schema, key):
            raise does_not_exist(schema, key)
        self._write_in_place(schema, key, payload, what, overwrite=True)

    def _write_in_place(
        self, schema: str, key: str, payload: bytes, what: str, *, overwrite: bool
    ) -> None:
        """Write ``payload`` to a temporary file, then rename it into place.

        The rename is atomic on the namenode, so a reader sees the old record
        or the new one, never a torn one. Without ``overwrite`` the rename
        fails if the record exists (the already-exists error). The temporary
        file is removed whenever the rename did not happen.
        """
        final = self._path(schema, key_to_name(key))
        temp = self._write_temp(schema, key, payload, what)
        try:
            self._call(
                "_rename",
                temp,
                what,
                read=False,
                schema=schema,
                key=key,
                destination=final,
                renameoptions="OVERWRITE" if overwrite else "NONE",
            )
        except _Failed as failure:
            self._discard(temp)
            if not overwrite and failure.exception == "FileAlreadyExistsException":
                raise already_exists(schema, key) from None
            raise self._translate_failure(failure, what, schema, key) from None
        except StoreError:
            self._discard(temp)
            raise

    def delete(self, schema: str, key: str) -> None:
        what = f"delete_record of key {key!r} in schema {schema!r}"
        path = self._path(schema, key_to_name(key))
        try:
            response = self._call(
                "_delete",
                path,
                what,
                read=False,
                schema=schema,
                key=key,
                recursive="false",
            )
        except _Failed as failure:
            raise self._translate_failure(failure, what, schema, key) from None
        if not response.json().get("boolean", False):
            raise does_not_exist(schema, key)

    def list_files(self, schema: str, *, sweep: bool = False) -> list[str]:
        """Record file names of ``schema``, in one LISTSTATUS request.

        With ``sweep``, temporary files older than ``temp_max_age`` are
        deleted too, best-effort, one request each.
        """
        what = f"listing of schema {schema!r}"
        try:
            response = self._call(
                "_list_status", self._path(schema), what, read=True, schema=schema
            )
        except _Failed as failure:
            if failure.exception == "FileNotFoundException" or failure.status == 404:
                return []
            raise self._translate_failure(failure, what, schema, None) from None
        statuses = response.json()["FileStatuses"]["FileStatus"]
        if sweep:
            self._sweep(schema, statuses)
        return [
            status["pathSuffix"]
            for status in statuses
            if status.get("type") == "FILE" and is_record_file(status["pathSuffix"])
        ]

    def _sweep(self, schema: str, statuses: list[dict[str, Any]]) -> None:
        """Delete the temporary files that crashed writes left behind."""
        if self.temp_max_age is None:
            return
        oldest = (time.time() - self.temp_max_age) * 1000
        for status in statuses:
            name = str(status.get("pathSuffix", ""))
            changed = status.get("modificationTime")
            if (
                name.startswith(".tmp-")
                and isinstance(changed, int | float)
                and changed < oldest
            ):
                self._discard(self._path(schema, name))

    def count(self, schema: str) -> int:
        return len(self.list_files(schema))

    def scan(self, schema: str) -> list[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = []
        for name in self.list_files(schema, sweep=True):
            item = self.read_file(schema, name)
            if item is not None:
                found.append(item)
        return found

    def run_one(self, message: m.Message) -> Any:
        try:
            return super().run_one(message)
        except _Failed as failure:
            return self._translate_failure(
                failure,
                message.describe(),
                message.schema,
                getattr(message, "key", None),
            )

    def run_batch(self, messages: Sequence[m.Message]) -> list[Any]:
        results = []
        for message in messages:
            if not self.is_connected():
                try:
                    self.connect()
                except StoreError as error:
                    results.append(error)
                    continue
            results.append(self.run_one(message))
        return results

    # -- helpers ----------------------------------------------------------------

    def _learn_datanode(self, response: requests.Response) -> None:
        """Remember the datanode a namenode redirect led to."""
        if not response.history:
            return
        parts = urlsplit(response.url)
        rpc = parse_qs(parts.query).get("namenoderpcaddress")
        if rpc and parts.hostname:
            pool = urllib3.HTTPConnectionPool(
                parts.hostname,
                parts.port or 80,
                maxsize=1,
                timeout=urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1]),
                retries=False,
            )
            self._datanode = (pool, rpc[0])

    def _read_direct(self, path: str) -> _DirectResponse | None:
        """OPEN on the datanode learned earlier, saving the namenode's hop.

        A datanode serves any file of the cluster (it reads it as a client),
        so the answer is the same as through the namenode. This hot path
        speaks HTTP through urllib3 directly: half the CPU of a requests
        call. None when no datanode is known or it stopped answering.
        """
        if self._datanode is None or self._client is None:
            return None
        pool, rpc = self._datanode
        query = urlencode(
            {
                "op": "OPEN",
                "user.name": self.username or "volnux",
                "namenoderpcaddress": rpc,
                "offset": 0,
            }
        )
        try:
            answer = pool.request("GET", f"/webhdfs/v1{quote(path)}?{query}")
        except urllib3.exceptions.HTTPError:
            self._forget_datanode()
            return None
        return _DirectResponse(answer.status, answer.data)

    def _forget_datanode(self) -> None:
        if self._datanode is not None:
            self._datanode[0].close()
            self._datanode = None

    def _write_temp(self, schema: str, key: str, payload: bytes, what: str) -> str:
        """Write ``payload`` to a new temporary file; return its path."""
        name = key_to_name(key)
        temp = self._path(schema, f".tmp-{uuid.uuid4().hex}")
        data = _wrap(key, payload) if is_hashed(name) else payload
        try:
            created = self._call(
                "_create",
                temp,
                what,
                read=False,
                ok=(307,),
                schema=schema,
                key=key,
                overwrite="false",
            )
            location = created.headers["location"]
            response = self._client._request(method="PUT", url=location, data=data)
        except _Failed as failure:
            raise self._translate_failure(failure, what, schema, key) from None
        except requests.RequestException as error:
            self._discard(temp)
            # Nothing is visible under the record's name yet: the temporary
            # file is not the record, so the write was not applied.
            raise BackendUnavailableError(
                f"{what}: writing to a datanode of {self._where()} failed "
                f"({_short(error)}); nothing was written, retry later",
                schema=schema,
                key=key,
            ) from error
        if response.status_code != 201:
            self._discard(temp)
            raise self._translate_failure(_failure(response), what, schema, key)
        return temp

    def _discard(self, temp: str) -> None:
        if self._client is None:
            return
        try:
            self._client._delete(temp, strict=False, recursive="false")
        except Exception:
            return


def _base_path(value: object, owner: str) -> str:
    """An absolute path whose every part follows the schema names' rule.

    So no ``..`` can climb out of it, and no part holds a character HDFS
    refuses in a path (``:``) or one a URL treats specially; a trailing
    ``/`` is dropped. ``/`` alone is the root.
    """
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigurationError(
            f"{owner}: base_path must be an absolute path (from /), got {value!r}"
        )
    parts = [part for part in value.split("/") if part]
    for part in parts:
        if not NAME_RULE.fullmatch(part):
            raise ConfigurationError(
                f"{owner}: base_path {value!r} has a part {part!r} that is not "
                f"{NAME_RULE_TEXT}; '..' and ':' are refused"
            )
    return "/" + "/".join(parts)


def _failure(response: requests.Response | _DirectResponse) -> _Failed:
    exception: str | None = None
    message = response.text[:300]
    try:
        remote = response.json()["RemoteException"]
        exception = remote.get("exception")
        message = str(remote.get("message", "")).split("\n", 1)[0]
    except (ValueError, KeyError, TypeError):
        pass
    return _Failed(response.status_code, exception, message)


def _short(error: BaseException) -> str:
    text = str(error).split("\n", 1)[0]
    return text[:200]


def _wrap(key: str, payload: bytes) -> bytes:
    return b'{"$key":' + orjson.dumps(key) + b',"$record":' + payload + b"}"


def _unwrap(content: bytes, schema: str, name: str) -> tuple[str, bytes]:
    try:
        document = orjson.loads(content)
        return str(document["$key"]), orjson.dumps(document["$record"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise CorruptRecordError(
            f"record file {name!r} in schema {schema!r} is not valid: {error}",
            schema=schema,
        ) from error
