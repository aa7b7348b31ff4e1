"""Transfer tests: the sandbox over loopback, a real Redis, a real database, real RQ workers."""

from __future__ import annotations

import os

import pytest

import jobs.context


@pytest.fixture
def fast(app, monkeypatch):
    """Short retries and heartbeats; jobs run on the test's app."""
    monkeypatch.setitem(app.config, "TRANSFER_RETRY_INTERVALS", [])
    monkeypatch.setitem(app.config, "SYNC_RETRY_INTERVALS", [])
    monkeypatch.setitem(app.config, "NMBRS_RETRY_ATTEMPTS", 1)
    monkeypatch.setitem(app.config, "NMBRS_RETRY_BACKOFF", 0.01)
    monkeypatch.setitem(app.config, "SYNC_HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setitem(app.config, "SYNC_DEAD_AFTER_SECONDS", 2)
    monkeypatch.setattr(jobs.context, "_app", app)
    monkeypatch.setattr(jobs.context, "_app_pid", os.getpid())
    return app
