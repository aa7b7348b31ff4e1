"""The transfer's ledger: a `Transfer` row with one `TransferLine` per pay part, written (with
their stable keys) before anything is sent (`recording`), and everything that counts and
settles them.

The lines are read and written as plain rows with bulk statements (10,000 ORM objects, expired
by every commit, would cost more than talking to the payroll system)."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, inspect, select, update
from sqlalchemy.orm.attributes import set_committed_value

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
from webapp.models.base import DriverStatement, rowcount, table_of, update_by_ids, utcnow
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
    shape = (without_component, limit is not None, after is not None)
    statement = _LINES.get(shape) or _LINES.setdefault(shape, _lines_statement(*shape))
    params = {"transfer_id": transfer_id, "status": status.value, "limit": limit, "after": after}
    connection = db.session.connection()
    return [Line(*row) for row in statement.rows(connection, params)]  # one fetch, not 10,000


# Per shape of `lines_with` (which of its options are given): read at driver level, as the
# worker reads a transfer's 10,000 lines while it sends (`DriverStatement`).
_LINES: dict[tuple[bool, bool, bool], DriverStatement] = {}


def _lines_statement(without_component: bool, limited: bool, after: bool) -> DriverStatement:
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
        .where(LINE.c.transfer_id == bindparam("transfer_id"))
        .where(LINE.c.status == bindparam("status"))
        .order_by(LINE.c.employee_ref, LINE.c.id)
    )
    if after:
        stmt = stmt.where(LINE.c.id > bindparam("after")).order_by(None).order_by(LINE.c.id)
    if without_component:
        stmt = stmt.where(LINE.c.component_id.is_(None))
    if limited:
        stmt = stmt.limit(bindparam("limit"))
    return DriverStatement(stmt)


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


def finish(
    transfer: Transfer,
    *,
    error_code: str | None = None,
    message: str | None = None,
    attempt: int | None = None,
):
    """Count the lines, settle the reports and set the transfer's final status. Commits.

    A send that ended with its last batch's yes left that answer to this commit, and read the
    lines and the held reports while the batch was on the wire (`read_ahead`, `answered`):
    they are taken from there. `attempt`: a job's, which finishes the transfer only while it is
    still running in that attempt; a reaper that declared the job dead, or a later attempt, has
    taken over (TransferLost: nothing of this is committed, the last batch stays in doubt)."""
    # Its key, not `transfer.id`: a transfer the send's last commit expired is not read again.
    identity = inspect(transfer).identity
    transfer_id: int = identity[0] if identity else transfer.id
    ahead = _taken_ahead(transfer_id, usable=error_code is None and message is None)
    if ahead is None:
        close_recording(transfer_id)  # first: a part recorded after this is refused
        lines = tally(transfer_id)
        organization_id = transfer.organization_id
        reports = decide_reports(held_reports(transfer_id), lines.by_report)
    else:
        # The recording had ended before the last lines were read (`Pending`): nothing to close.
        lines, reports, organization_id = ahead.lines, ahead.reports, ahead.organization_id
    counts = lines.counts
    sent = counts.get(LineStatus.SENT, 0)
    failed = counts.get(LineStatus.FAILED, 0)
    open_lines = counts.get(LineStatus.PENDING, 0) + counts.get(LineStatus.SENDING, 0)
    uncertain = counts.get(LineStatus.UNCERTAIN, 0)
    if open_lines:
        status = TransferStatus.FAILED
    elif uncertain:
        # A person must look in Nmbrs first: never "succeeded", never sent again by itself.
        status = TransferStatus.PARTLY_FAILED if sent else TransferStatus.FAILED
        error_code = error_code or "uncertain"
        message = message or str(ERROR_TEXTS["uncertain"])
    elif failed and sent:
        status = TransferStatus.PARTLY_FAILED
    elif failed and not sent:
        status = TransferStatus.FAILED
    else:
        status = TransferStatus.SUCCEEDED
    write_reports(transfer_id, organization_id, reports)
    written = set_final(
        transfer,
        transfer_id,
        attempt=attempt,
        lines_sent=sent,
        lines_failed=failed,
        amount_sent_ore=lines.sent_ore,
        status=status,
        error_code=error_code,
        error_message=message,
    )
    if not written:
        raise TransferLost(transfer_id)
    audit.record_many(
        "transfer.finished",
        actor=None,
        organization_id=organization_id,
        object_type=Transfer.__name__,
        object_ids=[transfer_id],
        status=status.value,
        sent=sent,
        failed=failed,
        uncertain=uncertain,
        amount=str(transfer.amount_sent),  # set by `set_final`: no reload
    )
    db.session.commit()
    if ahead is not None and ahead.committed is not None:
        ahead.committed()
    log.info(
        "transfer %s %s: %d sent, %d failed, %d uncertain",
        transfer_id,
        status,
        sent,
        failed,
        uncertain,
    )


def set_final(
    transfer: Transfer, transfer_id: int, *, attempt: int | None = None, **values
) -> bool:
    """The transfer's outcome (`values`: the final counts, status and error), finished now, in
    one UPDATE of the same columns whatever changed (an ORM flush would write only what changed:
    a statement of another shape, compiled anew); the transfer shows them without a reload.
    `attempt`: only while the transfer is still running in that attempt. Returns whether it
    was written. In the caller's transaction."""
    values = {**values, "step": None, "finished_at": utcnow()}
    transfers = table_of(Transfer)
    statement = update(transfers).where(transfers.c.id == transfer_id)
    if attempt is not None:
        statement = statement.where(
            transfers.c.status == TransferStatus.RUNNING, transfers.c.attempts == attempt
        )
    if rowcount(db.session.execute(statement.values(values))) != 1:
        return False
    for key, value in values.items():
        set_committed_value(transfer, key, value)
    return True


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


