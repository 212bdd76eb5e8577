"""Settings from TOML files, environment variables and URLs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog

import volnux_actors as va
from tests.servers_redis import RedisServer
from volnux_actors.config import (
    HDFSSettings,
    MemorySettings,
    PoolSettings,
    RedisSettings,
    StoreConfig,
    build_store,
    load_config,
    parse_url,
    redact_url,
)
from volnux_actors.errors import ConfigurationError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


@dataclass
class Note(va.BackendIntegrationMixin):
    id: str
    text: str


@pytest.fixture
def debug_logs() -> Iterator[None]:
    """Let debug events through for the test, then restore the settings."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(0))
    try:
        yield
    finally:
        structlog.configure(**saved)


def write(tmp_path: Path, text: str, name: str = "store.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def config_error(**kwargs: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_config(**kwargs)
    return str(caught.value)


# -- the shipped files ---------------------------------------------------------


def test_shipped_memory_file_gives_the_single_memory_store() -> None:
    config = load_config(CONFIG_DIR / "memory.toml", env={})
    assert config.engine == "memory"
    assert config.connector == MemorySettings()
    assert config.pool == PoolSettings(
        connection_mode="single", connection_timeout=5.0, idle_timeout=300.0
    )
    assert config.source == str(CONFIG_DIR / "memory.toml")


def test_shipped_redis_file_gives_its_connector_and_pool_values() -> None:
    config = load_config(CONFIG_DIR / "redis.toml", env={})
    assert config.engine == "redis"
    assert config.connector == RedisSettings(
        host="127.0.0.1", port=6379, db=0, namespace="volnux"
    )
    assert config.pool == PoolSettings("pooled", 16, 5.0, 300.0)
    assert config.url() == "redis://127.0.0.1:6379/0"


def test_shipped_hdfs_file_gives_the_webhdfs_endpoint() -> None:
    config = load_config(CONFIG_DIR / "hdfs.toml", env={})
    assert config.engine == "hdfs"
    assert config.connector == HDFSSettings("127.0.0.1", 9870, "volnux", "/volnux")
    assert config.pool == PoolSettings("pooled", 8, 10.0, 300.0)
    assert config.url() == "webhdfs://127.0.0.1:9870/volnux?user=volnux"


def test_no_file_and_no_environment_gives_the_memory_defaults() -> None:
    assert load_config(env={}) == StoreConfig()
    assert StoreConfig().url() == "memory://"


# -- files ---------------------------------------------------------------------


def test_int_in_a_float_setting_becomes_a_float(tmp_path: Path) -> None:
    path = write(tmp_path, "engine = 'redis'\ntimeout = 3\n[pool]\nidle_timeout = 60\n")
    config = load_config(path, env={})
    assert config.timeout == 3.0
    assert config.pool.idle_timeout == 60.0
    assert type(config.pool.idle_timeout) is float


def test_none_string_unsets_an_optional_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "[pool]\nidle_timeout = 'none'\nconnection_timeout='None'\n")
    config = load_config(path, env={})
    assert config.pool.idle_timeout is None
    assert config.pool.connection_timeout is None


def test_unknown_top_level_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "engine = 'memory'\nengnie = 'redis'\n")
    message = config_error(path=path, env={})
    assert message == (
        f"{path}: unknown key 'engnie'; the keys are engine, timeout, name, "
        "connector, pool"
    )


def test_unknown_connector_key_names_file_key_and_engine(tmp_path: Path) -> None:
    path = write(tmp_path, "engine = 'redis'\n[connector]\nhots = 'x'\n")
    message = config_error(path=path, env={})
    assert message.startswith(
        f"{path}: key 'hots' of [connector]: unknown setting 'hots' for engine "
        "'redis'; the settings are host, port, db, username, password"
    )


def test_unknown_pool_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[pool]\nmax_conections = 3\n")
    message = config_error(path=path, env={})
    assert message.startswith(
        f"{path}: key 'max_conections' of [pool]: unknown setting "
        "'max_conections' for [pool]"
    )


