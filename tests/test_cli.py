"""The command line and the bench workload behind ``volnux-actors bench``."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import structlog
from typer.testing import CliRunner

import volnux_actors as va
from tests.conftest import IN_CI
from tests.servers_redis import RedisServer
from volnux_actors import bench, cli
from volnux_actors.cli import app
from volnux_actors.config import StoreConfig

ROOT = Path(__file__).resolve().parent.parent
REPORT_KEYS = {
    "ok",
    "exit_code",
    "call_timeout_s",
    "backend",
    "url",
    "workers",
    "seconds",
    "elapsed_s",
    "ops",
    "ops_per_s",
    "errors",
    "errors_by_type",
    "wrong_reads",
    "wrong_read_samples",
    "latency_ms",
    "latency_ms_by_kind",
    "record_bytes",
    "pool",
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOLNUX_")}
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "volnux_actors.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean_env() if env is None else env,
        timeout=90,
    )


def last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    report: dict[str, Any] = json.loads(lines[-1])
    return report


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI configures structlog; give the next test the settings back."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


# -- bench as a subprocess ---------------------------------------------------------


def test_memory_bench_json_line_holds_checked_figures() -> None:
    proc = run_cli(
        "bench", "--backend", "memory", "--seconds", "1", "--workers", "4", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    report = last_json(proc)
    assert report.keys() >= REPORT_KEYS
    assert (report["backend"], report["url"], report["workers"]) == (
        "memory",
        "memory://",
        4,
    )
    assert report["seconds"] == 1.0
    assert (report["ok"], report["exit_code"]) == (True, 0)
    assert report["call_timeout_s"] == 30.0
    assert report["ops"] > 0
    assert report["wrong_reads"] == 0
    assert report["errors"] == 0
    assert report["errors_by_type"] == {}
    assert report["ops_per_s"] == pytest.approx(
        report["ops"] / report["elapsed_s"], rel=0.01
    )
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert set(report["latency_ms_by_kind"]) == set(bench.KINDS)
    for figures in report["latency_ms_by_kind"].values():
        assert figures["ops"] > 0
        assert figures["p50"] <= figures["p99"] <= figures["max"]
    assert sum(f["ops"] for f in report["latency_ms_by_kind"].values()) == report["ops"]
    assert report["pool"]["mode"] == "single"
    assert report["pool"]["connections_opened"] >= 1
    assert report["pool"]["restarts"] == 0
    assert 900 <= report["record_bytes"] <= 1400


def test_bench_with_no_options_runs_in_memory_and_prints_tables() -> None:
    proc = run_cli("bench", "--seconds", "0.5", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert "memory (memory://): 2 workers" in proc.stdout
    for word in ("insert", "filter", "wrong reads", "connections opened", "restarts"):
        assert word in proc.stdout
    # Not a terminal: no progress bar on stderr.
    assert "ops/s wrong" not in proc.stderr


@pytest.mark.redis
def test_redis_bench_json_line_holds_checked_figures(redis_clean: RedisServer) -> None:
    proc = run_cli(
        "bench", "--url", redis_clean.url, "--seconds", "1", "--workers", "4", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    report = last_json(proc)
    assert report.keys() >= REPORT_KEYS
    assert report["backend"] == "redis"
    assert report["url"] == redis_clean.url
    assert report["ops"] > 0
    assert report["wrong_reads"] == 0
    assert report["errors"] == 0
    assert report["pool"]["mode"] == "pooled"
    assert (
        1 <= report["pool"]["connections_opened"] <= report["pool"]["max_connections"]
    )
    # The workers delete their records at the end.
    assert redis_clean.client().dbsize() == 0


@pytest.mark.redis
def test_bench_takes_the_store_from_volnux_url(redis_clean: RedisServer) -> None:
    env = clean_env(VOLNUX_URL=redis_clean.url, VOLNUX_POOL__MAX_CONNECTIONS="3")
    proc = run_cli("bench", "--seconds", "0.5", "--workers", "4", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    report = last_json(proc)
    assert report["backend"] == "redis"
    assert report["pool"]["max_connections"] == 3
    assert report["wrong_reads"] == 0


@pytest.mark.redis
def test_bench_takes_the_store_from_a_config_file(
    redis_clean: RedisServer, tmp_path: Path
) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(
        f'engine = "redis"\n[connector]\nport = {redis_clean.port}\n'
        'namespace = "benchcfg"\n[pool]\nmax_connections = 2\n',
        encoding="utf-8",
    )
    proc = run_cli("bench", "--config", str(path), "--seconds", "0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    report = last_json(proc)
    assert report["backend"] == "redis"
    assert report["pool"]["max_connections"] == 2
    assert report["pool"]["connections_opened"] <= 2


@pytest.mark.hdfs
def test_hdfs_bench_removes_the_schema_directories_it_made(hdfs_cluster: Any) -> None:
    import hdfs

    base = f"/bench{uuid.uuid4().hex[:8]}"
    url = f"webhdfs://127.0.0.1:{hdfs_cluster.http_port}{base}?user=volnux"
    proc = run_cli("bench", "--url", url, "--seconds", "1", "--workers", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    report = last_json(proc)
    assert (report["ok"], report["backend"], report["url"]) == (True, "hdfs", url)
    assert (report["wrong_reads"], report["errors"]) == (0, 0)
    assert report["latency_ms_by_kind"]["insert"]["ops"] > 0
    client = hdfs.InsecureClient(hdfs_cluster.url, user="volnux")
    assert client.list(base) == []


@pytest.mark.hdfs
def test_remove_schemas_keeps_a_directory_that_still_holds_records(
    hdfs_cluster: Any,
) -> None:
    import hdfs

    base = f"/keep{uuid.uuid4().hex[:8]}"
    client = hdfs.InsecureClient(hdfs_cluster.url, user="volnux")
    client.makedirs(f"{base}/empty")
    store = va.HDFSStoreBackend(
        port=hdfs_cluster.http_port, username="volnux", base_path=base
    )
    try:
        store.insert_record(
            "kept", "k1", bench.make_run("k1", "w0", random.Random(0))
        ).get(timeout=30)
        with structlog.testing.capture_logs() as events:
            bench.StoreClient(store).remove_schemas(["kept", "empty", "absent"])
    finally:
        store.close()
    assert client.list(base) == ["kept"]
    assert [(e["event"], e["schema"], e["path"], e["error"]) for e in events] == [
        ("bench_schema_left", "kept", f"{base}/kept", "HdfsError")
    ]


def test_bad_url_exits_2_with_the_message_and_no_password() -> None:
    proc = run_cli("bench", "--url", "redis://app:Hunter2secret@h:port/0")
    assert proc.returncode == 2
    assert "the port must be a number from 1 to 65535" in proc.stderr
    assert "redis://app:***@h:port/0" in proc.stderr
    assert "Hunter2secret" not in proc.stderr + proc.stdout


def test_backend_contradicting_url_exits_2() -> None:
    proc = run_cli("bench", "--backend", "redis", "--url", "memory://")
    assert proc.returncode == 2
    assert "engine 'redis' contradicts url memory://" in proc.stderr


def test_unreachable_backend_exits_2_before_running_with_a_json_line() -> None:
    proc = run_cli(
        "bench", "--url", "redis://app:Hunter2secret@127.0.0.1:1/0", "--json"
    )
    assert proc.returncode == 2
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith(
        "redis://app:***@127.0.0.1:1/0 does not answer: BackendUnavailableError"
    )
    assert last_json(proc) == {
        "ok": False,
        "exit_code": 2,
        "error": message,
        "backend": "redis",
        "url": "redis://app:***@127.0.0.1:1/0",
    }
    assert len(proc.stdout.splitlines()) == 1
    assert "Hunter2secret" not in proc.stderr + proc.stdout


def test_password_in_the_url_query_is_masked_on_stderr_and_in_the_json_line() -> None:
    proc = run_cli(
        "bench", "--url", "redis://127.0.0.1:6401/0?password=leakme", "--json"
    )
    assert proc.returncode == 2
    message = (
        "configuration error: url redis://127.0.0.1:6401/0?password=***: put the "
        "password in the user part (redis://user:password@host), not in the query"
    )
    assert proc.stderr.strip().splitlines()[-1] == message
    assert last_json(proc) == {"ok": False, "exit_code": 2, "error": message}
    assert "leakme" not in proc.stderr + proc.stdout


def test_bad_configuration_with_json_prints_the_failure_as_json() -> None:
    env = clean_env(VOLNUX_POOL__MAX_CONNECTIONS="many")
    proc = run_cli("bench", "--json", env=env)
    assert proc.returncode == 2
    message = (
        "configuration error: environment variable VOLNUX_POOL__MAX_CONNECTIONS: "
        "max_connections must be an integer, got 'many'"
    )
    assert proc.stderr.strip() == message
    assert proc.stdout.splitlines() == [
        json.dumps({"ok": False, "exit_code": 2, "error": message})
    ]


def test_config_file_that_is_not_utf8_is_a_configuration_error_in_each_command(
    tmp_path: Path,
) -> None:
    path = tmp_path / "n.toml"
    path.write_bytes(b'engine = "redis"\n# \xff\xfe')
    message = (
        f"configuration error: {path} is not UTF-8 text: byte 0xff at offset 19 "
        "(invalid start byte); save the file as UTF-8"
    )
    shown = run_cli("show-config", "--config", str(path))
    assert (shown.returncode, shown.stdout, shown.stderr) == (2, "", message + "\n")
    bench_run = run_cli("bench", "--json", "--config", str(path))
    assert (bench_run.returncode, bench_run.stderr) == (2, message + "\n")
    assert bench_run.stdout.splitlines() == [
        json.dumps({"ok": False, "exit_code": 2, "error": message})
    ]


def test_bad_configuration_without_json_prints_nothing_on_stdout() -> None:
    proc = run_cli("bench", "--url", "redis://h:bad/0")
    assert proc.returncode == 2
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--seconds", "inf"],
            "bad option: --seconds must be a finite number from 0.1 to 86400, got inf",
        ),
        (
            ["--seconds", "-inf"],
            "bad option: --seconds must be a finite number from 0.1 to 86400, got -inf",
        ),
        (
            ["--seconds", "nan"],
            "bad option: --seconds must be a number from 0.1 to 86400, got nan "
            "(not a number)",
        ),
        (
            ["--seconds", "0.05"],
            "bad option: --seconds must be from 0.1 to 86400, got 0.05",
        ),
        (
            ["--seconds", "86401"],
            "bad option: --seconds must be from 0.1 to 86400, got 86401",
        ),
        (
            ["--workers", "100000"],
            "bad option: --workers must be from 1 to 4096, got 100000",
        ),
        (["--workers", "0"], "bad option: --workers must be from 1 to 4096, got 0"),
    ],
)
@pytest.mark.usefixtures("restore_logging")
def test_out_of_bounds_bench_option_exits_2_naming_option_and_bound(
    options: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["bench", *options, "--json"], env=clean_env())
    assert result.exit_code == 2
    assert result.stderr == message + "\n"
    assert result.stdout.splitlines() == [
        json.dumps(
            {
                "ok": False,
                "exit_code": 2,
                "error": message,
                "backend": "memory",
                "url": "memory://",
            }
        )
    ]


@pytest.mark.usefixtures("restore_logging")
def test_bench_option_bounds_are_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[int, float]] = []

    def fake_run(client: Any, workers: int, seconds: float, *rest: Any) -> Any:
        ran.append((workers, seconds))
        return bench.WorkloadResult(workers, seconds, 0.0, 0, {}, Counter(), [])

    monkeypatch.setattr(cli, "_run", fake_run)
    for workers, seconds in (("4096", "86400"), ("1", "0.1")):
        result = CliRunner().invoke(
            app,
            ["bench", "--workers", workers, "--seconds", seconds, "--json"],
            env=clean_env(),
        )
        assert result.exit_code == 0, result.output
    assert ran == [(4096, 86400.0), (1, 0.1)]


def test_bench_help_states_the_bounds() -> None:
    result = CliRunner().invoke(app, ["bench", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.stdout.split())
    assert "Worker threads making calls, 1 to 4096." in text
    assert "How long to run, 0.1 to 86400 seconds." in text


class RecordsTimeout(bench.StoreClient):
    """Notes the call deadline the CLI gave its client."""

    seen: ClassVar[list[float]] = []

    def count(self, schema: str) -> int:
        RecordsTimeout.seen.append(self.timeout)
        return super().count(schema)


@pytest.mark.parametrize(
    ("variables", "file_text", "timeout"),
    [
        ({}, None, 30.0),
        ({"VOLNUX_TIMEOUT": "2.5"}, None, 2.5),
        ({}, "timeout = 4\n", 4.0),
        ({"VOLNUX_TIMEOUT": "7"}, "timeout = 4\n", 7.0),
        ({"VOLNUX_TIMEOUT": "inf"}, None, 30.0),
    ],
)
@pytest.mark.usefixtures("restore_logging")
def test_bench_calls_use_the_configured_timeout(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variables: dict[str, str],
    file_text: str | None,
    timeout: float,
) -> None:
    RecordsTimeout.seen = []
    monkeypatch.setattr(bench, "StoreClient", RecordsTimeout)
    args = ["bench", "--seconds", "0.2", "--workers", "1", "--json"]
    if file_text is not None:
        path = tmp_path / "store.toml"
        path.write_text(file_text, encoding="utf-8")
        args += ["--config", str(path)]
    result = CliRunner().invoke(app, args, env=clean_env(**variables))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["call_timeout_s"] == timeout
    assert set(RecordsTimeout.seen) == {timeout}


def test_store_client_takes_the_store_timeout_unless_given_one() -> None:
    with_timeout = va.InMemoryKeyValueStoreBackend(timeout=3.0)
    without = va.InMemoryKeyValueStoreBackend()
    try:
        assert bench.StoreClient(with_timeout).timeout == 3.0
        assert bench.StoreClient(with_timeout, timeout=1.5).timeout == 1.5
        assert bench.StoreClient(without).timeout == bench.DEFAULT_CALL_TIMEOUT == 30.0
    finally:
        with_timeout.close()
        without.close()


def test_console_script_runs_bench() -> None:
    script = Path(sys.executable).with_name("volnux-actors")
    if not script.exists():
        # The test command installs the package, so CI always has it.
        assert not IN_CI, f"console script missing at {script}"
        pytest.skip("console script not installed next to the interpreter")
    proc = subprocess.run(
        [str(script), "bench", "--seconds", "0.3", "--workers", "1", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert last_json(proc)["ops"] > 0


# -- the exit status, in process -----------------------------------------------------


class StaleReads(bench.StoreClient):
    """Returns an older status on every 20th get: wrong reads to catch."""

    calls = 0

    def get(self, schema: str, key: str) -> bench.PipelineRun | None:
        record = super().get(schema, key)
        StaleReads.calls += 1
        if record is not None and StaleReads.calls % 20 == 0:
            return dataclasses.replace(record, status="stale")
        return record


@pytest.mark.usefixtures("restore_logging")
def test_wrong_reads_make_bench_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "StoreClient", StaleReads)
    result = CliRunner().invoke(
        app,
        ["bench", "--backend", "memory", "--seconds", "0.5", "--json"],
        env=clean_env(),
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["wrong_reads"] > 0
    assert report["errors"] == 0
    sample = report["wrong_read_samples"][0]
    assert sample["detail"] in (
        "fields differ: status",
        "expected no record, read record",
    )


class FlakyUpdates(bench.StoreClient):
    """Applies every 10th update, then fails it: an unknown outcome."""

    calls = 0

    def update(self, schema: str, key: str, record: bench.PipelineRun) -> None:
        FlakyUpdates.calls += 1
        if FlakyUpdates.calls % 10 == 0:
            if FlakyUpdates.calls % 20 == 0:
                super().update(schema, key, record)
            raise va.OutcomeUnknownError("connection lost after sending")
        super().update(schema, key, record)


@pytest.mark.usefixtures("restore_logging")
def test_failed_calls_make_bench_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "StoreClient", FlakyUpdates)
    result = CliRunner().invoke(
        app, ["bench", "--seconds", "0.5", "--workers", "2", "--json"], env=clean_env()
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] > 0
    assert report["errors_by_type"] == {"OutcomeUnknownError": report["errors"]}
    # Either outcome of a failed update is a right answer.
    assert report["wrong_reads"] == 0


@pytest.mark.usefixtures("restore_logging")
def test_show_config_takes_env_connector_settings_for_the_backend_option() -> None:
    env = clean_env(VOLNUX_CONNECTOR__PASSWORD="x")
    result = CliRunner().invoke(app, ["show-config", "--backend", "redis"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["engine"] == "redis"
    assert data["connector"]["password"] == "***"
    assert data["url"] == "redis://:***@127.0.0.1:6379/0"
    assert data["source"] == "environment + engine=redis"


@pytest.mark.usefixtures("restore_logging")
def test_show_config_refuses_an_env_setting_foreign_to_the_backend_option() -> None:
    env = clean_env(VOLNUX_CONNECTOR__PASSWORD="x")
    result = CliRunner().invoke(app, ["show-config", "--backend", "hdfs"], env=env)
    assert result.exit_code == 2
    assert result.stderr == (
        "configuration error: environment variable VOLNUX_CONNECTOR__PASSWORD: "
        "unknown setting 'password' for engine 'hdfs'; the settings are host, "
        "port, username, base_path, datanode_address, connect_timeout, "
        "read_timeout, temp_max_age\n"
    )
    assert result.stdout == ""


@pytest.mark.usefixtures("restore_logging")
def test_show_config_masks_a_password_in_the_query_of_the_url() -> None:
    result = CliRunner().invoke(
        app, ["show-config", "--url", "redis://h/0?password=leakme"], env=clean_env()
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "configuration error: url redis://h/0?password=***: put the password in "
        "the user part (redis://user:password@host), not in the query\n"
    )
    assert "leakme" not in result.output


@pytest.mark.usefixtures("restore_logging")
def test_show_config_prints_the_settings_with_the_password_masked() -> None:
    env = clean_env(
        VOLNUX_URL="redis://app:Hunter2secret@db:6380/1",
        VOLNUX_POOL__MAX_CONNECTIONS="7",
    )
    result = CliRunner().invoke(app, ["show-config"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["url"] == "redis://app:***@db:6380/1"
    assert data["connector"]["password"] == "***"
    assert data["pool"]["max_connections"] == 7
    assert "Hunter2secret" not in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'engine = "redis"\n[connector]\nnamespace = "a:b"\n'
            'password = "Hunter2secret"\n',
            "configuration error: RedisConnector: namespace must be 1 to 100 "
            "letters, digits, '_', '.' or '-' (not starting with '.' or '-'), "
            "got 'a:b'",
        ),
        (
            'engine = "hdfs"\n[connector]\nusername = ""\n',
            "configuration error: HDFSConnector: username must be a non-empty "
            "string or None, got ''",
        ),
        (
            'name = ""\n',
            "configuration error: InMemoryKeyValueStoreBackend: name must be a "
            "non-empty string or None, got ''",
        ),
    ],
)
@pytest.mark.usefixtures("restore_logging")
def test_show_config_refuses_what_bench_refuses_with_the_same_message(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "store.toml"
    path.write_text(text, encoding="utf-8")
    for command in ("show-config", "bench"):
        result = CliRunner().invoke(
            app, [command, "--config", str(path)], env=clean_env()
        )
        assert (result.exit_code, result.stdout) == (2, ""), command
        assert result.stderr == message + "\n", command
        assert "Hunter2secret" not in result.output


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.usefixtures("restore_logging")
def test_show_config_prints_an_infinite_timeout_as_null_in_strict_json(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.toml"
    path.write_text(
        'engine = "redis"\ntimeout = inf\n[connector]\nsocket_timeout = inf\n'
        "[pool]\nidle_timeout = inf\nconnection_timeout = +inf\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["show-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert strict_json(result.stdout) == {
        "engine": "redis",
        "timeout": None,
        "name": None,
        "source": str(path),
        "connector": {
            "host": "127.0.0.1",
            "port": 6379,
            "db": 0,
            "username": None,
            "password": None,
            "namespace": "volnux",
            "socket_timeout": None,
            "socket_connect_timeout": 2.0,
            "health_check_after": 1.0,
        },
        "pool": {
            "connection_mode": None,
            "max_connections": 10,
            "connection_timeout": None,
            "idle_timeout": None,
        },
        "url": "redis://127.0.0.1:6379/0",
    }


@pytest.mark.usefixtures("restore_logging")
def test_show_config_fails_loudly_rather_than_print_a_non_finite_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown = StoreConfig().as_dict()
    monkeypatch.setattr(StoreConfig, "as_dict", lambda self: {**shown, "x": math.nan})
    result = CliRunner().invoke(app, ["show-config"], env=clean_env())
    assert result.exit_code == 1
    assert isinstance(result.exception, ValueError)
    message = str(result.exception)
    assert message.startswith("Out of range float values are not JSON compliant")
    assert result.stdout == ""


@pytest.mark.usefixtures("restore_logging")
def test_show_config_reads_a_section_in_lower_case_after_the_prefix() -> None:
    env = clean_env(VOLNUX_pool__MAX_CONNECTIONS="4")
    result = CliRunner().invoke(app, ["show-config"], env=env)
    assert (result.exit_code, result.stderr) == (0, "")
    assert json.loads(result.stdout)["pool"]["max_connections"] == 4


@pytest.mark.usefixtures("restore_logging")
def test_show_config_warns_of_a_lower_case_prefix_with_the_capital_spelling() -> None:
    env = clean_env(volnux_pool__max_connections="3")
    result = CliRunner().invoke(app, ["show-config"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pool"]["max_connections"] == 10
    assert "config_env_ignored" in result.stderr
    assert "did_you_mean=VOLNUX_POOL__MAX_CONNECTIONS" in result.stderr
    assert "variable=volnux_pool__max_connections" in result.stderr


def test_bench_help_states_the_exit_status() -> None:
    result = CliRunner().invoke(app, ["bench", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "1 when any read was wrong or any call failed" in text


# -- the workload on its own -----------------------------------------------------


def test_workload_checks_every_kind_and_leaves_no_records() -> None:
    store = va.InMemoryKeyValueStoreBackend()
    try:
        result = bench.run_workload(
            bench.StoreClient(store), workers=3, seconds=0.5, max_live=5, prefix="wl"
        )
        assert result.wrong == []
        assert all(result.latency[kind] for kind in bench.KINDS)
        assert result.ops == sum(len(v) for v in result.latency.values())
        for schema in ("wl_w0", "wl_w1", "wl_w2", "wl_shared"):
            assert store.count(schema).get(timeout=5) == 0
    finally:
        store.close()


def test_records_round_trip_through_a_store_unchanged() -> None:
    import random

    run = bench.advance_run(
        bench.make_run("w0-1", "w0", random.Random(3)), random.Random(4)
    )
    store = va.InMemoryKeyValueStoreBackend()
    try:
        store.insert_record("Runs", run.id, run).get(timeout=5)
        assert store.get_record("Runs", bench.PipelineRun, run.id).get(timeout=5) == run
    finally:
        store.close()
