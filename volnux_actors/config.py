"""Store settings from TOML files, environment variables and URLs.

A configuration file holds one backend::

    engine = "redis"              # memory | redis | hdfs
    timeout = 10.0                # optional: default deadline of each call, s
    [connector]                   # the engine's connection settings
    host = "127.0.0.1"
    port = 6379
    [pool]
    connection_mode = "pooled"    # single | pooled
    max_connections = 16

Settings are read in layers; a later layer wins:

1. the defaults (the in-memory engine);
2. the file given to :func:`load_config`;
3. ``VOLNUX_URL``, a store URL (see :func:`parse_url`);
4. ``VOLNUX_ENGINE``; it must agree with ``VOLNUX_URL`` when both are set;
5. ``VOLNUX_TIMEOUT``, ``VOLNUX_NAME`` and ``VOLNUX_<SECTION>__<KEY>`` for a
   key of the ``[connector]`` or ``[pool]`` section, with a double
   underscore after the section: ``VOLNUX_POOL__MAX_CONNECTIONS=32``;
6. the ``url`` and ``engine`` arguments of :func:`load_config` (the CLI's
   ``--url`` and ``--backend``).

A variable is read when its name starts with ``VOLNUX_`` in capitals; the
rest of the name is read in any case (``VOLNUX_pool__max_connections`` is
``VOLNUX_POOL__MAX_CONNECTIONS``), and two spellings of one setting are an
error. A variable whose prefix is not in capitals (``volnux_...``) is not
read: it is logged as ``config_env_ignored``, with its capital spelling.
An empty environment variable counts as unset. Environment values are parsed
to the setting's type. A setting that may be unset (such as
``idle_timeout``) takes the string ``"none"``, in a file (TOML has no null)
or in the environment.

The connector settings of a URL, or of a file that names its engine, belong
to that engine: a later layer that switches to another engine drops them.
``VOLNUX_CONNECTOR__<KEY>`` variables, and a file's ``[connector]`` without
an ``engine`` key, belong to no engine and are kept. Every setting is
checked once, against the engine in force after the last layer, so that
``VOLNUX_CONNECTOR__PASSWORD`` can go with the CLI's ``--backend redis``.

Every mistake raises :class:`ConfigurationError` naming the file, variable
or URL and the key. Passwords never appear in a repr, a message or a log:
:func:`redact_url` masks the user part's password and the value of every
query parameter whose name looks like a secret (``password``, ``token``...).
"""

from __future__ import annotations

import codecs
import dataclasses
import difflib
import importlib
import math
import os
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, UnionType
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from supervisors.logs import get_logger
from volnux_actors import checks
from volnux_actors.errors import ConfigurationError

if TYPE_CHECKING:
    from volnux_actors.stores.base import KeyValueStoreBackendBase

log = get_logger("volnux_actors.config")

ENGINES = ("memory", "redis", "hdfs")
CONNECTION_MODES = ("single", "pooled")
ENV_PREFIX = "VOLNUX_"
URL_FORMS = (
    "memory://, redis://[user:password@]host:port/db or webhdfs://host:port/path"
)


@dataclass(frozen=True)
class MemorySettings:
    """The in-memory engine takes no connector settings."""