def test_memory_engine_takes_no_connector_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "engine = 'memory'\n[connector]\nhost = 'x'\n")
    message = config_error(path=path, env={})
    assert message.endswith("unknown setting 'host' for engine 'memory'; it takes none")


def test_string_port_is_a_type_error_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "engine = 'redis'\n[connector]\nport = '6379'\n")
    message = config_error(path=path, env={})
    assert message == (
        f"{path}: key 'port' of [connector]: port must be an integer, got str '6379'"
    )


def test_bool_is_not_accepted_as_an_integer(tmp_path: Path) -> None:
    path = write(tmp_path, "[pool]\nmax_connections = true\n")
    message = config_error(path=path, env={})
    assert message.endswith("max_connections must be an integer, got bool True")


def test_float_for_an_integer_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "engine = 'redis'\n[connector]\ndb = 1.5\n")
    assert config_error(path=path, env={}).endswith(
        "db must be an integer, got float 1.5"
    )


def test_section_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "pool = 3\n")
    assert config_error(path=path, env={}) == (
        f"{path}: 'pool' must be a table ([pool]), got int"
    )


@pytest.mark.parametrize(
    ("body", "ending"),
    [
        (
            "engine = 'mongo'",
            "unknown engine 'mongo'; the engines are memory, redis, hdfs",
        ),
        ("[pool]\nmax_connections = 0", "max_connections must be at least 1, got 0"),
        (
            "[pool]\nconnection_mode = 'shared'",
            "must be single or pooled, got 'shared'",
        ),
        (
            "[pool]\nidle_timeout = -1",
            "idle_timeout must be more than 0 seconds, got -1.0",
        ),
        (
            "engine = 'redis'\n[connector]\nport = 70000",
            "port must be a port from 1 to 65535, got 70000",
        ),
        (
            "engine = 'hdfs'\n[connector]\nbase_path = 'data'",
            "base_path must be an absolute path (from /), got 'data'",
        ),
        ("timeout = 0", "timeout must be more than 0 seconds"),
        ("timeout = nan", "timeout must be more than 0 seconds"),
        (
            "engine = 'hdfs'\n[connector]\nread_timeout = 0",
            "read_timeout must be more than 0 seconds, got 0.0",
        ),
        (
            "engine = 'hdfs'\n[connector]\ntemp_max_age = -1",
            "temp_max_age must be more than 0 seconds, got -1.0",
        ),
        (
            "engine = 'hdfs'\n[connector]\ndatanode_address = ''",
            "datanode_address must be a host name or address, got ''",
        ),
    ],
)
def test_out_of_range_values_are_refused(
    tmp_path: Path, body: str, ending: str
) -> None:
    path = write(tmp_path, body + "\n")
    message = config_error(path=path, env={})
    assert message.startswith(f"{path}: key ")
    assert message.endswith(ending)


def test_file_starting_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbfengine = 'redis'\n[connector]\nport = 6390\n")
    config = load_config(path, env={})
    assert (config.engine, config.connector) == ("redis", RedisSettings(port=6390))


def test_hdfs_connector_options_are_read_from_file_env_and_url(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        """
        engine = "hdfs"
        [connector]
        datanode_address = "dn.example"
        read_timeout = 30
        temp_max_age = "none"
        """,
    )
    env = {"VOLNUX_CONNECTOR__CONNECT_TIMEOUT": "4.5"}
    config = load_config(path, env=env)
    assert config.connector == HDFSSettings(
        datanode_address="dn.example",
        connect_timeout=4.5,
        read_timeout=30.0,
        temp_max_age=None,
    )
    url = "webhdfs://nn:9870/d?datanode_address=dn2&read_timeout=7&temp_max_age=60"
    assert parse_url(url).connector == HDFSSettings(
        "nn",
        9870,
        base_path="/d",
        datanode_address="dn2",
        read_timeout=7.0,
        temp_max_age=60.0,
    )


