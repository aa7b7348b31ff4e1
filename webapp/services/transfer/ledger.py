"""The transfer's ledger: a `Transfer` row with one `TransferLine` per pay part, written (with
their stable keys) before anything is sent (`recording`), and everything that counts and
settles them.

The lines are read and written as plain rows with bulk statements (10,000 ORM objects, expired
by every commit, would cost more than talking to the payroll system)."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select, update

from webapp.extensions import db
from webapp.models import (
    ExpenseReport,
    LineStatus,
    ReportStatus,
    Transfer,
    TransferLine,
    TransferReport,
    TransferStatus,
    User,
)
from webapp.models.base import rowcount, table_of, update_by_ids, utcnow
from webapp.models.transfer import ACTIVE_TRANSFER_STATUSES
from webapp.services import audit, runs
from webapp.services.transfer.plan import chunks
from webapp.services.transfer.texts import DONE_REASONS, ERROR_TEXTS, TransferError

log = logging.getLogger(__name__)

JOB_PREFIX = "transfer"


class TransferLost(Exception):
    """Someone else (the reaper, another worker) took the transfer over."""


def active_transfer(recipient_id: int) -> Transfer | None:
    found = runs.newest(
        Transfer,
        Transfer.recipient_id == recipient_id,
        Transfer.status.in_(ACTIVE_TRANSFER_STATUSES),
    )
    return found[0] if found else None


def history(recipient_id: int, limit: int = 20) -> list[Transfer]:
    """A recipient's transfers, newest first."""
    return runs.newest(Transfer, Transfer.recipient_id == recipient_id, limit=limit)


def recent(organization_id: int, limit: int = 10) -> list[Transfer]:
    return runs.newest(Transfer, Transfer.organization_id == organization_id, limit=limit)


def begin(transfer: Transfer) -> None:
    """A worker takes the transfer up: running, one attempt more (the caller commits)."""
    now = utcnow()
    transfer.status = TransferStatus.RUNNING
    transfer.started_at = transfer.started_at or now
    transfer.heartbeat_at = now
    transfer.attempts = (transfer.attempts or 0) + 1
    transfer.step = "reconciling"
    transfer.error_code = transfer.error_message = None


def close_recording(transfer_id: int) -> bool:
    """End the recording of a transfer that ends before its request recorded every part (the
    worker stopped, the reaper buried it, the request went silent): a part not in yet is not
    recorded (its reports stay in Redo att skickas). Returns whether it was still recording.
    In the caller's transaction."""
    closed = db.session.execute(
        update(table_of(Transfer))
        .where(Transfer.id == transfer_id, Transfer.recording.is_(True))
        .values(recording=False)
    )
    return rowcount(closed) == 1


def can_retry(transfer: Transfer) -> bool:
    if transfer.status not in (TransferStatus.FAILED, TransferStatus.PARTLY_FAILED):
        return False
    return open_lines(transfer.id)


def open_lines(transfer_id: int) -> bool:
    """Whether lines of the transfer are still to be sent, or in doubt."""
    return bool(
        db.session.scalar(
            select(TransferLine.id)
            .where(
                TransferLine.transfer_id == transfer_id,
                TransferLine.status.in_((LineStatus.PENDING, LineStatus.SENDING)),
            )
            .limit(1)
        )
    )


@dataclass
class Line:
    """A line as the sending loop needs it: plain data, written back with bulk updates (10,000
    ORM objects, expired by every commit, would cost more than talking to Nmbrs)."""

    id: int
    employee_ref: str
    wage_code: str
    amount_ore: int
    cost_center_ref: str | None
    cost_unit_ref: str | None
    comment: str | None
    batch: int | None = None

    @property
    def amount(self) -> Decimal:
        return (Decimal(self.amount_ore) / 100).quantize(Decimal("0.01"))


LINE = table_of(TransferLine)


