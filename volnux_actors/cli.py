"""The ``volnux-actors`` command line.

This is the only place that configures logging: structlog writes WARNING
and above to standard error unless ``--log-level`` says otherwise.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as ProgressBar
from rich.table import Table

from volnux_actors import bench
from volnux_actors.config import (
    StoreConfig,
    build_store,
    check_store_config,
    load_config,
)
from volnux_actors.errors import ConfigurationError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

MAX_WORKERS = 4096
MIN_SECONDS = 0.1
MAX_SECONDS = 86400.0

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Records in Redis, HDFS or memory behind supervised actors.",
)


class Backend(str, Enum):
    memory = "memory"
    redis = "redis"
    hdfs = "hdfs"


class LogLevel(str, Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


_LEVELS = {
    LogLevel.debug: logging.DEBUG,
    LogLevel.info: logging.INFO,
    LogLevel.warning: logging.WARNING,
    LogLevel.error: logging.ERROR,
}


def configure_logging(level: LogLevel) -> None:
    """Send structlog events at ``level`` and above to standard error."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        # A fresh logger per event, so that events follow sys.stderr when
        # the progress bar redirects it.
        logger_factory=lambda *args: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def resolve_config(
    config_file: Path | None, url: str | None, backend: Backend | None
) -> StoreConfig:
    """The file, then VOLNUX_* variables, then --url and --backend."""
    return load_config(
        config_file, url=url, engine=None if backend is None else backend.value
    )


@app.callback()
def _root() -> None:
    """Records in Redis, HDFS or memory behind supervised actors."""


def _write_failure(message: str, exit_code: int, known: dict[str, Any]) -> None:
    """The JSON line of a run that failed before it had figures to show."""
    failure = {"ok": False, "exit_code": exit_code, "error": message, **known}
    sys.stdout.write(json.dumps(failure) + "\n")
    sys.stdout.flush()


def _fail(message: str, json_output: bool, known: dict[str, Any]) -> NoReturn:
    typer.echo(message, err=True)
    if json_output:
        _write_failure(message, EXIT_USAGE, known)
    raise typer.Exit(EXIT_USAGE)


