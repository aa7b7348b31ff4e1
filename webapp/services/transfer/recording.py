"""Recording a transfer: its `Transfer` row and one `TransferLine` per pay part (with their stable
keys), written before anything is sent.

A transfer to a kind that sends in a worker is recorded in parts of whole employees, each part
committed with its reports' claims (`record`); the worker sends a part's lines once it is
committed, and settles the transfer only after `Transfer.recording` is False. A report is
claimed with all its lines or not at all, so a request that dies between parts leaves the
reports it had not reached in Redo att skickas. The lines are written as plain rows with one
driver-level insert per part (10,000 ORM objects would cost more than talking to the payroll
system)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from flask_babel import gettext as _
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import (
    ExpenseReport,
    LineStatus,
    ReportRecipient,
    Transfer,
    TransferReport,
    TransferStatus,
    User,
)
from webapp.models.base import insert_rows, rowcount, table_of
from webapp.nmbrs import PayrollPeriod
from webapp.payitems import INFO
from webapp.recipients import kind_of
from webapp.services import audit, runs
from webapp.services.pay_parts import to_ore
from webapp.services.transfer.ledger import JOB_PREFIX, LINE, close_recording, held_reports
from webapp.services.transfer.plan import PlannedLine, Preview
from webapp.services.transfer.texts import DONE_REASONS, TransferError

log = logging.getLogger(__name__)


# The lines of a transfer that sends in a worker are recorded in parts of whole employees,
# each committed with its reports' claims: the first part small, so that the worker starts
# sending it while the rest is planned and recorded; the others not much larger, so that lines
# come in step with the batches (a part of 2,500 lines left the wire waiting for it) and a
# part's insert holds SQLite's one write lock, which the worker's marks wait for, briefly.
PART_LINES = (500, 1000)


class RecordingClosed(Exception):
    """The transfer ended (the worker stopped, the reaper buried it) before this part was in."""


def crash_hook(point: str, transfer_id: int) -> None:
    """Called between the parts of a recording; tests replace it to stop the request there."""


def record(
    recipient: ReportRecipient,
    parts: Iterable[Preview],
    user: User | None,
    period: PayrollPeriod | None,
    unprotected_confirmed: bool,
    *,
    started: Callable[[Transfer], None] | None = None,
) -> Transfer:
    """Record a transfer of the planned `parts` (`plan.previews`). For a kind that sends in a
    worker, each part is committed on its own (its reports' claims with their lines) and
    `started` is called once the first is: the worker sends while the rest is recorded, and a
    request that dies in between leaves the reports of the parts not recorded unclaimed, in Redo
    att skickas. A file kind's transfer is recorded and prepared in one commit.

    Raises TransferError when nothing can be sent, or the first part's reports were taken
    meanwhile; a later part's reports taken (or the transfer ended) stop the recording: what
    was recorded goes, and the TransferError names the transfer."""
    kind = kind_of(recipient)
    in_parts = kind.sends_in_worker
    transfer: Transfer | None = None
    waiting: list[Preview] = []  # planned parts before the first with a report to go
    totals = _Totals()  # of the parts recorded
    committed = _Totals()  # of the parts committed
    known: dict[int, tuple] = {}  # `line_rows`' pay parts, for every part
    try:
        for plan in parts:
            waiting.append(plan)
            if transfer is None:
                if not any(_included(p) for p in waiting):
                    continue
                transfer = _new_transfer(recipient, plan, user, period, unprotected_confirmed)
            for p in waiting:
                totals.add(_record_part(transfer, p, known))
            waiting = []
            if in_parts:
                _commit_part(transfer, totals, last=False)
                committed = replace(totals, reports=list(totals.reports))
                if started is not None:
                    started(transfer)
                    started = None
                crash_hook("part_recorded", transfer.id)
        if transfer is None:
            raise TransferError(
                _("Inget av det valda kan skickas. Se skälen i förhandsgranskningen.")
            )
        _commit_part(transfer, totals, last=True, prepare=None if in_parts else kind)
    except (IntegrityError, RecordingClosed) as exc:
        db.session.rollback()
        log.info("transfer part not recorded: %s", getattr(exc, "orig", exc))
        if transfer is None or not committed.reports:
            raise TransferError(
                _(
                    "Några av rapporterna har redan skickats eller ingår i en annan överföring. "
                    "Ladda om sidan och försök igen."
                )
            ) from None
        # The parts before are in and being sent: they go; this and later parts stay in Redo
        # att skickas.
        stopped_at = _close_partial(transfer, committed)
        raise TransferError(
            _(
                "Bara %(done)d av rapporterna kom med i överföringen. Övriga har redan "
                "skickats, ingår i en annan överföring eller hann inte med innan överföringen "
                "stoppades; de som inte skickats ligger kvar i Redo att skickas.",
                done=stopped_at,
            ),
            transfer,
        ) from None
    return transfer


@dataclass
class _Totals:
    """What the parts recorded so far add up to (the transfer's columns, set with each part)."""

    lines: int = 0
    skipped: int = 0
    amount_ore: int = 0
    reports: list[int] = field(default_factory=list)

    def add(self, other: _Totals) -> None:
        self.lines += other.lines
        self.skipped += other.skipped
        self.amount_ore += other.amount_ore
        self.reports += other.reports


def _included(plan: Preview) -> list[ExpenseReport]:
    """The part's reports that go in: something of them is sent, or nothing needs sending
    (every part left out on purpose). A report whose parts are all blocked stays in Redo att
    skickas."""
    by_report: dict[int, list[PlannedLine]] = defaultdict(list)
    for p in plan.lines:
        by_report[p.line.report_id].append(p)
    return [
        r
        for r in plan.reports
        if any(p.sendable for p in by_report[r.id])
        or all(p.reason in DONE_REASONS for p in by_report[r.id])
    ]


def _new_transfer(
    recipient: ReportRecipient,
    plan: Preview,
    user: User | None,
    period: PayrollPeriod | None,
    unprotected_confirmed: bool,
) -> Transfer:
    kind = kind_of(recipient)
    transfer = Transfer(
        organization_id=recipient.organization_id,
        recipient_id=recipient.id,
        kind=recipient.kind,
        status=TransferStatus.QUEUED if kind.sends_in_worker else TransferStatus.READY,
        requested_by_id=user.id if user else None,
        period_year=period.year if (kind.needs_period and period) else None,
        period_number=period.period if (kind.needs_period and period) else None,
        unprotected_confirmed=bool(unprotected_confirmed and plan.period_is_past),
        step="waiting" if kind.sends_in_worker else None,
        recording=True,
        lines_total=0,
        amount_total_ore=0,
        lines_skipped=0,
    )
    db.session.add(transfer)
    db.session.flush()
    if kind.sends_in_worker:
        # Committed with the first part: the job is enqueued under it.
        transfer.job_id = runs.new_job_id(f"{JOB_PREFIX}-{transfer.id}")
    return transfer


def _record_part(transfer: Transfer, plan: Preview, known: dict[int, tuple]) -> _Totals:
    """Insert one part's claims and lines (every part of every chosen report, sent or not: the
    history shows why not); returns what it adds up to. `known`: as `line_rows`'."""
    included = _included(plan)
    included_ids = {r.id for r in included}  # a set: thousands of lines look their report up
    rows = line_rows(plan.lines, known)
    # What the included reports' lines add up to, in one pass over the rows; before the
    # inserts, which hold SQLite's one write lock (the worker's marks wait for it).
    lines = skipped = amount_ore = 0
    for row in rows:
        if row[_REPORT] in included_ids:
            if row[_LIVE]:
                lines += 1
                amount_ore += row[_AMOUNT]
            else:
                skipped += 1
    # Core statements on the session's connection (the transfer is flushed): the session's own
    # execution of them cost more than the database's work (measured).
    connection = db.session.connection()
    if included:
        connection.execute(
            insert(table_of(TransferReport)),
            [{"transfer_id": transfer.id, "report_id": r.id, "active": True} for r in included],
        )
    if rows:
        insert_rows(connection, LINE, LINE_COLUMNS, rows, transfer_id=transfer.id)
    return _Totals(lines, skipped, amount_ore, [r.id for r in included])


def _commit_part(transfer: Transfer, totals: _Totals, *, last: bool, prepare=None) -> None:
    """The transfer's totals so far (and, with the last part, the end of its recording), only
    while it is recording; then commit. Raises RecordingClosed (uncommitted) otherwise."""
    updated = db.session.connection().execute(
        update(table_of(Transfer))
        .where(Transfer.id == transfer.id, Transfer.recording.is_(True))
        .values(
            lines_total=totals.lines,
            lines_skipped=totals.skipped,
            amount_total_ore=totals.amount_ore,
            recording=not last,
        )
    )
    if rowcount(updated) != 1:
        raise RecordingClosed(transfer.id)
    if last:
        db.session.expire(transfer)  # its totals, just written past the session
        if prepare is not None:
            prepare.prepare(transfer, transfer.recipient)
        requested(transfer, totals.reports, totals.lines, totals.skipped)
    # The session holds the reports, their thousands of lines and people: nothing of them
    # changed, so the commit need not expire (and reload) them all.
    session = db.session()
    session.expire_on_commit = False
    try:
        db.session.commit()
    finally:
        session.expire_on_commit = True


def _close_partial(transfer: Transfer, totals: _Totals) -> int:
    """After a part that could not be recorded: the recording ends with the parts before (if
    the worker or the reaper has not ended it already). Commits; returns how many reports
    go."""
    close_recording(transfer.id)
    db.session.expire(transfer)
    requested(transfer, totals.reports, totals.lines, totals.skipped)
    db.session.commit()
    return len(totals.reports)


def requested(transfer: Transfer, report_ids: list[int], lines: int, skipped: int) -> None:
    """The audit event of a recorded transfer, with what its recording added up to."""
    audit.record(
        "transfer.requested",
        actor=transfer.requested_by,
        organization_id=transfer.organization_id,
        obj=transfer,
        recipient_id=transfer.recipient_id,
        period=transfer.period_label or None,
        reports=report_ids,
        lines=lines,
        skipped=skipped,
        amount=str(transfer.amount_total),
        unprotected=transfer.unprotected_confirmed,
    )


def abandon_recording(transfer_id: int) -> None:
    """The worker waited long for a part that never came (the request died between parts): the
    recording ends with what is in, and the request is audited as it was recorded. Commits."""
    if close_recording(transfer_id):
        transfer = db.session.get(Transfer, transfer_id)
        assert transfer is not None
        reports = held_reports(transfer_id)
        requested(transfer, reports, transfer.lines_total, transfer.lines_skipped)
        log.warning(
            "transfer %s: its request stopped recording after %d reports; sending those",
            transfer_id,
            len(reports),
        )
    db.session.commit()


# A line's row as `line_rows` makes it (its transfer's id is added as the rows are inserted).
LINE_COLUMNS = (
    "key",
    "live",
    "report_id",
    "expense_line_id",
    "user_id",
    "employee_ref",
    "employee_number",
    "wage_code",
    "line_date",
    "cost_center_code",
    "cost_center_ref",
    "cost_unit_ref",
    "comment",
    "status",
    "skip_reason",
    "error_message",
    "note",
    "attempts",
    # its pay part's
    "pay_item",
    "paxml_code",
    "quantity",
    "unit_price_ore",
    "amount_ore",
)
_LIVE, _REPORT, _AMOUNT = (LINE_COLUMNS.index(c) for c in ("live", "report_id", "amount_ore"))


def line_rows(planned: list[PlannedLine], known: dict[int, tuple] | None = None) -> list[tuple]:
    """The transfer's lines as rows of `LINE_COLUMNS`. Lines with the same pay part (the plan
    shares them, also across the parts of a transfer) compute its values once; `known`: those
    values already computed, by id() of the part (kept with the part, so that the id stays
    its own while `known` lives)."""
    if known is None:
        known = {}
    rows = []
    for p in planned:
        got = known.get(id(p.part))
        if got is None:
            got = known[id(p.part)] = (
                p.part,
                (
                    p.part.item.value,
                    INFO[p.part.item].paxml_code,
                    str(p.part.quantity),
                    to_ore(p.part.unit_price),
                    to_ore(p.part.amount),
                ),
            )
        part = got[1]
        line = p.line
        sendable = p.reason is None
        rows.append(
            (
                p.key,
                True if sendable else None,  # None, not False: only live keys are unique
                line.report_id,  # the plain row's, not the ORM report's (10,000 reads)
                line.id,
                p.user_id,
                p.employee_ref,
                p.employee_number,
                p.wage_code,
                line.date,
                p.cost_center_code if p.cost_center_label else None,
                p.cost_center_ref,
                None,
                p.comment,
                LineStatus.PENDING if sendable else LineStatus.SKIPPED,
                p.reason,
                p.detail or None,
                p.note,
                0,
                *part,
            )
        )
    return rows