# A transfer's lines per report, status and skip reason: how many, and their amount.
TallyRow = tuple[int, LineStatus, str | None, int, int | None]


def tally(transfer_id: int) -> Tally:
    db.session.flush()  # a plain-table select does not autoflush the caller's changes
    return _tallied(_tally_rows(transfer_id))


def _tally_rows(transfer_id: int) -> list[TallyRow]:
    return [
        (report_id, LineStatus(status), reason, count, amount_ore)
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
        ).all()
    ]


def _tallied(rows: list[TallyRow]) -> Tally:
    found = Tally()
    for report_id, status, reason, count, amount_ore in rows:
        found.counts[status] += count
        if status == LineStatus.SENT:
            found.sent_ore += int(amount_ore or 0)
        found.by_report[report_id].add((status, reason))
    return found


# --- the finish read while the last batch is on the wire ---------------------------------------

_AHEAD = "transfer_finish_ahead"  # in the session's info: what `finish` takes


@dataclass
class Ahead:
    """What `finish` reads of a transfer whose recording has ended, read and decided while its
    last batch is on the wire (that batch's lines the only ones going out), as they are once
    Nmbrs says yes to it."""

    transfer_id: int
    organization_id: int
    lines: Tally
    reports: Decided
    # Once the yes is recorded (`answered`): the transaction it is recorded in, and what the
    # send does once that is committed.
    transaction: object = None
    committed: Callable[[], None] | None = None


def read_ahead(transfer_id: int, in_flight: int) -> Ahead | None:
    """`finish`'s reads and decisions, made while the transfer's last batch of `in_flight`
    lines is on the wire: as `finish` would make them once that batch is recorded as sent
    (until then, nothing of the transfer changes but that batch's lines: they go from sending
    to sent, in the count and in their reports). None when other lines than the batch's are
    going out, or lines are osäker (a person may decide one meanwhile): `finish` then reads
    everything itself."""
    rows = _tally_rows(transfer_id)
    going = sum(count for _r, status, _s, count, _a in rows if status == LineStatus.SENDING)
    if going != in_flight or any(status == LineStatus.UNCERTAIN for _r, status, *_ in rows):
        return None
    lines = _tallied(
        [
            (report_id, LineStatus.SENT if status == LineStatus.SENDING else status, r, n, ore)
            for report_id, status, r, n, ore in rows
        ]
    )
    transfers = table_of(Transfer)
    organization_id = db.session.scalar(
        select(transfers.c.organization_id).where(transfers.c.id == transfer_id)
    )
    reports = decide_reports(held_reports(transfer_id), lines.by_report)
    return Ahead(transfer_id, organization_id or 0, lines, reports)


def answered(ahead: Ahead, committed: Callable[[], None]) -> None:
    """Nmbrs said yes to the last batch, and its lines are recorded as sent in the session's
    transaction, not committed: the transfer's `finish` commits them with its outcome (one
    commit), taken from `ahead`, and then calls `committed`. Only in that same transaction:
    after a commit or a rollback, `finish` reads everything itself (and the batch, if rolled
    back, is in doubt: read back by the next attempt)."""
    ahead.transaction = db.session().get_transaction()
    ahead.committed = committed
    db.session.info[_AHEAD] = ahead


