"""Running a transfer: asking for one, the RQ job that sends it (its kind delivers the lines
exactly once), *Försök igen*, and noticing a worker that died. The run lifecycle (enqueue,
dead-worker detection, requeue) is `webapp.services.runs`, shared with the sync."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from redis.exceptions import RedisError
from rq.job import get_current_job

from webapp.extensions import db
from webapp.models import (
    ExpenseReport,
    ReportRecipient,
    ReportStatus,
    Transfer,
    TransferStatus,
    User,
)
from webapp.models.base import utcnow
from webapp.models.transfer import ACTIVE_TRANSFER_STATUSES
from webapp.nmbrs import PayrollPeriod
from webapp.queue import redis_connection
from webapp.recipients import (
    DeliveryFailed,
    DeliveryStopped,
    DeliveryUnreachable,
    kind_of,
)
from webapp.services import audit, runs
from webapp.services.errors import NotFound
from webapp.services.transfer import ledger, recording
from webapp.services.transfer.ledger import JOB_PREFIX, TransferLost, active_transfer, can_retry
from webapp.services.transfer.plan import collector_paused, get_transfer, load_reports, previews
from webapp.services.transfer.texts import ERROR_TEXTS, QUEUE_DOWN, TransferError

log = logging.getLogger(__name__)

JOB_FUNCTION = "jobs.transfer.run"
# The statuses in which a worker works on a transfer (its heartbeat beats).
RUNNING_STATUSES = ("running", "undoing")
UNDO_FUNCTION = "jobs.transfer.undo"


def request_transfer(
    recipient: ReportRecipient,
    reports: Sequence[ExpenseReport],
    *,
    user: User | None,
    period: PayrollPeriod | None = None,
    current: PayrollPeriod | None = None,
    unprotected_confirmed: bool = False,
) -> Transfer:
    """Record a transfer of `reports` to `recipient` with all its lines and start it: for Nmbrs,
    the lines are recorded in parts of whole employees and the RQ job starts once the first part
    is committed (it sends while the rest is recorded); for PAXml, the file is made at once
    (downloaded with `download`). Commits.

    Raises TransferError when nothing can be sent, another transfer to the recipient is under
    way, or a report was sent (or picked) meanwhile; when that happens to a later part, the
    parts before go and the error names the transfer.
    """
    if not recipient.is_active:
        raise TransferError(_("Mottagaren är inte längre aktiv."))
    # From the reports' load on (10,000 lines' worth of objects, like the planning's), not
    # from the planning only: a full collection set off by the load walked the whole process
    # before the first part went out.
    with collector_paused():
        return _record_and_start(recipient, reports, user, period, current, unprotected_confirmed)


def _record_and_start(
    recipient: ReportRecipient,
    reports: Sequence[ExpenseReport],
    user: User | None,
    period: PayrollPeriod | None,
    current: PayrollPeriod | None,
    unprotected_confirmed: bool,
) -> Transfer:
    load_reports(reports)  # their status, lines and employees, fresh and at once
    if any(r.status != ReportStatus.APPROVED for r in reports):
        raise TransferError(_("Bara attesterade rapporter kan skickas. Ladda om sidan."))
    kind = kind_of(recipient)
    if kind.needs_period and period is None:
        raise TransferError(_("Välj löneperiod."))
    try:
        lock = redis_connection().lock(
            f"transfer-lock:{recipient.id}", timeout=60, blocking_timeout=15
        )
        lock.acquire()
    except RedisError as exc:
        raise runs.QueueUnavailable(QUEUE_DOWN) from exc
    try:
        running = active_transfer(recipient.id)
        if running is not None:
            reap_dead(recipient.id)
            db.session.refresh(running)
            if running.is_active:
                raise TransferError(
                    _(
                        "En överföring till %(name)s pågår redan. Vänta tills den är klar.",
                        name=recipient.display_name,
                    ),
                    running,
                )
        # In parts for a kind that sends in a worker: the job starts once the first part is
        # committed and sends while the rest is planned and recorded.
        parts = previews(
            recipient,
            reports,
            period,
            current,
            unprotected_confirmed,
            recording.PART_LINES if kind.sends_in_worker else (),
        )
        transfer = recording.record(
            recipient,
            parts,
            user,
            period,
            unprotected_confirmed,
            started=_started if kind.sends_in_worker else None,
        )
    finally:
        with contextlib.suppress(Exception):
            lock.release()
    return transfer


def _started(transfer: Transfer) -> None:
    """The first part is committed: its job goes (under the job id recorded with it)."""
    try:
        _start_job(transfer)
    except RedisError:
        # The transfer stays queued; reap_dead() enqueues it again once Redis is back.
        log.warning("could not enqueue transfer %s: redis unavailable", transfer.id)


def _enqueue(transfer: Transfer, function: str = JOB_FUNCTION) -> None:
    """Start the transfer's job (or its undo's) under a job id of its own attempt."""
    transfer.job_id = runs.new_job_id(f"{JOB_PREFIX}-{transfer.id}")
    db.session.commit()
    _start_job(transfer, function)


def _start_job(transfer: Transfer, function: str = JOB_FUNCTION) -> None:
    """Enqueue the job under the transfer's committed job id."""
    assert transfer.job_id is not None
    intervals = current_app.config.get("TRANSFER_RETRY_INTERVALS", [30, 120, 600])
    runs.enqueue(
        function,
        transfer.id,
        job_id=transfer.job_id,
        timeout=current_app.config.get("TRANSFER_JOB_TIMEOUT", 3600),
        retry=runs.retry_policy(intervals) if function == JOB_FUNCTION else None,
        description=f"transfer {transfer.id} to recipient {transfer.recipient_id}",
    )