def lines_with(
    transfer_id: int,
    status: LineStatus,
    *,
    without_component: bool = False,
    limit: int | None = None,
    after: int | None = None,
) -> list[Line]:
    """The transfer's lines in `status` (only those whose component id is not known yet, if
    `without_component`; the first `limit`): by employee, or, `after` a line's id, those
    recorded after it in the order they were recorded."""
    stmt = (
        select(
            LINE.c.id,
            LINE.c.employee_ref,
            LINE.c.wage_code,
            LINE.c.amount_ore,
            LINE.c.cost_center_ref,
            LINE.c.cost_unit_ref,
            LINE.c.comment,
            LINE.c.batch,
        )
        .where(LINE.c.transfer_id == transfer_id, LINE.c.status == status.value)
        .order_by(LINE.c.employee_ref, LINE.c.id)
    )
    if after is not None:
        stmt = stmt.where(LINE.c.id > after).order_by(None).order_by(LINE.c.id)
    if without_component:
        stmt = stmt.where(LINE.c.component_id.is_(None))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [Line(*row) for row in db.session.execute(stmt).all()]  # one fetch, not 10,000


def left_over(transfer_id: int) -> dict[str, tuple[int, int | None]]:
    """What earlier attempts left, in one pass over the transfer's lines: per status, how many
    and the highest batch number."""
    return {
        status: (count, batch)
        for status, count, batch in db.session.execute(
            select(LINE.c.status, func.count(LINE.c.id), func.max(LINE.c.batch))
            .where(LINE.c.transfer_id == transfer_id)
            .group_by(LINE.c.status)
        )
    }


def update_lines(rows: list[dict], **fixed) -> None:
    """Lines (`_id` and their own values) get their values plus `fixed`: one
    `UPDATE … WHERE id IN (…)` per 500 lines when every line gets the same (a whole batch
    marked or sent), else one UPDATE per line as one executemany."""
    if not rows:
        return
    keys = [k for k in rows[0] if k != "_id"]
    if all(row.get(k) == rows[0][k] for row in rows for k in keys):
        values = {k: rows[0][k] for k in keys} | fixed
        update_by_ids(db.session.connection(), LINE, [row["_id"] for row in rows], values)
        return
    values = {k: bindparam(k) for k in keys} | fixed
    db.session.execute(
        update(LINE).where(LINE.c.id == bindparam("_id")).values(**values),
        rows,
        execution_options={"synchronize_session": False},
    )


def fail_lines(failed: list[tuple[Line, str, str]]) -> None:
    """Fail lines for good (no longer live: their reports go back to Redo att skickas)."""
    update_lines(
        [{"_id": line.id, "error_code": code, "error_message": msg} for line, code, msg in failed],
        status=LineStatus.FAILED.value,
        live=None,
    )


def count_of(transfer_id: int, status: LineStatus):
    return (
        select(func.count(LINE.c.id))
        .where(LINE.c.transfer_id == transfer_id, LINE.c.status == status.value)
        .scalar_subquery()
    )


# --- finishing ---------------------------------------------------------------------------------


def stop(transfer: Transfer, code: str, message: str) -> None:
    """The payroll system refused the transfer as a whole: the lines that did not go fail with
    its reason. Commits."""
    fail_lines([(line, code, message) for line in lines_with(transfer.id, LineStatus.PENDING)])
    db.session.flush()
    finish(transfer, error_code=code, message=message)


def finish(transfer: Transfer, *, error_code: str | None = None, message: str | None = None):
    """Count the lines, settle the reports and set the transfer's final status. Commits."""
    close_recording(transfer.id)  # first: a part recorded after this is refused
    lines = tally(transfer.id)
    counts = lines.counts
    sent = counts.get(LineStatus.SENT, 0)
    failed = counts.get(LineStatus.FAILED, 0)
    open_lines = counts.get(LineStatus.PENDING, 0) + counts.get(LineStatus.SENDING, 0)
    uncertain = counts.get(LineStatus.UNCERTAIN, 0)
    transfer.lines_sent = sent
    transfer.lines_failed = failed
    transfer.amount_sent_ore = lines.sent_ore
    if open_lines:
        transfer.status = TransferStatus.FAILED
    elif uncertain:
        # A person must look in Nmbrs first: never "succeeded", never sent again by itself.
        transfer.status = TransferStatus.PARTLY_FAILED if sent else TransferStatus.FAILED
        error_code = error_code or "uncertain"
        message = message or str(ERROR_TEXTS["uncertain"])
    elif failed and sent:
        transfer.status = TransferStatus.PARTLY_FAILED
    elif failed and not sent:
        transfer.status = TransferStatus.FAILED
    else:
        transfer.status = TransferStatus.SUCCEEDED
    transfer.step = None
    transfer.error_code = error_code
    transfer.error_message = message
    transfer.finished_at = utcnow()
    settle_reports(transfer, lines.by_report)
    audit.record(
        "transfer.finished",
        actor=None,
        organization_id=transfer.organization_id,
        obj=transfer,
        status=transfer.status.value,
        sent=sent,
        failed=failed,
        uncertain=uncertain,
        amount=str(transfer.amount_sent),
    )
    db.session.commit()
    log.info(
        "transfer %s %s: %d sent, %d failed, %d uncertain",
        transfer.id,
        transfer.status,
        sent,
        failed,
        uncertain,
    )