def check_bench_options(workers: int, seconds: float) -> None:
    """Raise ValueError naming the option and its bounds if one is out."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"--workers must be from 1 to {MAX_WORKERS}, got {workers}")
    bounds = f"from {MIN_SECONDS:g} to {MAX_SECONDS:g}"
    if math.isnan(seconds):
        raise ValueError(f"--seconds must be a number {bounds}, got nan (not a number)")
    if math.isinf(seconds):
        raise ValueError(f"--seconds must be a finite number {bounds}, got {seconds}")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"--seconds must be {bounds}, got {seconds:g}")


@app.command("bench")
def bench_command(
    backend: Annotated[
        Backend | None,
        typer.Option(help="Engine to run on; default: the configuration's."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Store URL, such as redis://127.0.0.1:6379/0."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="A TOML configuration file."),
    ] = None,
    workers: Annotated[
        int, typer.Option(help=f"Worker threads making calls, 1 to {MAX_WORKERS}.")
    ] = 8,
    seconds: Annotated[
        float,
        typer.Option(
            help=f"How long to run, {MIN_SECONDS:g} to {MAX_SECONDS:g} seconds."
        ),
    ] = 5.0,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object as the last line, also on failure; "
            "no table or bar.",
        ),
    ] = False,
    log_level: Annotated[
        LogLevel, typer.Option(help="Least level of log events on stderr.")
    ] = LogLevel.warning,
) -> None:
    """Run a mix of checked calls from worker threads and report the figures.

    Each worker inserts, reads, updates, filters, counts and deletes ~1 KB
    pipeline-run records it owns, and checks every answer against what it
    wrote. Settings come from --config, then VOLNUX_* environment variables,
    then --url and --backend; with none of them it runs in memory.

    Each call's deadline is the configuration's timeout (VOLNUX_TIMEOUT),
    or 30 s when none is set.

    Exit status: 0 when every answer was right and no call failed; 1 when
    any read was wrong or any call failed; 2 for a bad option or
    configuration, or a backend that does not answer. With --json the last
    line of standard output is one JSON object in every case.
    """
    configure_logging(log_level)
    known: dict[str, Any] = {}
    try:
        store_config = resolve_config(config, url, backend)
        known = {"backend": store_config.engine, "url": store_config.url()}
        check_bench_options(workers, seconds)
        store = build_store(store_config)
    except ValueError as error:
        _fail(f"bad option: {error}", json_output, known)
    except ConfigurationError as error:
        _fail(f"configuration error: {error}", json_output, known)
    try:
        client = bench.StoreClient(store)
        try:
            client.count("bench_preflight")
        except Exception as error:
            _fail(
                f"{known['url']} does not answer: {type(error).__name__}: {error}",
                json_output,
                known,
            )
        show_bar = not json_output and sys.stderr.isatty()
        result = _run(client, workers, seconds, show_bar, Console(stderr=True))
        pool = store.stats().as_dict()
    finally:
        store.close()
    failed = len(result.wrong) > 0 or sum(result.errors.values()) > 0
    exit_code = EXIT_FAILED if failed else EXIT_OK
    report: dict[str, Any] = {"ok": not failed, "exit_code": exit_code, **known}
    report["call_timeout_s"] = client.timeout
    report.update(result.as_dict())
    report["pool"] = pool
    if json_output:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        _print_tables(report, Console())
    raise typer.Exit(exit_code)


def _run(
    client: bench.Client,
    workers: int,
    seconds: float,
    show_bar: bool,
    console: Console,
) -> bench.WorkloadResult:
    if not show_bar:
        return bench.run_workload(client, workers=workers, seconds=seconds)
    bar = ProgressBar(
        TextColumn("bench"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[ops]:>9} ops {task.fields[rate]:>9} ops/s"),
        TextColumn("wrong {task.fields[wrong]}  errors {task.fields[errors]}"),
        console=console,
    )
    task = bar.add_task("bench", total=seconds, ops=0, rate="-", wrong=0, errors=0)

    def show(now: bench.Progress) -> None:
        rate = f"{now.ops / now.elapsed:,.0f}" if now.elapsed > 0 else "-"
        bar.update(
            task,
            completed=min(now.elapsed, seconds),
            ops=f"{now.ops:,}",
            rate=rate,
            wrong=now.wrong_reads,
            errors=now.errors,
        )

    with bar:
        return bench.run_workload(
            client, workers=workers, seconds=seconds, on_progress=show
        )


def _print_tables(report: dict[str, Any], console: Console) -> None:
    calls = Table(
        title=(
            f"{report['backend']} ({report['url']}): {report['workers']} workers, "
            f"{report['elapsed_s']:.1f} s, {report['record_bytes']} B records"
        )
    )
    for column in ("call", "ops", "ops/s", "p50 ms", "p99 ms", "max ms"):
        calls.add_column(column, justify="left" if column == "call" else "right")
    elapsed = report["elapsed_s"] or 1.0
    for kind, figures in report["latency_ms_by_kind"].items():
        calls.add_row(kind, *_latency_row(figures["ops"], elapsed, figures))
    calls.add_section()
    calls.add_row("all", *_latency_row(report["ops"], elapsed, report["latency_ms"]))
    console.print(calls)

    pool = report["pool"]
    errors = report["errors_by_type"]
    summary = Table(show_header=False)
    summary.add_column(justify="left")
    summary.add_column(justify="right")
    summary.add_row("wrong reads", str(report["wrong_reads"]))
    summary.add_row("errors", str(report["errors"]))
    for name, count in sorted(errors.items()):
        summary.add_row(f"  {name}", str(count))
    summary.add_row("pool mode", f"{pool['mode']} (max {pool['max_connections']})")
    for key in (
        "connections_opened",
        "connections_reaped",
        "connections_lost",
        "restarts",
        "pool_timeouts",
    ):
        summary.add_row(key.replace("_", " "), str(pool[key]))
    console.print(summary)
    for sample in report["wrong_read_samples"]:
        console.print(
            f"wrong read: {sample['worker']} {sample['kind']} "
            f"{sample['schema']}/{sample['key']}: {sample['detail']}",
            highlight=False,
        )


def _latency_row(ops: int, elapsed: float, figures: dict[str, float]) -> list[str]:
    return [
        f"{ops:,}",
        f"{ops / elapsed:,.0f}",
        f"{figures['p50']:.3f}",
        f"{figures['p99']:.3f}",
        f"{figures['max']:.3f}",
    ]


@app.command("show-config")
def show_config_command(
    backend: Annotated[Backend | None, typer.Option(help="Engine to use.")] = None,
    url: Annotated[str | None, typer.Option(help="Store URL.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A TOML configuration file.")
    ] = None,
) -> None:
    """Print the settings a store would get, as JSON (password masked).

    The settings pass the checks that building the store makes (nothing is
    connected), so a configuration shown here is one the bench accepts.
    """
    configure_logging(LogLevel.warning)
    try:
        store_config = resolve_config(config, url, backend)
        check_store_config(store_config)
    except ConfigurationError as error:
        typer.echo(f"configuration error: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    data = store_config.as_dict()
    data["url"] = store_config.url()
    # allow_nan=False: a value JSON cannot hold fails here, not in a reader.
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")


def main() -> None:
    """Entry point of the ``volnux-actors`` console script."""
    app()


if __name__ == "__main__":
    main()