def test_hdfs_engine_defaults_to_eight_connections(tmp_path: Path) -> None:
    assert parse_url("webhdfs://nn:9870/d").pool.max_connections == 8
    assert load_config(env={"VOLNUX_ENGINE": "hdfs"}).pool.max_connections == 8
    assert parse_url("redis://h:6379/0").pool.max_connections == 10
    path = write(tmp_path, "engine = 'hdfs'\n[pool]\nmax_connections = 3\n")
    assert load_config(path, env={}).pool.max_connections == 3


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "engine = redis\n")
    message = config_error(path=path, env={})
    assert message.startswith(f"{path}: not valid TOML: ")


@pytest.mark.parametrize(
    ("content", "offset", "byte", "reason"),
    [
        (b'engine = "redis"\n# \xff\xfe', 19, 0xFF, "invalid start byte"),
        (b"\xef\xbb\xbfengine = 'redis'\n# \xc3", 22, 0xC3, "unexpected end of data"),
    ],
)
def test_file_that_is_not_utf8_names_the_file_and_the_byte_offset(
    tmp_path: Path, content: bytes, offset: int, byte: int, reason: str
) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes(content)
    assert config_error(path=path, env={}) == (
        f"{path} is not UTF-8 text: byte 0x{byte:02x} at offset {offset} "
        f"({reason}); save the file as UTF-8"
    )


def test_infinite_timeouts_show_as_none_and_still_mean_no_timeout(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "timeout = inf\n[pool]\nidle_timeout = inf\nconnection_timeout = inf\n",
    )
    config = load_config(path, env={"VOLNUX_POOL__CONNECTION_TIMEOUT": "inf"})
    shown = config.as_dict()
    assert (shown["timeout"], shown["pool"]) == (
        None,
        {
            "connection_mode": None,
            "max_connections": 10,
            "connection_timeout": None,
            "idle_timeout": None,
        },
    )
    store = build_store(config)
    try:
        assert store.timeout is None
        assert store.manager.connection_timeout is None
        assert store.manager.idle_timeout is None
    finally:
        store.close()


def test_infinite_hdfs_timeouts_show_as_none() -> None:
    inf = float("inf")
    config = StoreConfig(
        engine="hdfs", connector=HDFSSettings(read_timeout=inf, temp_max_age=inf)
    )
    connector = config.as_dict()["connector"]
    assert (connector["read_timeout"], connector["temp_max_age"]) == (None, None)
    assert connector["connect_timeout"] == 2.0


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert config_error(path=path, env={}) == (
        f"cannot read configuration file {path}: No such file or directory"
    )


# -- the environment -------------------------------------------------------------


def test_env_overrides_connector_and_pool_settings() -> None:
    env = {
        "VOLNUX_CONNECTOR__HOST": "10.1.2.3",
        "VOLNUX_CONNECTOR__PORT": "7000",
        "VOLNUX_POOL__MAX_CONNECTIONS": "32",
        "VOLNUX_POOL__IDLE_TIMEOUT": "none",
        "VOLNUX_TIMEOUT": "2.5",
        "VOLNUX_NAME": "orders",
    }
    config = load_config(CONFIG_DIR / "redis.toml", env=env)
    assert config.connector == RedisSettings(host="10.1.2.3", port=7000)
    assert config.pool == PoolSettings("pooled", 32, 5.0, None)
    assert config.timeout == 2.5
    assert config.name == "orders"
    assert config.source == f"{CONFIG_DIR / 'redis.toml'} + environment"


def test_env_key_is_case_insensitive_after_the_section() -> None:
    config = load_config(env={"VOLNUX_POOL__max_connections": "4"})
    assert config.pool.max_connections == 4


