"""RQ entry points for syncs from Nmbrs. Thin: build the app, call the sync service."""

from __future__ import annotations

import logging

from jobs.context import job_app

log = logging.getLogger("jobs.sync")


def run(run_id: int) -> str:
    """Run one queued `SyncRun` (enqueued by `sync.request_sync` as `sync-recipient-<id>`)."""
    from webapp.extensions import db
    from webapp.services import sync

    with job_app().app_context():
        try:
            result = sync.execute(run_id)
            return result.status.value if result is not None else "stale"
        finally:
            db.session.remove()


def nightly(recipient_id: int) -> str:
    """The clock's nightly job for one recipient: run its sync here, or join a running one."""
    from webapp.extensions import db
    from webapp.models import KeyStatus, ReportRecipient
    from webapp.services import sync

    with job_app().app_context():
        try:
            recipient = db.session.get(ReportRecipient, recipient_id)
            if (
                recipient is None
                or not recipient.is_active
                or recipient.nmbrs is None
                or recipient.nmbrs.key_status == KeyStatus.REJECTED
            ):
                return "skipped"
            run = sync.run_nightly(recipient)
            return f"run {run.id}"
        finally:
            db.session.remove()