@dataclass(frozen=True)
class RedisSettings:
    """Where and how to reach Redis; the password is never shown."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    namespace: str = "volnux"
    socket_timeout: float | None = 5.0
    socket_connect_timeout: float | None = 2.0
    health_check_after: float = 1.0


@dataclass(frozen=True)
class HDFSSettings:
    """The WebHDFS endpoint of the namenode and the directory of the store.

    ``datanode_address`` replaces the host datanodes redirect to;
    ``temp_max_age`` is the age in seconds past which ``filter_record``
    deletes the temporary files of crashed writes.
    """

    host: str = "127.0.0.1"
    port: int = 9870
    username: str | None = None
    base_path: str = "/volnux"
    datanode_address: str | None = None
    connect_timeout: float | None = 2.0
    read_timeout: float | None = 10.0
    temp_max_age: float | None = 600.0


ConnectorSettings = MemorySettings | RedisSettings | HDFSSettings

_SETTINGS: dict[str, type[ConnectorSettings]] = {
    "memory": MemorySettings,
    "redis": RedisSettings,
    "hdfs": HDFSSettings,
}


@dataclass(frozen=True)
class PoolSettings:
    """How the store holds its connections (None mode: the engine's choice).

    ``max_connections`` defaults to 10, and to 8 for the hdfs engine.
    """

    connection_mode: str | None = None
    max_connections: int = 10
    connection_timeout: float | None = 5.0
    idle_timeout: float | None = 300.0


@dataclass(frozen=True)
class StoreConfig:
    """A whole store configuration; ``source`` says where it came from."""

    engine: str = "memory"
    connector: ConnectorSettings = field(default_factory=MemorySettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    timeout: float | None = None
    name: str | None = None
    source: str = "defaults"

    def store_options(self) -> dict[str, Any]:
        """Keyword arguments every store constructor takes."""
        options: dict[str, Any] = dataclasses.asdict(self.pool)
        options["timeout"] = self.timeout
        options["name"] = self.name
        return options

    def url(self) -> str:
        """This configuration's store URL, the password masked."""
        c = self.connector
        if isinstance(c, RedisSettings):
            auth = ""
            if c.username is not None or c.password is not None:
                auth = quote(c.username or "", safe="")
                auth += ":***@" if c.password is not None else "@"
            return f"redis://{auth}{_host(c.host)}:{c.port}/{c.db}"
        if isinstance(c, HDFSSettings):
            user = "" if c.username is None else f"?user={quote(c.username)}"
            return f"webhdfs://{_host(c.host)}:{c.port}{quote(c.base_path)}{user}"
        return "memory://"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for display; the password is masked.

        An infinite timeout means no timeout, as it does to the store, and
        shows as None, so that the data is strict JSON.
        """
        connector = _shown(self.connector)
        if connector.get("password") is not None:
            connector["password"] = "***"
        return {
            "engine": self.engine,
            "timeout": None if self.timeout == math.inf else self.timeout,
            "name": self.name,
            "source": self.source,
            "connector": connector,
            "pool": _shown(self.pool),
        }


def _shown(settings: ConnectorSettings | PoolSettings) -> dict[str, Any]:
    """``settings`` as a dict, an infinite optional number of seconds as None."""
    shown = dataclasses.asdict(settings)
    hints = typing.get_type_hints(type(settings))
    for key, value in shown.items():
        if _kind(hints[key]) == (float, True) and value == math.inf:
            shown[key] = None
    return shown


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# -- layers ----------------------------------------------------------------
#
# While loading, every value is kept with the place it came from, so that
# an error names the file, variable or URL that holds the wrong value.


@dataclass
class _Value:
    value: Any
    where: str
    text: bool  # True when the value is a string to parse (env or URL)
    engine: str | None = None  # the engine a connector setting came with


@dataclass
class _State:
    engine: _Value = field(default_factory=lambda: _Value("memory", "defaults", False))
    top: dict[str, _Value] = field(default_factory=dict)
    connector: dict[str, _Value] = field(default_factory=dict)
    pool: dict[str, _Value] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def set_engine(self, value: _Value) -> None:
        """Switch engines, dropping the settings that came with another one."""
        for key, setting in list(self.connector.items()):
            if setting.engine is not None and setting.engine != value.value:
                del self.connector[key]
        self.engine = value


_TOP_KEYS = ("engine", "timeout", "name", "connector", "pool")
_ENGINE_POOL_DEFAULTS: dict[str, dict[str, Any]] = {"hdfs": {"max_connections": 8}}
_TOP_SETTINGS = {"timeout": float | None, "name": str | None}
_ENV_NAMES = {"VOLNUX_URL", "VOLNUX_ENGINE", "VOLNUX_TIMEOUT", "VOLNUX_NAME"}
_ENV_SECTIONS = ("CONNECTOR", "POOL")


def _apply_file(state: _State, path: Path) -> None:
    data = _read_toml(path)
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigurationError(
                f"{path}: unknown key {key!r}; the keys are {', '.join(_TOP_KEYS)}"
            )
    if "engine" in data:
        state.set_engine(_Value(data["engine"], f"{path}: key 'engine'", False))
    for key in ("timeout", "name"):
        if key in data:
            state.top[key] = _Value(data[key], f"{path}: key {key!r}", False)
    for section in ("connector", "pool"):
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigurationError(
                f"{path}: {section!r} must be a table ([{section}]), "
                f"got {type(table).__name__}"
            )
        target = state.connector if section == "connector" else state.pool
        bound = state.engine.value if "engine" in data else None
        for key, value in table.items():
            where = f"{path}: key {key!r} of [{section}]"
            engine = bound if section == "connector" else None
            target[key] = _Value(value, where, False, engine)
    state.sources.append(str(path))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigurationError(
            f"cannot read configuration file {path}: {error.strerror or error}"
        ) from error
    text = _utf8_text(raw, path)
    toml = _toml()
    try:
        data: dict[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as error:
        raise ConfigurationError(f"{path}: not valid TOML: {error}") from error
    return data


def _utf8_text(raw: bytes, path: Path) -> str:
    """``raw`` decoded as UTF-8 (a leading byte order mark is dropped)."""
    bom = codecs.BOM_UTF8 if raw.startswith(codecs.BOM_UTF8) else b""
    try:
        return raw[len(bom) :].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = len(bom) + error.start
        raise ConfigurationError(
            f"{path} is not UTF-8 text: byte 0x{raw[offset]:02x} at offset "
            f"{offset} ({error.reason}); save the file as UTF-8"
        ) from error


def _toml() -> ModuleType:
    # tomllib is in the standard library from 3.11; tomli is the same parser
    # for 3.10. Imported by name so that type checking on either works.
    name = "tomllib" if sys.version_info >= (3, 11) else "tomli"
    return importlib.import_module(name)


def _apply_url(state: _State, url: str, label: str) -> None:
    engine, connector, pool, top = _url_parts(url, label)
    where = f"{label} {redact_url(url)}"
    state.set_engine(_Value(engine, where, False))
    for key, (value, text) in connector.items():
        state.connector[key] = _Value(value, f"{where} ({key})", text, engine)
    for key, (value, text) in pool.items():
        state.pool[key] = _Value(value, f"{where} ({key})", text)
    for key, value in top.items():
        state.top[key] = _Value(value, f"{where} ({key})", True)
    state.sources.append(redact_url(url))


def _apply_env(state: _State, env: Mapping[str, str]) -> None:
    _warn_unused(env)
    values = _env_values(env)
    url = values.get("VOLNUX_URL")
    if url is not None:
        _apply_url(state, url[1], f"environment variable {url[0]}")
    engine = values.get("VOLNUX_ENGINE")
    if engine is not None:
        where = f"environment variable {engine[0]}"
        if url is not None and engine[1] != state.engine.value:
            raise ConfigurationError(
                f"{where}={engine[1]!r} contradicts {url[0]}, which names engine "
                f"{state.engine.value!r}; unset one of them"
            )
        state.set_engine(_Value(engine[1], where, False))
    for canonical, (name, value) in sorted(values.items()):
        rest = canonical[len(ENV_PREFIX) :]
        where = f"environment variable {name}"
        if rest in ("TIMEOUT", "NAME"):
            state.top[rest.lower()] = _Value(value, where, True)
            continue
        if "__" not in rest:
            continue
        section, _, key = rest.partition("__")
        if section == "CONNECTOR":
            state.connector[key.lower()] = _Value(value, where, True)
        elif section == "POOL":
            state.pool[key.lower()] = _Value(value, where, True)
        else:
            spelled = name[len(ENV_PREFIX) :].partition("__")[0]
            raise ConfigurationError(
                f"{where}: unknown section {spelled!r}; use "
                "VOLNUX_CONNECTOR__<KEY> or VOLNUX_POOL__<KEY>"
            )
    if values.keys() & _ENV_NAMES or any("__" in name for name in values):
        state.sources.append("environment")


def _env_values(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Our set variables, by their name in capitals: (name, value).

    Ours start with ``VOLNUX_`` in capitals; the rest of the name is read
    in any case, so two spellings of one setting are refused.
    """
    found: dict[str, tuple[str, str]] = {}
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or value == "":
            continue
        canonical = name.upper()
        twin = found.get(canonical)
        if twin is not None and _is_read(canonical):
            raise ConfigurationError(
                f"environment variables {twin[0]} and {name} both set "
                f"{canonical} (read in any case after VOLNUX_); unset one of them"
            )
        found[canonical] = (name, value)
    return found


def _is_read(canonical: str) -> bool:
    """Whether ``VOLNUX_...`` (in capitals) is a name the loader reads."""
    return canonical in _ENV_NAMES or "__" in canonical[len(ENV_PREFIX) :]


def _warn_unused(env: Mapping[str, str]) -> None:
    """Log ``config_env_ignored`` for a variable named like ours that is not."""
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        if name.startswith(ENV_PREFIX) and _is_read(upper):
            continue
        log.warning("config_env_ignored", variable=name, did_you_mean=_env_guess(upper))


def _env_guess(name: str) -> str | None:
    """The variable the user probably meant by ``name`` (in capitals)."""
    section, double, key = name[len(ENV_PREFIX) :].partition("__")
    if double and key and section in _ENV_SECTIONS:
        return name
    for section in _ENV_SECTIONS:
        single = f"{ENV_PREFIX}{section}_"
        if name.startswith(single) and not name.startswith(f"{single}_"):
            return f"{single}_{name[len(single) :]}"
    if name in _ENV_NAMES:
        return name
    close = difflib.get_close_matches(name, sorted(_ENV_NAMES), n=1, cutoff=0.8)
    return close[0] if close else None


def _apply_arguments(state: _State, url: str | None, engine: str | None) -> None:
    if url is not None:
        _apply_url(state, url, "url")
    if engine is not None:
        if url is not None and engine != state.engine.value:
            raise ConfigurationError(
                f"engine {engine!r} contradicts url {redact_url(url)}, which "
                f"names engine {state.engine.value!r}"
            )
        state.set_engine(_Value(engine, "engine argument", False))
        state.sources.append(f"engine={engine}")


# -- checking ----------------------------------------------------------------


def _finish(state: _State) -> StoreConfig:
    engine = state.engine.value
    if engine not in ENGINES:
        raise ConfigurationError(
            f"{state.engine.where}: unknown engine {engine!r}; the engines are "
            f"{', '.join(ENGINES)}"
        )
    connector = _build(_SETTINGS[engine], state.connector, f"engine {engine!r}")
    pool = _build(PoolSettings, state.pool, "[pool]")
    defaults = _ENGINE_POOL_DEFAULTS.get(engine, {})
    pool = dataclasses.replace(
        pool, **{k: v for k, v in defaults.items() if k not in state.pool}
    )
    top = {key: _coerce(v, _TOP_SETTINGS[key], key) for key, v in state.top.items()}
    _check_ranges(connector, state.connector)
    _check_ranges(pool, state.pool)
    _check_ranges_top(top, state.top)
    return StoreConfig(
        engine=engine,
        connector=connector,
        pool=pool,
        source=" + ".join(state.sources) or "defaults",
        **top,
    )


_S = typing.TypeVar("_S")


def _build(klass: type[_S], values: dict[str, _Value], owner: str) -> _S:
    hints = typing.get_type_hints(klass)
    known = [f.name for f in dataclasses.fields(klass)]  # type: ignore[arg-type]
    init: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            choices = (
                f"the settings are {', '.join(known)}" if known else "it takes none"
            )
            raise ConfigurationError(
                f"{value.where}: unknown setting {key!r} for {owner}; {choices}"
            )
        init[key] = _coerce(value, hints[key], key)
    return klass(**init)


def _coerce(value: _Value, hint: Any, key: str) -> Any:
    kind, optional = _kind(hint)
    raw = value.value
    if optional and isinstance(raw, str) and raw.lower() == "none":
        return None
    if value.text and isinstance(raw, str) and kind is not str:
        try:
            return kind(raw)
        except ValueError:
            raise ConfigurationError(
                f"{value.where}: {key} must be {_noun(kind, optional)}, got {raw!r}"
            ) from None
    if kind is float and type(raw) is int:
        return float(raw)
    if type(raw) is not kind:
        shown = "" if key == "password" else f" {raw!r}"
        raise ConfigurationError(
            f"{value.where}: {key} must be {_noun(kind, optional)}, got "
            f"{type(raw).__name__}{shown}"
        )
    return raw


def _kind(hint: Any) -> tuple[type, bool]:
    if typing.get_origin(hint) in (Union, UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    kind: type = hint
    return kind, False


def _noun(kind: type, optional: bool) -> str:
    names = {int: "an integer", float: "a number", str: "a string"}
    noun = names.get(kind, kind.__name__)
    return f'{noun} or "none"' if optional else noun


def _check_ranges(settings: object, values: dict[str, _Value]) -> None:
    checks: dict[str, tuple[Any, str]] = {
        "port": (lambda v: 1 <= v <= 65535, "a port from 1 to 65535"),
        "db": (lambda v: v >= 0, "0 or more"),
        "max_connections": (lambda v: v >= 1, "at least 1"),
        "connection_mode": (lambda v: v in CONNECTION_MODES, "single or pooled"),
        "base_path": (lambda v: v.startswith("/"), "an absolute path (from /)"),
        "host": (lambda v: v != "", "a host name or address"),
    }
    for name in (
        "socket_timeout",
        "socket_connect_timeout",
        "connection_timeout",
        "idle_timeout",
        "connect_timeout",
        "read_timeout",
        "temp_max_age",
    ):
        checks[name] = (lambda v: v > 0, "more than 0 seconds")
    checks["datanode_address"] = (lambda v: v != "", "a host name or address")
    checks["health_check_after"] = (lambda v: v >= 0, "0 or more seconds")
    for key, value in values.items():
        test = checks.get(key)
        current = getattr(settings, key)
        if test is not None and current is not None and not test[0](current):
            raise ConfigurationError(
                f"{value.where}: {key} must be {test[1]}, got {current!r}"
            )


def _check_ranges_top(top: dict[str, Any], values: dict[str, _Value]) -> None:
    timeout = top.get("timeout")
    if timeout is not None and not timeout > 0:
        where = values["timeout"].where
        raise ConfigurationError(f"{where}: timeout must be more than 0 seconds")


# -- URLs ------------------------------------------------------------------


_SECRET_WORDS = ("pass", "pwd", "secret", "token", "auth", "key")


def redact_url(url: str) -> str:
    """``url`` with every password in it replaced by ``***``.

    Masked: the password of the user part, the value of each query parameter
    whose name holds one of ``pass``, ``pwd``, ``secret``, ``token``,
    ``auth`` or ``key`` (in any case), and the whole fragment.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    masked = parts
    if parts.password is not None:
        netloc = parts.netloc.rpartition("@")[2]
        masked = masked._replace(netloc=f"{parts.username or ''}:***@{netloc}")
    if parts.query:
        masked = masked._replace(query=_redact_query(parts.query))
    if parts.fragment:
        masked = masked._replace(fragment="***")
    if masked == parts:
        return url
    # Spelled out rather than geturl(), which drops the // of an empty host.
    text = masked.scheme + ("://" if "://" in url else ":" if masked.scheme else "")
    text += masked.netloc + masked.path
    text += f"?{masked.query}" if masked.query else ""
    return text + (f"#{masked.fragment}" if masked.fragment else "")


def _redact_query(query: str) -> str:
    pieces = []
    for piece in query.split("&"):
        name, equals, value = piece.partition("=")
        lowered = unquote(name).lower()
        if equals and value and any(word in lowered for word in _SECRET_WORDS):
            value = "***"
        pieces.append(f"{name}{equals}{value}")
    return "&".join(pieces)


_Parts = dict[str, tuple[Any, bool]]


def _url_parts(url: str, label: str) -> tuple[str, _Parts, _Parts, dict[str, str]]:
    shown = f"{label} {redact_url(url)}"
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise ConfigurationError(f"{shown}: {error}") from None
    scheme = parts.scheme.lower()
    if not scheme or "://" not in url:
        raise ConfigurationError(f"{shown} has no scheme; use {URL_FORMS}")
    if scheme == "rediss":
        raise ConfigurationError(
            f"{shown}: TLS (rediss://) is not supported; use redis://"
        )
    engine = {"memory": "memory", "redis": "redis", "webhdfs": "hdfs"}.get(scheme)
    if engine is None:
        raise ConfigurationError(f"{shown}: unknown scheme {scheme!r}; use {URL_FORMS}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(
            f"{shown}: the port must be a number from 1 to 65535"
        ) from None
    connector: _Parts = {}
    if engine == "memory":
        if parts.netloc or parts.path not in ("", "/"):
            raise ConfigurationError(
                f"{shown}: a memory:// URL takes no host, port or path"
            )
    else:
        if parts.hostname:
            connector["host"] = (unquote(parts.hostname), False)
        if port is not None:
            connector["port"] = (port, False)
        if parts.username:
            connector["username"] = (unquote(parts.username), False)
    if engine == "redis":
        if parts.password is not None:
            connector["password"] = (unquote(parts.password), False)
        db = parts.path.strip("/")
        if db:
            if not db.isdigit():
                raise ConfigurationError(
                    f"{shown}: the database {db!r} must be a number "
                    "(redis://host:port/0)"
                )
            connector["db"] = (int(db), False)
    elif engine == "hdfs":
        if parts.password is not None:
            raise ConfigurationError(
                f"{shown}: webhdfs:// takes no password; pass the user as ?user=NAME"
            )
        path = unquote(parts.path)
        if path not in ("", "/"):
            connector["base_path"] = (path.rstrip("/"), False)
    pool: _Parts = {}
    top: dict[str, str] = {}
    _url_query(parts.query, engine, shown, connector, pool, top)
    return engine, connector, pool, top


def _url_query(
    query: str,
    engine: str,
    shown: str,
    connector: _Parts,
    pool: _Parts,
    top: dict[str, str],
) -> None:
    names = [f.name for f in dataclasses.fields(_SETTINGS[engine])]
    pool_names = [f.name for f in dataclasses.fields(PoolSettings)]
    seen: set[str] = set()
    for key, value in parse_qsl(query, keep_blank_values=True):
        name = "username" if engine == "hdfs" and key == "user" else key
        if name in seen:
            raise ConfigurationError(f"{shown}: {key!r} is given twice")
        seen.add(name)
        if name == "password":
            if engine == "hdfs":
                raise ConfigurationError(
                    f"{shown}: webhdfs:// takes no password; pass the user as "
                    "?user=NAME"
                )
            raise ConfigurationError(
                f"{shown}: put the password in the user part "
                "(redis://user:password@host), not in the query"
            )
        if name in names:
            connector[name] = (value, True)
        elif name in pool_names:
            pool[name] = (value, True)
        elif name in _TOP_SETTINGS:
            top[name] = value
        else:
            allowed = sorted(
                (set(names) | set(pool_names) | set(_TOP_SETTINGS)) - {"password"}
            )
            raise ConfigurationError(
                f"{shown}: unknown parameter {key!r}; the parameters "
                f"are {', '.join(allowed)}"
            )


# -- public entry points -----------------------------------------------------


def parse_url(url: str) -> StoreConfig:
    """The configuration a store URL describes, over the defaults.

    Forms: ``memory://``, ``redis://[user[:password]@]host[:port][/db]`` and
    ``webhdfs://host[:port][/base/path][?user=NAME]``. The query may also
    set pool settings and ``timeout``: ``redis://h:6379/0?max_connections=32``.
    """
    state = _State()
    _apply_url(state, url, "store URL")
    return _finish(state)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    url: str | None = None,
    engine: str | None = None,
) -> StoreConfig:
    """Read ``path`` (if given), then the environment, then the arguments.

    ``env`` is the environment to read (default ``os.environ``; pass ``{}``
    to ignore it). See the module docstring for the order of the layers.
    """
    state = _State()
    if path is not None:
        _apply_file(state, Path(path))
    _apply_env(state, os.environ if env is None else env)
    _apply_arguments(state, url, engine)
    config = _finish(state)
    log.debug(
        "config_loaded",
        engine=config.engine,
        url=config.url(),
        source=config.source,
    )
    return config


def build_store(config: StoreConfig) -> KeyValueStoreBackendBase:
    """A new store for ``config``; close it when done."""
    klass, connector = _store_arguments(config)
    store = klass(**connector, **config.store_options())
    log.debug("store_built", engine=config.engine, url=config.url(), store=repr(store))
    return store


def check_store_config(config: StoreConfig) -> None:
    """Run the checks :func:`build_store` runs, connecting nothing.

    It builds the engine's connector, which checks its settings and opens
    nothing, and checks the pool settings as the store does, without
    starting a pool. Raises :class:`ConfigurationError` as the build would.
    """
    klass, connector = _store_arguments(config)
    klass.connector_klass(**connector)
    owner = klass.__name__
    pool = config.pool
    checks.timeout(config.timeout, "timeout", owner)
    checks.count(pool.max_connections, "max_connections", owner, 1)
    checks.timeout(pool.connection_timeout, "connection_timeout", owner)
    checks.timeout(pool.idle_timeout, "idle_timeout", owner)
    checks.text(config.name, "name", owner, optional=True)


def _store_arguments(
    config: StoreConfig,
) -> tuple[type[KeyValueStoreBackendBase], dict[str, Any]]:
    """The store class for ``config`` and its connector keyword arguments."""
    from volnux_actors.stores.memory import InMemoryKeyValueStoreBackend
    from volnux_actors.stores.redis import RedisStoreBackend

    c = config.connector
    if isinstance(c, RedisSettings):
        return RedisStoreBackend, dataclasses.asdict(c)
    if isinstance(c, HDFSSettings):
        kwargs = dataclasses.asdict(c)
        if kwargs["username"] is None:
            del kwargs["username"]
        return _hdfs_store_class(), kwargs
    return InMemoryKeyValueStoreBackend, {}


def _hdfs_store_class() -> type[KeyValueStoreBackendBase]:
    # Imported here: the HDFS store is optional, and this module must load
    # without it.
    import volnux_actors

    klass: type[KeyValueStoreBackendBase] | None = getattr(
        volnux_actors, "HDFSStoreBackend", None
    )
    if klass is None:
        raise ConfigurationError(
            "engine 'hdfs' needs volnux_actors.HDFSStoreBackend, which this "
            "installation does not provide"
        )
    return klass
