"""The clock's hourly Nmbrs work. Keeping idle REST consents alive: Nmbrs' refresh tokens die
after ~30 idle days, so the hourly check refreshes those getting old, each in a job
(`jobs.sync.keep_alive`). And from the SOAP shutdown, telling the admins of a recipient still on
the closed API key, once (`report_retired_keys`)."""

from __future__ import annotations

import logging
from datetime import datetime

from rq.exceptions import DuplicateJobError
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import NmbrsApi, NmbrsConnection, RecipientStatus, ReportRecipient, SyncRun
from webapp.models.sync import aware
from webapp.nmbrs import NmbrsConsentExpired
from webapp.queue import get_queue
from webapp.recipients.nmbrs import sunset
from webapp.recipients.nmbrs.access import CONSENT_OK, token_store_for
from webapp.services.sync import alerts, nightly
from webapp.services.sync.runner import retry_policy

log = logging.getLogger(__name__)

KEEPALIVE_FUNCTION = "jobs.sync.keep_alive"


def keepalive_inputs() -> list[tuple[int, datetime | None]]:
    """(connection id, consent expiry) of every working REST connection of active recipients."""
    rows = db.session.execute(
        select(NmbrsConnection.id, NmbrsConnection.consent_expires_at)
        .join(ReportRecipient, NmbrsConnection.recipient_id == ReportRecipient.id)
        .where(
            ReportRecipient.status == RecipientStatus.ACTIVE,
            NmbrsConnection.api == NmbrsApi.REST,
            NmbrsConnection.consent_status == CONSENT_OK,
        )
    ).all()
    return [(r.id, aware(r.consent_expires_at) if r.consent_expires_at else None) for r in rows]


def schedule_keepalives(now: datetime) -> list[int]:
    """Enqueue a token refresh for every REST connection whose refresh token is getting old
    (nightly.keepalive_due)."""
    queue = get_queue()
    due = [cid for cid, until in keepalive_inputs() if nightly.keepalive_due(until, now)]
    for connection_id in due:
        try:
            queue.enqueue(
                KEEPALIVE_FUNCTION,
                connection_id,
                job_id=f"keepalive-{connection_id}-{now.strftime('%Y%m%d')}",
                unique=True,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
                retry=retry_policy(),
            )
        except DuplicateJobError:
            continue
    if due:
        log.info("clock: %d Nmbrs token keep-alives scheduled", len(due))
    return due


def keep_alive(connection_id: int) -> str:
    """Refresh an idle REST connection's OAuth tokens before its refresh token runs out (the
    job's body). A refused refresh marks the connection (expired or revoked) and e-mails the
    admins once."""
    connection = db.session.get(NmbrsConnection, connection_id)
    if connection is None or connection.api != NmbrsApi.REST:
        return "skipped"
    try:
        token_store_for(connection_id).refresh_now()
    except NmbrsConsentExpired as exc:
        db.session.expire_all()
        alerts.record_consent_problem(connection.recipient, exc.user_message)
        return "consent expired"
    return "refreshed"


def report_retired_keys(now: datetime) -> list[int]:
    """From the SOAP shutdown: every active recipient still on the API key gets a failed run
    saying "Nmbrs har stängt API-nyckeln" and its admins one e-mail. Once: not again while its
    latest run says so (the clock no longer syncs it, and no sync can succeed on the key)."""
    if not sunset.retired_on(now):
        return []
    rows = db.session.scalars(
        select(ReportRecipient)
        .join(NmbrsConnection, NmbrsConnection.recipient_id == ReportRecipient.id)
        .where(
            ReportRecipient.status == RecipientStatus.ACTIVE,
            NmbrsConnection.api != NmbrsApi.REST,
        )
        .order_by(ReportRecipient.id)
    ).all()
    told = []
    for recipient in rows:
        latest = db.session.scalar(
            select(SyncRun.error_code)
            .where(SyncRun.recipient_id == recipient.id)
            .order_by(SyncRun.id.desc())
            .limit(1)
        )
        if latest == sunset.RETIRED_CODE:
            continue
        alerts.record_problem(recipient, sunset.RETIRED_CODE, sunset.retired_message())
        told.append(recipient.id)
    if told:
        log.warning("clock: %d Nmbrs recipients still on the closed SOAP key", len(told))
    return told
