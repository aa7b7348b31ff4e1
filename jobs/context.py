"""The Flask app for code that runs outside a request (RQ jobs, the clock)."""

from __future__ import annotations

from flask import Flask

_app: Flask | None = None


def job_app() -> Flask:
    """One app per process, created on first use inside the job, never at import time.

    RQ's forking worker runs each job in a fresh child, so the engine is never shared across
    a fork; a SimpleWorker (tests) reuses the app between jobs.
    """
    global _app
    if _app is None:
        from webapp import create_app

        _app = create_app()
    return _app
