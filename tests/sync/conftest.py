"""Sync tests: the sandbox over loopback, a real Redis, a real database, real RQ workers."""

from __future__ import annotations

import os

import pytest

import jobs.context
from tests.recipients.helpers import add_single_company_nmbrs
from webapp.extensions import db
from webapp.models import RecipientStatus, ReportRecipient


@pytest.fixture
def fast_sync(app, monkeypatch):
    """Short retry intervals and heartbeats; the jobs run on the test's app."""
    monkeypatch.setitem(app.config, "SYNC_RETRY_INTERVALS", [30])
    monkeypatch.setitem(app.config, "NMBRS_RETRY_ATTEMPTS", 1)
    monkeypatch.setitem(app.config, "NMBRS_RETRY_BACKOFF", 0.01)
    monkeypatch.setitem(app.config, "SYNC_HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setitem(app.config, "SYNC_DEAD_AFTER_SECONDS", 3)
    monkeypatch.setattr(jobs.context, "_app", app)
    monkeypatch.setattr(jobs.context, "_app_pid", os.getpid())
    return app


@pytest.fixture
def recipient_id(app, client, admin, nmbrs_sandbox, fast_sync) -> int:
    """Grannbolaget AB in Nmbrs (one company, five employees), added by the logged-in admin."""
    assert add_single_company_nmbrs(client).status_code == 302
    with app.app_context():
        return db.session.scalar(
            db.select(ReportRecipient.id).where(ReportRecipient.status == RecipientStatus.ACTIVE)
        )


@pytest.fixture
def company_id(nmbrs_sandbox) -> int:
    [account] = [
        a
        for a in nmbrs_sandbox.state.summary()["accounts"]
        if a["username"] == "lon@grannbolaget.se"
    ]
    return account["debtors"][0]["companies"][0]["id"]
