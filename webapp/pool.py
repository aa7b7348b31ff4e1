"""Handing out pooled database connections without a round trip per request.

SQLAlchemy's `pool_pre_ping` sends a statement to PostgreSQL at every checkout: one round trip
(and, in a threaded gunicorn worker, one more wait for the GIL) before every request's first
query, health check included. Instead, a connection that was in use moments ago is checked
locally: a server that ended it (a restart, a failover, an idle timeout) has sent its goodbye
or closed the socket, so the socket is readable. Only a connection that sat idle for a while,
where a silent drop on the way is more likely, gets the real ping. A connection found dead is
replaced before the request sees it, as with `pool_pre_ping`.
"""

from __future__ import annotations

import select
import time
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

# A connection idle longer than this is pinged with a statement before it is handed out.
PING_AFTER_IDLE_SECONDS = 10.0


def configure(app: Flask) -> None:
    """Before the engine is made: no `pool_pre_ping` on PostgreSQL, whose connections `install`
    checks instead (SQLite keeps the configured options)."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, "pool_pre_ping": False}


def install(engine: Engine) -> None:
    """Check the engine's PostgreSQL connections at checkout, in place of `pool_pre_ping`; on
    SQLite, sync a WAL journal as WAL is meant to be (`_wal_synced`)."""
    if engine.dialect.name == "sqlite" and not getattr(engine.pool, "_brygga_wal", False):
        engine.pool._brygga_wal = True  # type: ignore[attr-defined]
        event.listen(engine, "connect", _wal_synced)
        return
    if engine.dialect.name != "postgresql" or getattr(engine.pool, "_brygga_liveness", False):
        return
    engine.pool._brygga_liveness = True  # type: ignore[attr-defined]
    event.listen(engine, "checkin", _checked_in)
    event.listen(engine, "checkout", _checked_out)


def _wal_synced(dbapi_connection: Any, record: Any) -> None:
    """SQLite (the database of a laptop, never of production) in WAL mode: `synchronous=NORMAL`,
    as SQLite's own documentation advises for WAL. A commit then waits for no fsync (SQLite's
    FULL default syncs the log at every commit: 2-3 ms, a tenth of a transfer's batch); the
    log is synced at each checkpoint. The database stays consistent, and a commit survives the
    app's process dying (what the exactly-once tests and the crash points model); only an
    operating-system crash or power loss can lose the last commits. PostgreSQL's commits are
    not touched. A database not in WAL mode keeps FULL, which its rollback journal needs."""
    cursor = dbapi_connection.cursor()
    try:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _checked_in(dbapi_connection: Any, record: Any) -> None:
    record.info["brygga_idle_since"] = time.monotonic()


def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    idle_since = record.info.pop("brygga_idle_since", None)
    if idle_since is None:  # just connected
        return
    if not socket_quiet(dbapi_connection):
        raise DisconnectionError("the server closed the pooled connection")
    if time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS and not ping(dbapi_connection):
        raise DisconnectionError("the pooled connection did not answer a ping")


def socket_quiet(dbapi_connection: Any) -> bool:
    """Whether an idle connection's socket is open with nothing waiting: the server says nothing
    to a client between queries unless it is ending the session (we LISTEN to nothing)."""
    if dbapi_connection.closed:
        return False
    try:
        poller = select.poll()  # not select.select: a busy process may have fds above 1024
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)  # POLLIN: data or EOF; POLLERR/POLLHUP come unasked
    except (OSError, ValueError):
        return False


def ping(dbapi_connection: Any) -> bool:
    try:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # no transaction left open by the ping
        try:
            dbapi_connection.execute("SELECT 1")
        finally:
            if not dbapi_connection.closed:
                dbapi_connection.autocommit = autocommit
    except Exception:  # any failure: the pool replaces the connection
        return False
    return True
