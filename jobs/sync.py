"""RQ entry points for syncs from Nmbrs. Thin: build the app, call the sync service."""

from __future__ import annotations

import logging

from jobs.context import job_app

log = logging.getLogger("jobs.sync")


def run(run_id: int) -> str:
    """Run one queued `SyncRun` (enqueued by `sync.request_sync` as `sync-recipient-<id>`)."""
    from webapp.extensions import db
    from webapp.models import SyncRun
    from webapp.services import sync
    from webapp.tenancy import tenant_of

    with job_app().app_context(), tenant_of(SyncRun, run_id):
        try:
            result = sync.execute(run_id)
            return result.status.value if result is not None else "stale"
        finally:
            db.session.remove()


def nightly(recipient_id: int) -> str:
    """The clock's nightly job for one recipient: run its sync here, or join a running one."""
    from webapp.extensions import db
    from webapp.models import ReportRecipient
    from webapp.services import sync
    from webapp.tenancy import tenant_of

    with job_app().app_context(), tenant_of(ReportRecipient, recipient_id):
        try:
            recipient = db.session.get(ReportRecipient, recipient_id)
            if (
                recipient is None
                or not recipient.is_active
                or recipient.nmbrs is None
                or sync.needs_admin(recipient.nmbrs)  # rejected key, expired/revoked consent
            ):
                return "skipped"
            run = sync.run_nightly(recipient)
            return f"run {run.id}"
        finally:
            db.session.remove()


def keep_alive(connection_id: int) -> str:
    """Refresh an idle REST connection's OAuth tokens before its refresh token runs out.

    A refused refresh marks the connection (expired or revoked) and e-mails the admins once.
    """
    from webapp.extensions import db
    from webapp.models import NmbrsApi, NmbrsConnection
    from webapp.nmbrs import NmbrsConsentExpired
    from webapp.services import nmbrs_access, sync
    from webapp.tenancy import tenant_of

    with job_app().app_context(), tenant_of(NmbrsConnection, connection_id):
        try:
            connection = db.session.get(NmbrsConnection, connection_id)
            if connection is None or connection.api != NmbrsApi.REST:
                return "skipped"
            try:
                nmbrs_access.token_store_for(connection_id).refresh_now()
            except NmbrsConsentExpired as exc:
                db.session.expire_all()
                sync.record_consent_problem(connection.recipient, exc.user_message)
                return "consent expired"
            return "refreshed"
        finally:
            db.session.remove()
