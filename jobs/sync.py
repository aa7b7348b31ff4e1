"""RQ entry points for syncs from Nmbrs. Thin: build the app, call the sync service."""

from __future__ import annotations

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor

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


def nightly(*recipient_ids: int) -> str:
    """The clock's nightly job for one recipient, or for a batch of them at once: run each
    one's sync here, or join a running one.

    A fan-out of hundreds of syncs in jobs of one each paid a worker's fork, a fresh database
    connection and cold caches per sync, more than the sync itself: a batch pays them once,
    and its syncs run side by side (each in a thread with its own app context, session and
    organization), so a few workers keep the rate limits busy."""
    if len(recipient_ids) == 1:
        return _nightly_one(recipient_ids[0], in_batch=False)
    app = job_app()  # once, before the threads: a forked child opens its own connections
    threads = min(len(recipient_ids), app.config["SYNC_NIGHTLY_BATCH_THREADS"])
    # Each thread starts from a copy of this context (RQ's current job, no app context yet).
    with ThreadPoolExecutor(threads, thread_name_prefix="nightly") as pool:
        done = {
            rid: pool.submit(contextvars.copy_context().run, _nightly_one, rid, in_batch=True)
            for rid in recipient_ids
        }
    return "; ".join(f"{rid}: {future.result()}" for rid, future in done.items())


def _nightly_one(recipient_id: int, *, in_batch: bool) -> str:
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
            run = sync.run_nightly(recipient, in_batch=in_batch)
            return f"run {run.id}"
        except Exception:
            if not in_batch:
                raise  # RQ records it (and retries when the policy says)
            # One recipient's failure (its run is marked failed; one that never got a run is
            # caught up by the clock's hourly check) must not stop the others.
            log.exception("nightly sync of recipient %s failed", recipient_id)
            return "failed"
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
