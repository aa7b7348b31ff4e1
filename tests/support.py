"""Helpers the tests import (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

from webapp import create_app

PASSWORD = "rätt-lösenord-123"


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