def _taken_ahead(transfer_id: int, *, usable: bool) -> Ahead | None:
    ahead = db.session.info.pop(_AHEAD, None)
    if (
        usable
        and ahead is not None
        and ahead.transfer_id == transfer_id
        and ahead.transaction is not None
        and ahead.transaction is db.session().get_transaction()
    ):
        return ahead
    return None


@dataclass
class Decided:
    """What becomes of the reports a transfer holds: per outcome (and whether the transfer
    still holds it), which; and which are now sent."""

    outcomes: dict[tuple[str, bool | None], list[int]]
    done: list[int]
    held: int  # how many the transfer held


def settle_reports(
    transfer_id: int, organization_id: int, kinds: dict[int, set[tuple[LineStatus, str | None]]]
) -> None:
    """Each report of the transfer (`kinds`: its lines' statuses, from `tally`), decided and
    written (`decide_reports`, `write_reports`). In the caller's transaction."""
    write_reports(transfer_id, organization_id, decide_reports(held_reports(transfer_id), kinds))


def decide_reports(
    held: list[int], kinds: dict[int, set[tuple[LineStatus, str | None]]]
) -> Decided:
    """Each report the transfer holds (`kinds`: its lines' statuses, from `tally`): sent (every
    part sent or left out on purpose) → TRANSFERRED; lines still open → held; otherwise released
    back to Redo att skickas (its sent lines stay sent: a new transfer sends only the rest)."""
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
    return Decided(outcomes, done, len(held))


def write_reports(transfer_id: int, organization_id: int, decided: Decided) -> None:
    """What `decide_reports` decided: plain rows and one UPDATE per outcome, not an object per
    report and line. In the caller's transaction."""
    if len(decided.outcomes) == 1:
        # Every report held comes out the same (a transfer that went through): one UPDATE of
        # the held ones, without their ids.
        [(outcome, active)] = decided.outcomes
        set_outcome(transfer_id, None, outcome, active)
    else:
        for (outcome, active), report_ids in decided.outcomes.items():
            for chunk in chunks(report_ids, 500):
                set_outcome(transfer_id, chunk, outcome, active)
    # Link objects the session may hold are stale until the caller's commit expires them.
    # One UPDATE for all the reports that are now sent (only from approved: exactly once).
    if decided.done and len(decided.done) == decided.held:
        # Every report held is sent: the held ones, without their ids.
        transferred = [mark_transferred(None, transfer_id)]
    else:
        transferred = [mark_transferred(chunk) for chunk in chunks(decided.done, 500)]
    for report_ids in transferred:
        audit.record_many(
            "report.transferred",
            actor=None,
            organization_id=organization_id,
            object_type="ExpenseReport",
            object_ids=report_ids,
            transfer_id=transfer_id,
        )


def set_outcome(
    transfer_id: int, report_ids: Sequence[int] | None, outcome: str, active: bool | None
) -> None:
    """The outcome of these reports the transfer holds (None: of every one it holds), and
    whether it still holds them."""
    links = table_of(TransferReport)
    which = links.c.active.is_(True) if report_ids is None else links.c.report_id.in_(report_ids)
    # Held already: `active` is written only when it changes.
    values = {"outcome": outcome} if active else {"outcome": outcome, "active": active}
    db.session.execute(
        update(links).where(links.c.transfer_id == transfer_id, which).values(values),
        execution_options={"synchronize_session": False},
    )


def mark_transferred(report_ids: Sequence[int] | None, held_by: int | None = None) -> list[int]:
    """The approved ones of these reports (None: of those the transfer `held_by` holds) are
    transferred; returns which. (ExpenseReport objects the session may hold are stale until
    the caller's commit expires them.)"""
    reports = table_of(ExpenseReport)
    if report_ids is None:
        links = table_of(TransferReport)
        which = reports.c.id.in_(
            select(links.c.report_id).where(
                links.c.transfer_id == held_by, links.c.active.is_(True)
            )
        )
    else:
        which = reports.c.id.in_(report_ids)
    return list(
        db.session.scalars(
            update(reports)
            .where(which, reports.c.status == ReportStatus.APPROVED)
            .values(status=ReportStatus.TRANSFERRED)
            .returning(reports.c.id)
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
    settle_reports(transfer.id, transfer.organization_id, lines.by_report)
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
