"""The Flask app for code that runs outside a request (RQ jobs, the clock)."""

from __future__ import annotations

import logging
import os

from flask import Flask

log = logging.getLogger(__name__)

_app: Flask | None = None
_app_pid: int | None = None


def job_app() -> Flask:
    """One app per process, created on first use inside the job, never at import time.

    RQ's forking worker runs each job in a fresh child, so the engine is never shared across
    a fork; a SimpleWorker (tests) reuses the app between jobs.
    """
    global _app, _app_pid
    if _app is None:
        from webapp import create_app

        _app = create_app()
        _app_pid = os.getpid()
    elif _app_pid != os.getpid():
        # Built in a parent before fork (jobs.worker): never reuse the parent's pooled
        # database sockets in the child; open fresh ones, leave the parent's alone.
        from webapp.extensions import db

        with _app.app_context():
            db.engine.dispose(close=False)
        _app_pid = os.getpid()
    return _app


def warm(app: Flask) -> None:
    """Before a forking worker's first fork: what each job's child would otherwise do first,
    done once here and inherited by every child (`transfer.warm_up`: the transfer job's SQL
    compiled on rows that do not exist, its keys derived). No database connection is left
    open: a child must never share the parent's sockets."""
    from webapp.extensions import db
    from webapp.services import transfer

    with app.app_context():
        try:
            transfer.warm_up()
        except Exception:
            # A cold child works as well, only later: warming never stops the worker.
            log.warning("could not warm the worker up; its jobs start cold", exc_info=True)
        finally:
            db.session.remove()
            db.engine.dispose()
