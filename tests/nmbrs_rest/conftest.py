"""Fixtures for the REST client, OAuth and the sandbox's REST side: the sandbox on a free
loopback port, OAuth against its identity endpoints, clients with a fake sleep.

Nothing here needs the Flask app, the database or Redis.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from werkzeug.serving import make_server

from sandbox.app import create_sandbox
from sandbox.data import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME
from sandbox.oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SUBSCRIPTION_KEY
from sandbox.state import SandboxState
from tests.support import PATIENCE_SECONDS
from webapp.nmbrs import (
    Credentials,
    MemoryTokenStore,
    NmbrsClient,
    NmbrsOAuth,
    NmbrsRestClient,
    RetryPolicy,
    Timeouts,
    Tokens,
)

REDIRECT_URI = "http://127.0.0.1:5000/settings/nmbrs/callback"


@dataclass
class RunningServer:
    url: str
    state: SandboxState


def _serve(app) -> tuple[object, str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[RunningServer]:
    """The sandbox over real HTTP on loopback, for the whole session."""
    app, state = create_sandbox()
    server, url = _serve(app)
    yield RunningServer(url, state)
    state.close()
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox(sandbox_server: RunningServer) -> Iterator[RunningServer]:
    """Fresh demo data, grants and failures for each test."""
    sandbox_server.state.reset()
    yield sandbox_server
    sandbox_server.state.reset()


@pytest.fixture
def oauth(sandbox: RunningServer) -> NmbrsOAuth:
    """Brygga's OAuth client registration, pointed at the sandbox's identity service."""
    return NmbrsOAuth(
        DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, redirect_uri=REDIRECT_URI, identity_url=sandbox.url
    )


def consent(oauth: NmbrsOAuth, username: str = DEMO_USERNAME) -> Tokens:
    """The whole consent flow with the sandbox's test shortcut: authorize → code → tokens."""
    started = oauth.start()
    reply = requests.get(
        started.url,
        params={"sandbox_auto": "allow", "login_hint": username},
        allow_redirects=False,
        timeout=PATIENCE_SECONDS,
    )
    assert reply.status_code == 302, reply.text
    return oauth.finish(callback_args(reply.headers["Location"]), **started.pending())


def callback_args(location: str) -> dict[str, str]:
    """The query of a redirect back to Brygga, as Flask's request.args would give it."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Sleeps:
    """A fake ``time.sleep`` that records what it was asked to wait."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(sandbox, oauth, sleeps) -> Iterator[Callable[..., NmbrsRestClient]]:
    """Build REST clients against the sandbox; quick timeouts, fake sleep."""
    made: list[NmbrsRestClient] = []

    def make(
        store=None,
        *,
        username: str = DEMO_USERNAME,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        subscription_key: str = DEMO_SUBSCRIPTION_KEY,
        clock=None,
        base_url: str | None = None,
    ) -> NmbrsRestClient:
        if store is None:
            store = MemoryTokenStore(oauth, consent(oauth, username))
        extra = {"clock": clock} if clock is not None else {}
        client = NmbrsRestClient(
            store,
            subscription_key=subscription_key,
            base_url=base_url or sandbox.url,
            timeouts=timeouts or Timeouts(connect=2, read=5, total=20),
            retry=retry or RetryPolicy(attempts=3, backoff=0.01),
            sleep=sleeps,
            **extra,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def nmbrs(make_client) -> NmbrsRestClient:
    """A REST client for the demo customer (lon@demo.se consented)."""
    return make_client()


@pytest.fixture
def soap(sandbox) -> Iterator[NmbrsClient]:
    """The SOAP client for the same demo customer on the same sandbox."""
    client = NmbrsClient(
        Credentials(DEMO_USERNAME, DEMO_TOKEN, DEMO_DOMAIN),
        environment="sandbox",
        base_url=sandbox.url,
        timeouts=Timeouts(connect=2, read=5, total=20),
        retry=RetryPolicy(attempts=1),
    )
    yield client
    client.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable], str]]:
    """Serve any WSGI callable on loopback; returns its base URL."""
    running = []

    def start(app) -> str:
        server, url = _serve(app)
        running.append(server)
        return url

    yield start
    for server in running:
        server.shutdown()
        server.server_close()
