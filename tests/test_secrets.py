"""Passwords are kept as Secret and never show in a repr, vars, stats or error."""

from __future__ import annotations

import copy
import pickle
import traceback
from typing import Any

import pytest
import structlog

import volnux_actors as va
from tests.servers_redis import RedisServer
from volnux_actors.connectors.redis import RedisConnector
from volnux_actors.secret import Secret

T = 10.0
RIGHT = "Right-pw-4711"
WRONG = "Wrong-pw-0815"


def test_secret_shows_stars_and_reveals_the_text() -> None:
    secret = Secret(RIGHT)
    assert repr(secret) == "'***'"
    assert str(secret) == "***"
    assert f"{secret} {secret!r} {secret:>20}" == "*** '***' ***"
    assert repr({"password": secret}) == "{'password': '***'}"
    assert secret.reveal() == RIGHT
    assert secret == Secret(RIGHT) and secret != Secret(WRONG)
    assert secret != RIGHT
    assert pickle.loads(pickle.dumps(secret)).reveal() == RIGHT
    assert copy.deepcopy(secret).reveal() == RIGHT
    assert Secret.wrap(secret) is secret and Secret.wrap(None) is None
    with pytest.raises(AttributeError):
        secret._value = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Secret(1234)  # type: ignore[arg-type]


def test_store_and_connector_settings_hold_the_password_as_a_secret() -> None:
    store = va.RedisStoreBackend(port=1, password=RIGHT)
    try:
        config = store.manager.connector_config
        assert isinstance(config["password"], Secret)
        assert isinstance(store.connector_config()["password"], Secret)
        connector = RedisConnector(**config)
        assert connector.password == RIGHT
        assert isinstance(vars(connector)["_password"], Secret)
        assert RedisConnector(password=RIGHT).password == RIGHT
        assert RedisConnector().password is None
    finally:
        store.close()


def shown(store: Any) -> list[str]:
    """Every text a user may print about ``store``."""
    stats = store.stats()
    return [
        repr(store),
        str(store),
        repr(vars(store)),
        repr(store.manager),
        repr(vars(store.manager)),
        repr(store.manager.connector_config),
        repr(store.connector_config()),
        repr(stats),
        str(stats.as_dict()),
    ]


def texts_of(error: BaseException) -> list[str]:
    return [
        str(error),
        repr(error),
        repr(vars(error)),
        "".join(traceback.format_exception(error)),
    ]


@pytest.mark.redis
def test_password_never_shows_in_reprs_vars_stats_errors_or_logs(
    fresh_redis: RedisServer,
) -> None:
    fresh_redis.client().config_set("requirepass", RIGHT)
    texts: list[str] = []
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(0))
    try:
        with structlog.testing.capture_logs() as events:
            for password in (WRONG, None, RIGHT):
                store = va.RedisStoreBackend(
                    port=fresh_redis.port, password=password, max_connections=1
                )
                try:
                    for _ in range(3):
                        future = store.count("users")
                        error = future.exception(timeout=T)
                        if error is None:
                            assert future.get(timeout=0) == 0
                        else:
                            assert isinstance(error, va.ConfigurationError)
                            texts += texts_of(error)
                    texts += shown(store)
                finally:
                    store.close()
                closed = store.count("users").exception(timeout=T)
                assert isinstance(closed, va.StoreClosedError)
                texts += texts_of(closed)
            fresh_redis.stop()
            gone = va.RedisStoreBackend(port=fresh_redis.port, password=RIGHT)
            try:
                error = gone.count("users").exception(timeout=T)
                assert isinstance(error, va.BackendUnavailableError)
                texts += texts_of(error) + shown(gone)
            finally:
                gone.close()
    finally:
        structlog.configure(**saved)
    assert {"connect_failed", "pool_created"} <= {e["event"] for e in events}
    texts.append(repr(events))
    assert len(texts) > 40
    everything = "\n".join(texts)
    assert RIGHT not in everything
    assert WRONG not in everything