@pytest.mark.parametrize(
    "variable",
    [
        "VOLNUX_POOL__MAX_CONNECTIONS",
        "VOLNUX_pool__MAX_CONNECTIONS",
        "VOLNUX_pool__max_connections",
        "VOLNUX_Pool__Max_Connections",
    ],
)
def test_env_section_and_key_are_read_in_any_case_after_the_prefix(
    variable: str,
) -> None:
    with structlog.testing.capture_logs() as events:
        config = load_config(env={variable: "4"})
    assert config.pool.max_connections == 4
    assert config.source == "environment"
    assert events == []


def test_env_names_after_the_prefix_are_read_in_any_case() -> None:
    env = {
        "VOLNUX_url": "redis://h:6380/1",
        "VOLNUX_Timeout": "3",
        "VOLNUX_name": "orders",
        "VOLNUX_connector__namespace": "app",
    }
    with structlog.testing.capture_logs() as events:
        config = load_config(env=env)
    assert config.connector == RedisSettings(host="h", port=6380, db=1, namespace="app")
    assert (config.timeout, config.name) == (3.0, "orders")
    assert events == []


def test_two_spellings_of_one_env_setting_are_refused() -> None:
    env = {"VOLNUX_POOL__MAX_CONNECTIONS": "4", "VOLNUX_pool__max_connections": "5"}
    assert config_error(env=env) == (
        "environment variables VOLNUX_POOL__MAX_CONNECTIONS and "
        "VOLNUX_pool__max_connections both set VOLNUX_POOL__MAX_CONNECTIONS "
        "(read in any case after VOLNUX_); unset one of them"
    )


def test_env_unknown_section_in_lower_case_names_it_as_spelled() -> None:
    assert config_error(env={"VOLNUX_poll__max_connections": "3"}) == (
        "environment variable VOLNUX_poll__max_connections: unknown section "
        "'poll'; use VOLNUX_CONNECTOR__<KEY> or VOLNUX_POOL__<KEY>"
    )


def test_empty_env_value_counts_as_unset() -> None:
    env = {"VOLNUX_ENGINE": "", "VOLNUX_POOL__MAX_CONNECTIONS": ""}
    assert load_config(CONFIG_DIR / "redis.toml", env=env).pool.max_connections == 16


def test_unrelated_volnux_variables_are_ignored() -> None:
    assert load_config(env={"VOLNUX_LOG_LEVEL": "debug"}) == StoreConfig(
        source="defaults"
    )


@pytest.mark.parametrize(
    ("variable", "guess"),
    [
        ("VOLNUX_POOL_MAX_CONNECTIONS", "VOLNUX_POOL__MAX_CONNECTIONS"),
        ("VOLNUX_CONNECTOR_HOST", "VOLNUX_CONNECTOR__HOST"),
        ("VOLNUX_URI", "VOLNUX_URL"),
        ("volnux_url", "VOLNUX_URL"),
        ("Volnux_Pool__Max_Connections", "VOLNUX_POOL__MAX_CONNECTIONS"),
        ("volnux_pool__max_connections", "VOLNUX_POOL__MAX_CONNECTIONS"),
        ("volnux_connector__host", "VOLNUX_CONNECTOR__HOST"),
        ("volnux_log_level", None),
        ("VOLNUX_LOG_LEVEL", None),
    ],
)
def test_variable_named_like_ours_is_ignored_with_a_warning(
    variable: str, guess: str | None
) -> None:
    env = {variable: "redis://secret@h/0", "VOLNUX_POOL__MAX_CONNECTIONS": "3"}
    with structlog.testing.capture_logs() as events:
        config = load_config(env=env)
    assert config.pool.max_connections == 3
    assert config.engine == "memory"
    assert events == [
        {
            "event": "config_env_ignored",
            "log_level": "warning",
            "variable": variable,
            "did_you_mean": guess,
        }
    ]