def status_counts(transfer_id: int) -> dict[LineStatus, int]:
    return {
        status: count
        for status, count in db.session.execute(
            select(TransferLine.status, func.count(TransferLine.id))
            .where(TransferLine.transfer_id == transfer_id)
            .group_by(TransferLine.status)
        )
    }


def sent_amount(transfer_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(TransferLine.amount_ore), 0)).where(
                TransferLine.transfer_id == transfer_id, TransferLine.status == LineStatus.SENT
            )
        )
        or 0
    )


@dataclass
class Tally:
    """A transfer's lines counted in one pass: per status, the amount sent, and which statuses
    (with skip reasons) each report's lines have."""

    counts: Counter[LineStatus] = field(default_factory=Counter)
    sent_ore: int = 0
    by_report: dict[int, set[tuple[LineStatus, str | None]]] = field(
        default_factory=lambda: defaultdict(set)
    )


def tally(transfer_id: int) -> Tally:
    db.session.flush()  # a plain-table select does not autoflush the caller's changes
    found = Tally()
    for report_id, status, reason, count, amount_ore in db.session.execute(
        select(
            LINE.c.report_id,
            LINE.c.status,
            LINE.c.skip_reason,
            func.count(LINE.c.id),
            func.sum(LINE.c.amount_ore),
        )
        .where(LINE.c.transfer_id == transfer_id)
        .group_by(LINE.c.report_id, LINE.c.status, LINE.c.skip_reason)
    ).all():
        status = LineStatus(status)
        found.counts[status] += count
        if status == LineStatus.SENT:
            found.sent_ore += int(amount_ore or 0)
        found.by_report[report_id].add((status, reason))
    return found


def settle_reports(
    transfer: Transfer, kinds: dict[int, set[tuple[LineStatus, str | None]]]
) -> None:
    """Each report of the transfer (`kinds`: its lines' statuses, from `tally`): sent (every
    part sent or left out on purpose) → TRANSFERRED; lines still open → held; otherwise released
    back to Redo att skickas (its sent lines stay sent: a new transfer sends only the rest).
    Plain rows and one UPDATE per outcome, not an object per report and line."""
    held = held_reports(transfer.id)
    open_statuses = {LineStatus.PENDING, LineStatus.SENDING, LineStatus.UNCERTAIN}
    outcomes: dict[tuple[str, bool | None], list[int]] = defaultdict(list)
    done: list[int] = []
    for report_id in held:
        lines = kinds.get(report_id, set())
        statuses = {s for s, _r in lines}
        if statuses & open_statuses:
            # Open, in doubt or osäker: held (never back in Redo att skickas, where it could be
            # sent a second time).
            outcomes[("pending", True)].append(report_id)
        elif all(
            s == LineStatus.SENT or (s == LineStatus.SKIPPED and r in DONE_REASONS)
            for s, r in lines
        ):
            outcomes[("sent", True)].append(report_id)
            done.append(report_id)
        else:
            # Back in Redo att skickas (active NULL); its sent lines stay sent.
            outcome = "partly_sent" if LineStatus.SENT in statuses else "failed"
            outcomes[(outcome, None)].append(report_id)
    for (outcome, active), report_ids in outcomes.items():
        for chunk in chunks(report_ids, 500):
            set_outcome(transfer.id, chunk, outcome, active)
    # Link objects the session may hold are stale until the caller's commit expires them.
    # One UPDATE for all the reports that are now sent (only from approved: exactly once).
    for chunk in chunks(done, 500):
        transferred = mark_transferred(chunk)
        audit.record_many(
            "report.transferred",
            actor=None,
            organization_id=transfer.organization_id,
            object_type="ExpenseReport",
            object_ids=list(transferred),
            transfer_id=transfer.id,
        )


