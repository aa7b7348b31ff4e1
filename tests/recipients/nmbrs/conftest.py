"""Moving a recipient from SOAP to REST: the sandbox over loopback (SOAP, REST and its OAuth
server), a real Redis, a real database and RQ workers in the test process."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from tests.support import PATIENCE_SECONDS, use_sandbox_oauth
from tests.sync.conftest import company_id, fast_sync, recipient_id  # noqa: F401 - fixtures
from tests.sync.helpers import start_sync, work
from webapp.extensions import db
from webapp.models import NmbrsConnection, SyncRun
from webapp.services import mail

__all__ = ["consent", "oauth_stats", "sandbox_control", "soap_sync"]


@pytest.fixture(autouse=True)
def rest_config(app, nmbrs_sandbox, monkeypatch):
    """The deployment's OAuth registration and subscription key: the sandbox's demo ones."""
    use_sandbox_oauth(app, nmbrs_sandbox.url, monkeypatch)
    return app


@pytest.fixture
def mails(monkeypatch) -> list[tuple[list[str], str, str]]:
    sent: list[tuple[list[str], str, str]] = []

    def fake_send(to, subject, body):
        sent.append((list(to), subject, body))
        return True

    monkeypatch.setattr(mail, "send", fake_send)
    return sent


def sandbox_control(sandbox, side: str, method: str, **body) -> dict:
    reply = requests.post(
        f"{sandbox.url}/_sandbox/{side}/{method}", json=body, timeout=PATIENCE_SECONDS
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def oauth_stats(sandbox) -> dict:
    return sandbox_control(sandbox, "oauth", "stats")


def soap_sync(app, client, rid: int) -> SyncRun:
    """One sync over whatever API the recipient uses, run by a worker in this process."""
    assert start_sync(client, rid).status_code == 200
    work(app)
    with app.app_context():
        run = db.session.scalars(
            db.select(SyncRun).where(SyncRun.recipient_id == rid).order_by(SyncRun.id)
        ).all()[-1]
        db.session.expunge(run)
        return run


def consent(client, sandbox, rid: int, *, decision: str = "allow", username=None):
    """Click *Anslut med Nmbrs-inloggning*, decide on the sandbox (its test shortcut), and
    follow the redirect back to Brygga's callback. Returns the callback's response."""
    started = client.post(f"/settings/recipients/{rid}/nmbrs/connect")
    assert started.status_code == 302, started.text
    authorize = started.headers["Location"]
    assert authorize.startswith(sandbox.url + "/connect/authorize?")
    params = {"sandbox_auto": decision}
    if username:
        params["username"] = username
    reply = requests.get(authorize, params=params, allow_redirects=False, timeout=PATIENCE_SECONDS)
    assert reply.status_code == 302, reply.text
    back = urlsplit(reply.headers["Location"])
    assert back.path == "/settings/nmbrs/callback"
    return client.get(f"{back.path}?{back.query}")


def connection(app, rid: int) -> NmbrsConnection:
    with app.app_context():
        found = db.session.scalar(
            db.select(NmbrsConnection).where(NmbrsConnection.recipient_id == rid)
        )
        db.session.expunge(found)
        return found
