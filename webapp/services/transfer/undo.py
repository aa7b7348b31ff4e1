"""Taking a transfer back (*Ångra*): its lines deleted in the payroll system where its kind can
(in a worker, while the period is open), its reports back in Redo att skickas."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask_babel import gettext as _
from redis.exceptions import RedisError

from webapp.extensions import db
from webapp.models import (
    LineStatus,
    ReportStatus,
    Transfer,
    TransferLine,
    TransferStatus,
    User,
)
from webapp.models.base import utcnow
from webapp.models.transfer import LIVE_LINE_STATUSES
from webapp.recipients import DeliveryFailed, kind_of
from webapp.services import audit, runs
from webapp.services.transfer import ledger
from webapp.services.transfer.ledger import can_retry
from webapp.services.transfer.runner import RUNNING_STATUSES, UNDO_FUNCTION, _enqueue
from webapp.services.transfer.texts import ERROR_TEXTS, QUEUE_DOWN, TransferError

log = logging.getLogger(__name__)


def can_undo(transfer: Transfer) -> bool:
    return transfer.status in (
        TransferStatus.SUCCEEDED,
        TransferStatus.PARTLY_FAILED,
        TransferStatus.READY,
    ) or (
        transfer.status == TransferStatus.FAILED
        and transfer.lines_sent > 0
        and not can_retry(transfer)
    )


@dataclass(frozen=True)
class UndoSummary:
    """What *Ångra* takes back, for the admin to confirm first: the lines the payroll system
    has (deleted there where the kind can), whose they are, and in which period."""

    lines: int
    employees: list[str]
    period_label: str  # "2026-11"; blank for a kind without periods (a file)


def undo_summary(transfer: Transfer) -> UndoSummary:
    """The sent lines of a transfer an undo would take back."""
    rows = db.session.execute(
        db.select(TransferLine.id, User.name)
        .join(User, User.id == TransferLine.user_id)
        .where(TransferLine.transfer_id == transfer.id, TransferLine.status == LineStatus.SENT)
    ).all()
    return UndoSummary(
        lines=len(rows),
        employees=sorted({name for _, name in rows}),
        period_label=transfer.period_label,
    )


def request_undo(transfer: Transfer, user: User | None) -> Transfer:
    """Take a transfer back: its lines deleted in the payroll system (while the period is
    open), its reports back in Redo att skickas. A worker's job where the kind sends in one;
    at once otherwise. Commits."""
    if not can_undo(transfer):
        raise TransferError(_("Den här överföringen kan inte ångras."))
    kind = kind_of(transfer)
    if not kind.sends_in_worker:
        transfer.undone_by_id = user.id if user else None
        complete_undo(transfer, user)
        return transfer
    kind.check_undo(transfer)  # raises TransferError when the period has closed
    transfer.status = TransferStatus.UNDOING
    transfer.step = "undoing"
    transfer.undone_by_id = user.id if user else None
    transfer.heartbeat_at = utcnow()
    transfer.error_code = transfer.error_message = None
    audit.record(
        "transfer.undo_requested",
        actor=user,
        organization_id=transfer.organization_id,
        obj=transfer,
    )
    db.session.commit()
    try:
        _enqueue(transfer, UNDO_FUNCTION)
    except RedisError as exc:
        transfer.status = ledger.status_after_undo_stop(transfer)
        db.session.commit()
        raise runs.QueueUnavailable(QUEUE_DOWN) from exc
    return transfer


def execute_undo(transfer_id: int) -> Transfer | None:
    """Delete a transfer's lines in the payroll system by their stored ids (the RQ job's body)."""
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None or transfer.status != TransferStatus.UNDOING:
        return None
    with runs.heartbeat(Transfer, transfer.id, RUNNING_STATUSES):
        try:
            kind_of(transfer).take_back(transfer)
            db.session.expire_all()
            user = db.session.get(User, transfer.undone_by_id) if transfer.undone_by_id else None
            complete_undo(transfer, user)
        except DeliveryFailed as exc:
            db.session.rollback()
            db.session.refresh(transfer)
            transfer.status = ledger.status_after_undo_stop(transfer)
            transfer.error_code = "undo_incomplete"
            transfer.error_message = f"{ERROR_TEXTS['undo_incomplete']} {exc.user_message}"
            transfer.step = None
            db.session.commit()
    return transfer


def complete_undo(transfer: Transfer, user: User | None) -> None:
    for line in transfer.lines:
        # An osäker line stays as it is (and keeps its key): whether it is in the payroll
        # system is for a person to find out, undo cannot take it back.
        if line.status in LIVE_LINE_STATUSES and line.status != LineStatus.UNCERTAIN:
            line.status = LineStatus.DELETED
            line.live = None
    for link in transfer.reports:
        report = link.report
        if report.status == ReportStatus.TRANSFERRED:
            report.status = ReportStatus.APPROVED
        link.active = None
        link.outcome = "undone"
    transfer.status = TransferStatus.UNDONE
    transfer.step = None
    transfer.undone_at = utcnow()
    transfer.lines_sent = 0
    transfer.amount_sent_ore = 0
    audit.record(
        "transfer.undone",
        actor=user,
        organization_id=transfer.organization_id,
        obj=transfer,
        reports=[link.report_id for link in transfer.reports],
    )
    db.session.commit()


# --- PAXml -------------------------------------------------------------------------------------
