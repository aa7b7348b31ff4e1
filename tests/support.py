"""Helpers the tests import (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.pool.base import _ConnectionFairy

from webapp import create_app
from webapp.extensions import db

PASSWORD = "rätt-lösenord-123"

# How long a test waits for something that is about to happen (a worker starting, a job
# finishing, a page catching up) before it fails. Generous, because every wait returns as soon
# as the state is reached: a busy machine makes the suite slower, never red.
PATIENCE_SECONDS = 120.0

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = PATIENCE_SECONDS) -> T:
    """The predicate's first truthy value, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not so after {timeout:.0f} s")
        time.sleep(0.05)


def make_test_app(database_url: str, redis_url: str, instance: Path, **overrides):
    os.environ["BRYGGA_INSTANCE_PATH"] = str(instance)
    config = {
        "TESTING": True,
        "BRYGGA_ENV": "test",
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "WTF_CSRF_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
    }
    config.update(overrides)
    return create_app(config)


def use_sandbox_oauth(app, sandbox_url: str, monkeypatch) -> None:
    """The deployment's Nmbrs OAuth registration and subscription key: the sandbox's demo ones."""
    from sandbox.oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SUBSCRIPTION_KEY

    for key, value in {
        "NMBRS_OAUTH_CLIENT_ID": DEMO_CLIENT_ID,
        "NMBRS_OAUTH_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "NMBRS_SUBSCRIPTION_KEY": DEMO_SUBSCRIPTION_KEY,
        "NMBRS_IDENTITY_URL": sandbox_url,
    }.items():
        monkeypatch.setitem(app.config, key, value)


@contextmanager
def statements_sent(app) -> Iterator[list[tuple[str, bool]]]:
    """The SQL statements given to the database driver while the block runs, on the app's
    pooled connections, each with whether it ran outside a transaction (autocommit): those
    SQLAlchemy executes and those run at driver level (`webapp.models.base.QuickSelect`)
    alike, as both ask the pool's connection for their cursor."""
    with app.app_context():
        engine = db.engine
    seen: list[tuple[str, bool]] = []
    cursor_of = _ConnectionFairy.cursor

    def recorded(fairy: Any, *args: Any, **kwargs: Any) -> Any:
        cursor = cursor_of(fairy, *args, **kwargs)
        if fairy._pool is not engine.pool:
            return cursor
        return _RecordedCursor(cursor, fairy.dbapi_connection, engine.dialect, seen)

    _ConnectionFairy.cursor = recorded  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        _ConnectionFairy.cursor = cursor_of  # type: ignore[method-assign]


class _RecordedCursor:
    def __init__(self, cursor: Any, connection: Any, dialect: Any, seen: list) -> None:
        self._cursor, self._connection, self._dialect, self._seen = (
            cursor,
            connection,
            dialect,
            seen,
        )

    def execute(self, statement: str, *args: Any, **kwargs: Any) -> Any:
        autocommit = self._dialect.detect_autocommit_setting(self._connection)
        self._seen.append((statement, autocommit))
        return self._cursor.execute(statement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)