def retry(transfer: Transfer, user: User | None) -> Transfer:
    """Send again what a failed transfer did not get through (only the lines still live: read
    back first, as always). Commits and enqueues."""
    if not kind_of(transfer).sends_in_worker or not can_retry(transfer):
        raise TransferError(_("Det finns inget att försöka igen i den här överföringen."))
    transfer.status = TransferStatus.QUEUED
    transfer.step = "waiting"
    transfer.error_code = transfer.error_message = None
    transfer.finished_at = None
    transfer.heartbeat_at = utcnow()
    audit.record(
        "transfer.retried", actor=user, organization_id=transfer.organization_id, obj=transfer
    )
    db.session.commit()
    try:
        _enqueue(transfer)
    except RedisError as exc:
        # Queued in the database: the next look at its progress enqueues it again.
        raise runs.QueueUnavailable(QUEUE_DOWN) from exc
    return transfer


def execute(transfer_id: int) -> Transfer | None:
    """Send a queued transfer (the RQ job's body); exactly once, whatever happened before.

    Returns the transfer, or None when it was not waiting to run.
    """
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None or transfer.status not in (TransferStatus.QUEUED, TransferStatus.RUNNING):
        log.info("transfer %s is not waiting to run; nothing to do", transfer_id)
        return None
    ledger.begin(transfer)
    attempt = transfer.attempts  # this job's: its finish holds only while it is the running one
    db.session.commit()
    log.info("transfer %s started (attempt %s)", transfer_id, attempt)
    with runs.heartbeat(Transfer, transfer.id, RUNNING_STATUSES):
        try:
            kind_of(transfer).deliver(transfer)
            ledger.finish(transfer, attempt=attempt)
        except DeliveryStopped as stop:
            db.session.rollback()
            ledger.stop(transfer, stop.code, stop.user_message)
        except DeliveryUnreachable as exc:
            db.session.rollback()
            job = get_current_job()
            if job is not None and job.retries_left:
                ledger.wait_for_retry(transfer, exc.user_message, job.get_retry_interval())
                raise
            ledger.fail(transfer, "unavailable", str(ERROR_TEXTS["unavailable"]))
        except DeliveryFailed as exc:
            db.session.rollback()
            # A read-back failed for another reason: what was sent is still in doubt, so the lines
            # stay live and "Försök igen" settles them.
            ledger.fail(transfer, exc.code, exc.user_message)
        except TransferLost:
            db.session.rollback()
            log.warning("transfer %s was taken over by someone else", transfer_id)
        except Exception:
            db.session.rollback()
            log.exception("transfer %s failed", transfer_id)
            ledger.fail(transfer, "error", str(ERROR_TEXTS["error"]))
            raise
    return transfer


# --- dead workers ------------------------------------------------------------------------------


def is_dead(transfer: Transfer, now: datetime | None = None) -> bool:
    """Whether a queued, running or undoing transfer will never finish by itself."""
    if not transfer.is_active:
        return False
    return runs.is_dead(transfer, queued=transfer.status == TransferStatus.QUEUED, now=now)


def reap_dead(recipient_id: int | None = None) -> int:
    """Mark transfers whose worker died as failed ("Försök igen" then reads back and resumes);
    re-enqueue queued ones whose job Redis lost. Called when progress is read."""
    return LIFECYCLE.reap(recipient_id)


def _bury(transfer: Transfer, now: datetime) -> bool:
    undoing = transfer.status == TransferStatus.UNDOING
    if not undoing and not ledger.open_lines(transfer.id):
        # It died after recording its last line: nothing is in doubt, so just finish it.
        log.warning("transfer %s died after its last line; finishing it", transfer.id)
        ledger.finish(transfer)
        return False
    log.warning("transfer %s (%s) is dead; marking it failed", transfer.id, transfer.status)
    transfer.status = ledger.status_after_undo_stop(transfer) if undoing else TransferStatus.FAILED
    transfer.step = None
    transfer.error_code = "undo_incomplete" if undoing else "interrupted"
    transfer.error_message = str(ERROR_TEXTS[transfer.error_code])
    transfer.finished_at = now
    return True


LIFECYCLE: runs.Lifecycle[Transfer] = runs.Lifecycle(
    Transfer, ACTIVE_TRANSFER_STATUSES, _enqueue, is_dead, _bury
)


def progress(organization_id: int, transfer_id: int) -> Transfer:
    """The transfer for the progress fragment; reading progress also notices a dead worker."""
    transfer = get_transfer(organization_id, transfer_id)
    if transfer.is_active and reap_dead(transfer.recipient_id):
        db.session.refresh(transfer)
    return transfer


def download(transfer: Transfer, user: User | None) -> tuple[bytes, str, bool]:
    """The file of a transfer to a file-based kind: (bytes, file name, is_reexport). Commits."""
    if transfer.status == TransferStatus.UNDONE:
        raise NotFound
    return kind_of(transfer).download(transfer, user)


def current_period(recipient: ReportRecipient) -> PayrollPeriod | None:
    """The recipient's current payroll period, for kinds that send into one (else None)."""
    return kind_of(recipient).current_period(recipient)