def test_our_own_variables_cause_no_warning() -> None:
    env = {
        "VOLNUX_URL": "redis://h:6379/0",
        "VOLNUX_ENGINE": "redis",
        "VOLNUX_TIMEOUT": "3",
        "VOLNUX_NAME": "main",
        "VOLNUX_POOL__MAX_CONNECTIONS": "3",
        "VOLNUX_CONNECTOR__DB": "2",
        "PATH": "/bin",
    }
    with structlog.testing.capture_logs() as events:
        load_config(env=env)
    assert events == []


def test_env_url_sets_connector_and_keeps_file_pool_and_namespace(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "engine = 'redis'\n[connector]\nnamespace = 'orders'\n[pool]\n"
        "max_connections = 5\n",
    )
    env = {"VOLNUX_URL": "redis://app:s3cret@db.internal:6380/4"}
    config = load_config(path, env=env)
    assert config.connector == RedisSettings(
        host="db.internal",
        port=6380,
        db=4,
        username="app",
        password="s3cret",
        namespace="orders",
    )
    assert config.pool.max_connections == 5


def test_env_engine_switch_drops_the_file_connector_settings() -> None:
    config = load_config(CONFIG_DIR / "redis.toml", env={"VOLNUX_ENGINE": "memory"})
    assert config.engine == "memory"
    assert config.connector == MemorySettings()
    assert config.pool.max_connections == 16


def test_env_engine_contradicting_env_url_is_refused() -> None:
    env = {"VOLNUX_URL": "memory://", "VOLNUX_ENGINE": "redis"}
    assert config_error(env=env) == (
        "environment variable VOLNUX_ENGINE='redis' contradicts VOLNUX_URL, "
        "which names engine 'memory'; unset one of them"
    )


def test_env_bad_integer_names_the_variable() -> None:
    env = {"VOLNUX_POOL__MAX_CONNECTIONS": "many"}
    assert config_error(env=env) == (
        "environment variable VOLNUX_POOL__MAX_CONNECTIONS: max_connections "
        "must be an integer, got 'many'"
    )


def test_env_unknown_setting_names_the_variable() -> None:
    env = {"VOLNUX_ENGINE": "redis", "VOLNUX_CONNECTOR__HOTS": "x"}
    assert config_error(env=env).startswith(
        "environment variable VOLNUX_CONNECTOR__HOTS: unknown setting 'hots' "
        "for engine 'redis'"
    )


def test_env_unknown_section_names_the_variable() -> None:
    assert config_error(env={"VOLNUX_POLL__MAX_CONNECTIONS": "3"}) == (
        "environment variable VOLNUX_POLL__MAX_CONNECTIONS: unknown section "
        "'POLL'; use VOLNUX_CONNECTOR__<KEY> or VOLNUX_POOL__<KEY>"
    )


def test_env_connector_settings_are_checked_against_the_engine_argument() -> None:
    config = load_config(env={"VOLNUX_CONNECTOR__PASSWORD": "x"}, engine="redis")
    assert config.engine == "redis"
    assert config.connector == RedisSettings(password="x")
    assert config.as_dict()["connector"]["password"] == "***"
    assert config.source == "environment + engine=redis"


def test_env_connector_settings_survive_the_url_argument() -> None:
    env = {"VOLNUX_CONNECTOR__NAMESPACE": "orders", "VOLNUX_CONNECTOR__DB": "5"}
    config = load_config(env=env, url="redis://h:6390/2")
    assert config.connector == RedisSettings(
        host="h", port=6390, db=2, namespace="orders"
    )


def test_env_connector_setting_foreign_to_the_final_engine_is_refused() -> None:
    env = {"VOLNUX_CONNECTOR__PASSWORD": "x"}
    assert config_error(env=env, engine="hdfs") == (
        "environment variable VOLNUX_CONNECTOR__PASSWORD: unknown setting "
        "'password' for engine 'hdfs'; the settings are host, port, username, "
        "base_path, datanode_address, connect_timeout, read_timeout, temp_max_age"
    )
    assert config_error(env=env) == (
        "environment variable VOLNUX_CONNECTOR__PASSWORD: unknown setting "
        "'password' for engine 'memory'; it takes none"
    )


