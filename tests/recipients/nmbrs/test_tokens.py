"""REST tokens in the app: one refresh for two workers, expired or revoked consent marked and
the admin asked to reconnect (once-per-problem e-mail, nightly sync skipped), 42908 backoff,
and the keep-alive that renews an idle connection well inside Nmbrs' 30 days."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

import jobs.sync
from tests.support import PATIENCE_SECONDS
from tests.sync.helpers import queue, runs, work
from webapp.extensions import db
from webapp.models import NmbrsApi, NmbrsConnection, SyncAlert, SyncStatus
from webapp.recipients.nmbrs import access as nmbrs_access
from webapp.recipients.nmbrs import keepalive
from webapp.services import sync as sync_service
from webapp.services.sync import nightly

from .conftest import connection, consent, oauth_stats, sandbox_control, soap_sync


@pytest.fixture
def rest_recipient(app, client, admin, nmbrs_sandbox, recipient_id) -> int:
    """Grannbolaget AB, synced over SOAP, then moved to REST (and synced over REST)."""
    soap_sync(app, client, recipient_id)
    consent(client, nmbrs_sandbox, recipient_id)
    work(app)
    assert runs(app)[-1].status == SyncStatus.SUCCEEDED
    return recipient_id


def _age_access_token(app, recipient_id: int, **changes) -> dict:
    """Make the stored access token look expired to Brygga (the sandbox still accepts it), so
    the next call refreshes. Returns the stored pair before the change."""
    with app.app_context():
        conn = db.session.scalar(
            db.select(NmbrsConnection).where(NmbrsConnection.recipient_id == recipient_id)
        )
        tokens = json.loads(conn.oauth_tokens)
        conn.oauth_tokens = json.dumps({**tokens, "expires_at": 0})
        for key, value in changes.items():
            setattr(conn, key, value)
        db.session.commit()
        return tokens


def _stored_tokens(app, recipient_id: int) -> dict:
    with app.app_context():
        conn = db.session.scalar(
            db.select(NmbrsConnection).where(NmbrsConnection.recipient_id == recipient_id)
        )
        return json.loads(conn.oauth_tokens)


def _refreshes(sandbox) -> int:
    return oauth_stats(sandbox)["token_calls"].get("refresh_token", 0)


def test_two_workers_refreshing_at_once_refresh_once_and_the_connection_lives(
    app, nmbrs_sandbox, rest_recipient
):
    old = _age_access_token(app, rest_recipient)
    before = _refreshes(nmbrs_sandbox)
    conn = connection(app, rest_recipient)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        # A worker of its own: app context, token store (Redis lock + DB), REST client.
        try:
            with (
                app.app_context(),
                nmbrs_access.rest_client_for(conn, rate_limited=True) as nmbrs,
            ):
                barrier.wait(PATIENCE_SECONDS)
                results.append(len(nmbrs.wage_types(conn.rest_company_id)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE_SECONDS)
    assert errors == []
    assert results == [30, 30]
    assert _refreshes(nmbrs_sandbox) - before == 1
    assert oauth_stats(nmbrs_sandbox)["refused"] == {}
    new = _stored_tokens(app, rest_recipient)
    assert new["refresh_token"] != old["refresh_token"]
    assert connection(app, rest_recipient).consent_status == "ok"
    # Still alive: the next call works with the rotated tokens.
    with app.app_context(), nmbrs_access.rest_client_for(conn) as nmbrs:
        assert nmbrs.current_period(conn.rest_company_id)


def _expect_reconnect(client, recipient_id: int) -> None:
    page = client.get(f"/settings/recipients/{recipient_id}").text
    assert "Anslut igen med Nmbrs-inloggning" in page
    assert "Godkännandet har gått ut – anslut igen" in page


def test_an_expired_consent_marks_the_recipient_and_mails_the_admins_once(
    app, client, nmbrs_sandbox, rest_recipient, mails
):
    sandbox_control(nmbrs_sandbox, "oauth", "expire_consent")
    _age_access_token(
        app, rest_recipient, consent_expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    run = soap_sync(app, client, rest_recipient)
    assert run.status == SyncStatus.FAILED
    assert run.error_code == "consent_expired"
    assert connection(app, rest_recipient).consent_status == "expired"
    _expect_reconnect(client, rest_recipient)
    assert len(mails) == 1
    assert "anslutningen till Nmbrs har gått ut" in mails[0][1]
    assert "Anslut igen med Nmbrs-inloggning" in mails[0][2]

    # Once per problem: a second failure sends nothing; the nightly schedule skips it.
    soap_sync(app, client, rest_recipient)
    assert len(mails) == 1
    with app.app_context():
        [state] = sync_service.schedule_inputs()
        assert state.key_rejected
        assert jobs.sync.nightly(rest_recipient) == "skipped"

    # Reconnecting fixes it, and the next sync clears the alert.
    consent(client, nmbrs_sandbox, rest_recipient)
    assert connection(app, rest_recipient).consent_status == "ok"
    work(app)
    assert runs(app)[-1].status == SyncStatus.SUCCEEDED
    with app.app_context():
        assert db.session.scalar(db.select(SyncAlert)) is None
        assert not sync_service.schedule_inputs()[0].key_rejected


def test_a_revoked_consent_marks_the_recipient_revoked(
    app, client, nmbrs_sandbox, rest_recipient, mails
):
    sandbox_control(nmbrs_sandbox, "oauth", "revoke_consent")
    run = soap_sync(app, client, rest_recipient)  # 401, refresh refused: invalid_grant
    assert run.error_code == "consent_expired"
    conn = connection(app, rest_recipient)
    assert (conn.api, conn.consent_status) == (NmbrsApi.REST, "revoked")
    _expect_reconnect(client, rest_recipient)
    assert "återkallat" in client.get(f"/settings/recipients/{rest_recipient}").text
    assert len(mails) == 1


def test_too_many_calls_42908_is_retried_after_retry_after(
    app, client, nmbrs_sandbox, rest_recipient, monkeypatch
):
    monkeypatch.setitem(app.config, "NMBRS_RETRY_ATTEMPTS", 3)
    sandbox_control(
        nmbrs_sandbox, "rest", "set_failure", mode="throttle", times=2,
        endpoints=["employees"], retry_after=0.4,
    )  # fmt: skip
    sandbox_control(nmbrs_sandbox, "rest", "calls", clear=True)
    started = time.monotonic()
    run = soap_sync(app, client, rest_recipient)
    assert run.status == SyncStatus.SUCCEEDED, run.error_message
    assert time.monotonic() - started >= 0.8  # both Retry-After waits were honoured
    calls = sandbox_control(nmbrs_sandbox, "rest", "calls")
    statuses = [c["status"] for c in calls if c["endpoint"] == "employees"]
    assert statuses == [429, 429, 200]


def test_quota_used_up_42909_is_not_retried(app, client, nmbrs_sandbox, rest_recipient):
    sandbox_control(nmbrs_sandbox, "rest", "set_failure", mode="quota", endpoints=["employees"])
    sandbox_control(nmbrs_sandbox, "rest", "calls", clear=True)
    run = soap_sync(app, client, rest_recipient)
    assert run.status == SyncStatus.FAILED
    assert "alla anrop" in run.error_message
    calls = sandbox_control(nmbrs_sandbox, "rest", "calls")
    assert [c["status"] for c in calls if c["endpoint"] == "employees"] == [429]
    assert connection(app, rest_recipient).consent_status == "ok"  # not a consent problem


def test_keepalive_is_due_three_weeks_before_the_consent_runs_out():
    now = datetime(2026, 12, 10, 12, tzinfo=UTC)
    assert not nightly.keepalive_due(now + timedelta(days=29), now)
    assert not nightly.keepalive_due(now + timedelta(days=22), now)
    assert nightly.keepalive_due(now + timedelta(days=21), now)
    assert nightly.keepalive_due(now - timedelta(days=1), now)
    assert not nightly.keepalive_due(None, now)


def test_the_clock_keeps_an_idle_connection_alive(app, nmbrs_sandbox, rest_recipient, mails):
    conn = connection(app, rest_recipient)
    expires = conn.consent_expires_at.replace(tzinfo=UTC)
    with app.app_context():
        assert keepalive.schedule_keepalives(expires - timedelta(days=25)) == []
        assert keepalive.schedule_keepalives(expires - timedelta(days=20)) == [conn.id]
    [job] = queue(app).get_jobs()
    assert job.func_name == "jobs.sync.keep_alive"
    before = _refreshes(nmbrs_sandbox)
    old = _stored_tokens(app, rest_recipient)
    work(app)
    assert _refreshes(nmbrs_sandbox) == before + 1
    assert _stored_tokens(app, rest_recipient)["refresh_token"] != old["refresh_token"]
    assert connection(app, rest_recipient).consent_expires_at.replace(tzinfo=UTC) >= expires

    # A consent that died meanwhile: marked, one e-mail, and a failed run in the history.
    sandbox_control(nmbrs_sandbox, "oauth", "revoke_consent")
    assert jobs.sync.keep_alive(conn.id) == "consent expired"
    assert connection(app, rest_recipient).consent_status == "revoked"
    assert len(mails) == 1
    assert runs(app)[-1].error_code == "consent_expired"
    with app.app_context():
        assert keepalive.schedule_keepalives(expires) == []  # not while it needs an admin
