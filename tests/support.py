"""Helpers the tests import (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from webapp import create_app

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