def test_file_connector_without_an_engine_key_goes_with_the_env_engine(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "[connector]\nport = 6390\n")
    config = load_config(path, env={"VOLNUX_ENGINE": "redis"})
    assert config.connector == RedisSettings(port=6390)
    assert config_error(path=path, env={}) == (
        f"{path}: key 'port' of [connector]: unknown setting 'port' for engine "
        "'memory'; it takes none"
    )


def test_engine_argument_drops_the_connector_settings_of_the_file_engine() -> None:
    config = load_config(CONFIG_DIR / "redis.toml", env={}, engine="memory")
    assert (config.engine, config.connector) == ("memory", MemorySettings())


def test_arguments_win_over_the_environment() -> None:
    env = {"VOLNUX_URL": "redis://10.0.0.1:6379/0"}
    config = load_config(env=env, url="redis://127.0.0.1:7777/1")
    assert (config.connector.host, config.connector.port) == ("127.0.0.1", 7777)  # type: ignore[union-attr]
    assert load_config(env=env, engine="memory").engine == "memory"


def test_engine_argument_contradicting_url_argument_is_refused() -> None:
    message = config_error(env={}, url="memory://", engine="redis")
    assert (
        message
        == "engine 'redis' contradicts url memory://, which names engine 'memory'"
    )


def test_os_environ_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLNUX_URL", "redis://127.0.0.1:6399/2")
    config = load_config()
    assert config.engine == "redis"
    assert config.connector == RedisSettings(port=6399, db=2)


# -- URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "engine", "connector"),
    [
        ("memory://", "memory", MemorySettings()),
        ("redis://", "redis", RedisSettings()),
        ("redis://127.0.0.1:6379/0", "redis", RedisSettings()),
        ("redis://cache:6380", "redis", RedisSettings(host="cache", port=6380)),
        (
            "redis://user:pass@127.0.0.1:6379/0",
            "redis",
            RedisSettings(username="user", password="pass"),
        ),
        (
            "redis://:p%40ss%3A@h/3",
            "redis",
            RedisSettings(host="h", db=3, password="p@ss:"),
        ),
        ("redis://[::1]:6379/0", "redis", RedisSettings(host="::1")),
        (
            "webhdfs://127.0.0.1:9870/base/path?user=volnux",
            "hdfs",
            HDFSSettings(username="volnux", base_path="/base/path"),
        ),
        ("webhdfs://nn", "hdfs", HDFSSettings(host="nn")),
        ("webhdfs://nn:50070/data/", "hdfs", HDFSSettings("nn", 50070, None, "/data")),
    ],
)
def test_parse_url_gives_engine_and_connector(
    url: str, engine: str, connector: object
) -> None:
    config = parse_url(url)
    assert config.engine == engine
    assert config.connector == connector