def set_outcome(
    transfer_id: int, report_ids: Sequence[int], outcome: str, active: bool | None
) -> None:
    links = table_of(TransferReport)
    db.session.execute(
        update(links)
        .where(links.c.transfer_id == transfer_id, links.c.report_id.in_(report_ids))
        .values(outcome=outcome, active=active),
        execution_options={"synchronize_session": False},
    )


def mark_transferred(report_ids: Sequence[int]) -> list[int]:
    """The approved ones of these reports are transferred; returns which."""
    return list(
        db.session.scalars(
            update(ExpenseReport)
            .where(ExpenseReport.id.in_(report_ids), ExpenseReport.status == ReportStatus.APPROVED)
            .values(status=ReportStatus.TRANSFERRED)
            .returning(ExpenseReport.id)
            .execution_options(synchronize_session="fetch")
        )
    )


def held_reports(transfer_id: int) -> list[int]:
    """The reports the transfer holds (not back in Redo att skickas)."""
    links = table_of(TransferReport)
    return list(
        db.session.scalars(
            select(links.c.report_id).where(
                links.c.transfer_id == transfer_id, links.c.active.is_(True)
            )
        )
    )


def fail(transfer: Transfer, code: str, message: str) -> None:
    db.session.refresh(transfer)
    transfer.error_code = code
    transfer.error_message = message
    lines = tally(transfer.id)
    transfer.lines_sent = lines.counts.get(LineStatus.SENT, 0)
    transfer.lines_failed = lines.counts.get(LineStatus.FAILED, 0)
    transfer.amount_sent_ore = lines.sent_ore
    transfer.status = TransferStatus.FAILED
    transfer.step = None
    transfer.finished_at = utcnow()
    settle_reports(transfer, lines.by_report)
    audit.record(
        "transfer.failed",
        actor=None,
        organization_id=transfer.organization_id,
        obj=transfer,
        error_code=code,
    )
    db.session.commit()
    log.info("transfer %s failed: %s", transfer.id, code)


def wait_for_retry(transfer: Transfer, message: str, interval: int) -> None:
    db.session.refresh(transfer)
    runs.park_for_retry(transfer, message)
    transfer.heartbeat_at = utcnow() + timedelta(seconds=interval)
    db.session.commit()


def status_after_undo_stop(transfer: Transfer) -> TransferStatus:
    """An undo that stopped half-way: the transfer is what its remaining lines make it."""
    counts = status_counts(transfer.id)
    if counts.get(LineStatus.SENT, 0) == 0:
        return TransferStatus.UNDONE
    return (
        TransferStatus.PARTLY_FAILED if counts.get(LineStatus.FAILED) else TransferStatus.SUCCEEDED
    )


def resolve_uncertain(transfer: Transfer, line_id: int, *, found: bool, user: User | None) -> None:
    """A person looked in the payroll system for an osäker line: it is there (`found`: the line
    counts as sent; its component stays unnamed, so undo leaves it to them) or it is not (back
    to pending: Försök igen sends it). Commits. Raises TransferError for a line that is not
    osäker (any more)."""
    line = db.session.get(TransferLine, line_id)
    if line is None or line.transfer_id != transfer.id or line.status != LineStatus.UNCERTAIN:
        raise TransferError(_("Raden är inte längre osäker. Ladda om sidan."))
    if found:
        line.status, line.sent_at = LineStatus.SENT, utcnow()
    else:
        line.status = LineStatus.PENDING
    line.error_code = line.error_message = None
    audit.record(
        "transfer.line_resolved",
        actor=user,
        organization_id=transfer.organization_id,
        obj=transfer,
        line_id=line.id,
        found=found,
    )
    db.session.flush()
    counts = status_counts(transfer.id)
    if not counts.get(LineStatus.UNCERTAIN) and not (
        counts.get(LineStatus.PENDING) or counts.get(LineStatus.SENDING)
    ):
        finish(transfer)  # nothing left to decide: the transfer's outcome, its reports settled
        return
    if found:
        transfer.lines_sent = counts.get(LineStatus.SENT, 0)
        transfer.amount_sent_ore = sent_amount(transfer.id)
    db.session.commit()
