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
                or sync.needs_admin(recipient)  # rejected key, expired/revoked consent
            ):
                return "skipped"
            run = sync.run_nightly(recipient)
            return f"run {run.id}"
        finally:
            db.session.remove()


def keep_alive(connection_id: int) -> str:
    """Refresh an idle Nmbrs REST connection's OAuth tokens before its refresh token runs out
    (enqueued by the clock's hourly check). A refused refresh marks the connection and e-mails
    the admins once."""
    from webapp.extensions import db
    from webapp.models import NmbrsConnection
    from webapp.recipients.nmbrs import keepalive
    from webapp.tenancy import tenant_of

    with job_app().app_context(), tenant_of(NmbrsConnection, connection_id):
        try:
            return keepalive.keep_alive(connection_id)
        finally:
            db.session.remove()