def test_url_query_sets_pool_settings_and_timeout() -> None:
    config = parse_url(
        "redis://h:6379/0?max_connections=32&idle_timeout=none&timeout=2"
    )
    assert config.pool == PoolSettings(None, 32, 5.0, None)
    assert config.timeout == 2.0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "127.0.0.1:6379",
            "store URL 127.0.0.1:6379 has no scheme; use memory://, "
            "redis://[user:password@]host:port/db or webhdfs://host:port/path",
        ),
        (
            "mysql://h/db",
            "store URL mysql://h/db: unknown scheme 'mysql'; use memory://, "
            "redis://[user:password@]host:port/db or webhdfs://host:port/path",
        ),
        (
            "redis://h:abc/0",
            "store URL redis://h:abc/0: the port must be a number from 1 to 65535",
        ),
        (
            "redis://h:99999/0",
            "store URL redis://h:99999/0: the port must be a number from 1 to 65535",
        ),
        (
            "redis://h:6379/zero",
            "store URL redis://h:6379/zero: the database 'zero' must be a number "
            "(redis://host:port/0)",
        ),
        (
            "memory://somewhere",
            "store URL memory://somewhere: a memory:// URL takes no host, port or path",
        ),
        (
            "rediss://h",
            "store URL rediss://h: TLS (rediss://) is not supported; use redis://",
        ),
        (
            "redis://h?colour=blue",
            "store URL redis://h?colour=blue: unknown parameter 'colour'; the "
            "parameters are connection_mode, connection_timeout, db, "
            "health_check_after, host, idle_timeout, max_connections, name, "
            "namespace, port, socket_connect_timeout, socket_timeout, timeout, "
            "username",
        ),
        (
            "redis://h?max_connections=lots",
            "store URL redis://h?max_connections=lots (max_connections): "
            "max_connections must be an integer, got 'lots'",
        ),
        (
            "webhdfs://u:pw@nn",
            "store URL webhdfs://u:***@nn: webhdfs:// takes no password; pass the "
            "user as ?user=NAME",
        ),
    ],
)
def test_bad_urls_raise_with_their_message(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_url(url)
    assert str(caught.value) == message


# -- passwords -------------------------------------------------------------------


def test_password_never_shows_in_repr_url_dict_or_errors() -> None:
    config = parse_url("redis://app:Hunter2secret@h:6379/0")
    assert config.connector.password == "Hunter2secret"  # type: ignore[union-attr]
    assert "Hunter2secret" not in repr(config)
    assert config.url() == "redis://app:***@h:6379/0"
    assert config.as_dict()["connector"]["password"] == "***"
    assert redact_url("redis://app:Hunter2secret@h/0") == "redis://app:***@h/0"
    with pytest.raises(ConfigurationError) as caught:
        parse_url("redis://app:Hunter2secret@h:bad/0")
    assert "Hunter2secret" not in str(caught.value)
    assert "redis://app:***@h:bad/0" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "redis://127.0.0.1:6401/0?password=leakme",
            "url redis://127.0.0.1:6401/0?password=***: put the password in the "
            "user part (redis://user:password@host), not in the query",
        ),
        (
            "redis://h:6379/0?db=1&Password=leakme",
            "url redis://h:6379/0?db=1&Password=***: unknown parameter 'Password'; "
            "the parameters are connection_mode, connection_timeout, db, "
            "health_check_after, host, idle_timeout, max_connections, name, "
            "namespace, port, socket_connect_timeout, socket_timeout, timeout, "
            "username",
        ),
        (
            "redis://h:bad/0?auth_token=leakme#leakme",
            "url redis://h:bad/0?auth_token=***#***: the port must be a number "
            "from 1 to 65535",
        ),
        (
            "webhdfs://nn:9870/d?password=leakme",
            "url webhdfs://nn:9870/d?password=***: webhdfs:// takes no password; "
            "pass the user as ?user=NAME",
        ),
        (
            "mysql://u:leakme@h/db?pwd=leakme",
            "url mysql://u:***@h/db?pwd=***: unknown scheme 'mysql'; use memory://, "
            "redis://[user:password@]host:port/db or webhdfs://host:port/path",
        ),
    ],
)
def test_password_in_the_query_string_is_masked_in_errors(
    url: str, message: str
) -> None:
    assert config_error(env={}, url=url) == message


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://h/0?password=leakme", "redis://h/0?password=***"),
        ("redis://a:b@h/0?x=1&api_key=k", "redis://a:***@h/0?x=1&api_key=***"),
        ("memory://?token=abc", "memory://?token=***"),
        ("redis://h/0?password=", "redis://h/0?password="),
        ("redis://h:6379/0?max_connections=3", "redis://h:6379/0?max_connections=3"),
        ("memory://", "memory://"),
    ],
)
def test_redact_url_masks_every_password_and_keeps_the_rest(
    url: str, masked: str
) -> None:
    assert redact_url(url) == masked


