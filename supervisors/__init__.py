"""Generic supervision on pykka: pooled connector actors, backoff, restarts.

This package knows nothing about stores; ``volnux_actors`` builds on it.
"""

from supervisors.actor import Connector, ConnectorActor, current_worker
from supervisors.backoff import Backoff
from supervisors.errors import (
    DEFAULT_ERRORS,
    CallTimeout,
    DeadlockDetected,
    ErrorKinds,
    ManagerClosed,
    PoolTimeout,
    SupervisionError,
    Unavailable,
    WaitTimeout,
)
from supervisors.future import Future
from supervisors.pool import (
    ConnectionMode,
    ConnectorManagerBase,
    ConnectorManagerFactory,
    PooledConnectorManager,
    PoolStats,
    SingleConnectorManager,
    close_all,
)
from supervisors.supervisor import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    RestartPolicy,
    Supervisor,
)

__all__ = [
    "DEFAULT_ERRORS",
    "Backoff",
    "BreakerPolicy",
    "BreakerState",
    "CallTimeout",
    "CircuitBreaker",
    "ConnectionMode",
    "Connector",
    "ConnectorActor",
    "ConnectorManagerBase",
    "ConnectorManagerFactory",
    "DeadlockDetected",
    "ErrorKinds",
    "Future",
    "ManagerClosed",
    "PoolStats",
    "PoolTimeout",
    "PooledConnectorManager",
    "RestartPolicy",
    "SingleConnectorManager",
    "SupervisionError",
    "Supervisor",
    "Unavailable",
    "WaitTimeout",
    "close_all",
    "current_worker",
]
