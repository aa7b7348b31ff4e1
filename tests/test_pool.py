"""Pooled PostgreSQL connections are handed out without a ping per request, and a connection
the server ended (a restart, a failover) is still replaced before a request sees it."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.support import wait_for
from webapp import pool
from webapp.extensions import db


@pytest.fixture
def postgres_app(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite keeps pool_pre_ping")
    return app


def _pooled_backends(app) -> list[int]:
    """Hold every pooled connection at once and note its server process."""
    with app.app_context():
        size = db.engine.pool.size()
        held = [db.engine.raw_connection() for _ in range(size)]
        try:
            pids = []
            for conn in held:
                cursor = conn.cursor()
                cursor.execute("SELECT pg_backend_pid()")
                pids.append(cursor.fetchone()[0])
                cursor.close()
                conn.commit()
            return pids
        finally:
            for conn in held:
                conn.close()  # back to the pool


def test_requests_send_no_ping_before_their_first_query(postgres_app, monkeypatch):
    client = postgres_app.test_client()
    client.get("/healthz")  # a pooled connection exists, used moments ago
    pings: list[object] = []
    with postgres_app.app_context():
        dialect = db.engine.dialect
    monkeypatch.setattr(dialect, "do_ping", lambda conn: pings.append(conn) or True)
    monkeypatch.setattr(pool, "ping", lambda conn: pings.append(conn) or True)
    for _ in range(3):
        assert client.get("/healthz").json["database"] == "ok"
    assert pings == []


def test_a_connection_idle_for_a_while_is_pinged(postgres_app, monkeypatch):
    client = postgres_app.test_client()
    client.get("/healthz")
    pings: list[object] = []
    monkeypatch.setattr(pool, "PING_AFTER_IDLE_SECONDS", 0.0)
    monkeypatch.setattr(pool, "ping", lambda conn: pings.append(conn) or True)
    assert client.get("/healthz").json["database"] == "ok"
    assert len(pings) == 1


def test_a_connection_the_server_ended_is_replaced_before_a_request_uses_it(postgres_app):
    pids = _pooled_backends(postgres_app)
    # Autocommit: pg_stat_activity is read anew by each statement, not kept for a transaction.
    admin = create_engine(
        make_url(postgres_app.config["SQLALCHEMY_DATABASE_URI"]), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            for pid in pids:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

            def gone() -> bool:
                alive = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                    {"pids": pids},
                ).scalar()
                return alive == 0

            wait_for(gone)
    finally:
        admin.dispose()
    client = postgres_app.test_client()
    for _ in range(len(pids) + 1):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json["database"] == "ok"


def test_a_closed_connection_is_not_quiet_and_does_not_answer_a_ping(postgres_app):
    with postgres_app.app_context():
        raw = db.engine.raw_connection()
        dbapi_connection = raw.driver_connection
        assert pool.socket_quiet(dbapi_connection)
        assert pool.ping(dbapi_connection)
        raw.invalidate()  # closes the DBAPI connection
        assert not pool.socket_quiet(dbapi_connection)
        assert not pool.ping(dbapi_connection)