def test_password_of_the_wrong_type_is_not_shown(tmp_path: Path) -> None:
    path = write(tmp_path, "engine = 'redis'\n[connector]\npassword = 918273\n")
    message = config_error(path=path, env={})
    assert message.endswith('password must be a string or "none", got int')
    assert "918273" not in message


@pytest.mark.usefixtures("debug_logs")
def test_password_never_shows_in_logs() -> None:
    env = {"VOLNUX_URL": "redis://app:Hunter2secret@127.0.0.1:1/0"}
    with structlog.testing.capture_logs() as events:
        store = build_store(load_config(env=env))
        store.close()
    assert {"config_loaded", "store_built"} <= {e["event"] for e in events}
    assert "Hunter2secret" not in repr(events)
    assert "Hunter2secret" not in repr(store)


def test_load_config_and_build_store_print_nothing_when_logging_is_unset() -> None:
    script = textwrap.dedent(
        f"""
        from volnux_actors.config import build_store, load_config
        for url in ("memory://", "redis://app:pw@127.0.0.1:1/0"):
            config = load_config({str(CONFIG_DIR / "redis.toml")!r}, env={{}}, url=url)
            build_store(config).close()
        print("done")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("VOLNUX")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    assert done.stderr == ""


# -- building stores -------------------------------------------------------------


def test_build_store_gives_a_memory_store_with_the_pool_settings() -> None:
    config = load_config(env={"VOLNUX_POOL__CONNECTION_MODE": "pooled"})
    store = build_store(config)
    try:
        assert isinstance(store, va.InMemoryKeyValueStoreBackend)
        stats = store.stats()
        assert (stats.mode, stats.max_connections) == ("pooled", 10)
        store.insert_record("Run", "r1", Note("r1", "hello")).get(timeout=5)
        assert store.count("Run").get(timeout=5) == 1
    finally:
        store.close()


@pytest.mark.redis
def test_build_store_gives_a_working_redis_store(redis_clean: RedisServer) -> None:
    config = load_config(
        CONFIG_DIR / "redis.toml",
        env={"VOLNUX_CONNECTOR__NAMESPACE": "cfgtest"},
        url=redis_clean.url,
    )
    store = build_store(config)
    try:
        assert isinstance(store, va.RedisStoreBackend)
        store.insert_record("Run", "r1", Note("r1", "hello")).get(timeout=5)
        assert store.count("Run").get(timeout=5) == 1
        assert redis_clean.client().hlen("cfgtest:Run") == 1
        assert store.stats().max_connections == 16
    finally:
        store.close()


def test_hdfs_engine_builds_hdfs_store_backend_with_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: dict[str, Any] = {}

    class FakeHDFSStoreBackend:
        def __init__(self, **kwargs: Any) -> None:
            made.update(kwargs)

    monkeypatch.setattr(va, "HDFSStoreBackend", FakeHDFSStoreBackend, raising=False)
    config = parse_url("webhdfs://nn:9870/base/path?user=volnux&max_connections=4")
    store = build_store(config)
    assert isinstance(store, FakeHDFSStoreBackend)
    assert made == {
        "host": "nn",
        "port": 9870,
        "username": "volnux",
        "base_path": "/base/path",
        "datanode_address": None,
        "connect_timeout": 2.0,
        "read_timeout": 10.0,
        "temp_max_age": 600.0,
        "connection_mode": None,
        "max_connections": 4,
        "connection_timeout": 5.0,
        "idle_timeout": 300.0,
        "timeout": None,
        "name": None,
    }


def test_hdfs_engine_without_hdfs_store_backend_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(va, "HDFSStoreBackend", raising=False)
    with pytest.raises(ConfigurationError) as caught:
        build_store(parse_url("webhdfs://nn:9870/volnux"))
    assert str(caught.value) == (
        "engine 'hdfs' needs volnux_actors.HDFSStoreBackend, which this "
        "installation does not provide"
    )
