"""Loggers that follow the application's logging choice.

If the application configured structlog, events go through its pipeline.
Otherwise they go to the standard library logger of the same name, rendered
as ``event key=value ...``, so that an application that set up nothing sees
only warnings and errors (Python's default), and nothing on stdout.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog


class Logger:
    """A structlog-style logger: ``log.warning("event_name", key=value)``."""

    __slots__ = ("_fallback", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._fallback: Any = structlog.wrap_logger(
            logging.getLogger(name),
            processors=[
                structlog.stdlib.filter_by_level,
                structlog.processors.format_exc_info,
                structlog.processors.KeyValueRenderer(
                    key_order=["event"], sort_keys=True
                ),
            ],
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )

    def _target(self) -> Any:
        if structlog.is_configured():
            return structlog.get_logger(self._name)
        return self._fallback

    def debug(self, event: str, **fields: Any) -> None:
        self._target().debug(event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._target().info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._target().warning(event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._target().error(event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._target().exception(event, **fields)


def get_logger(name: str) -> Logger:
    return Logger(name)
