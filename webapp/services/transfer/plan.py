"""The preview: which reports wait, and every pay part as it would be sent to a recipient, or
why not. What a line becomes for a payroll system is its kind's answer (`Kind.planner`)."""

from __future__ import annotations

import contextlib
import gc
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import Text, cast, inspect, select
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import (
    ExpenseLine,
    ExpenseReport,
    LineStatus,
    ReportRecipient,
    ReportStatus,
    Transfer,
    TransferLine,
    TransferReport,
    User,
)
from webapp.models.sync import aware
from webapp.nmbrs import PayrollPeriod
from webapp.payitems import INFO
from webapp.recipients import kind_of
from webapp.services import advanced_settings
from webapp.services.errors import NotFound
from webapp.services.pay_parts import PayPart
from webapp.services.transfer.texts import SKIP_REASONS


def chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while 10,000 lines are planned and recorded: their few
    hundred thousand short-lived objects would set off a full collection, which walks every
    object of the process (a fifth of the request's time, measured). Refcounting still frees
    them; any cycle waits for the collector's next run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- choosing reports --------------------------------------------------------------------------


def get_recipient(organization_id: int, recipient_id: int) -> ReportRecipient:
    """Any recipient of the organization (also a replaced one, for its history), else 404."""
    recipient = db.session.get(ReportRecipient, recipient_id)
    if recipient is None or recipient.organization_id != organization_id:
        raise NotFound
    return recipient


def get_transfer(organization_id: int, transfer_id: int) -> Transfer:
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None or transfer.organization_id != organization_id:
        raise NotFound
    return transfer


def waiting_reports(organization_id: int, until: date | None = None) -> list[ExpenseReport]:
    """Approved reports not held by a transfer, oldest approval first; `until`: approved on
    or before that day."""
    held = select(TransferReport.report_id).where(TransferReport.active.is_(True))
    stmt = (
        select(ExpenseReport)
        .where(
            ExpenseReport.organization_id == organization_id,
            ExpenseReport.status == ReportStatus.APPROVED,
            ExpenseReport.id.not_in(held),
        )
        .order_by(ExpenseReport.decided_at, ExpenseReport.id)
    )
    reports = list(db.session.scalars(stmt))
    if until is not None:
        reports = [r for r in reports if r.decided_at and aware(r.decided_at).date() <= until]
    return reports


def reports_by_ids(organization_id: int, ids: Iterable[int]) -> list[ExpenseReport]:
    """The organization's reports with these ids: 404 for any other organization's id."""
    ids = sorted(set(ids))
    if not ids:
        return []
    reports = list(
        db.session.scalars(
            select(ExpenseReport).where(ExpenseReport.id.in_(ids)).order_by(ExpenseReport.id)
        )
    )
    if len(reports) != len(ids) or any(r.organization_id != organization_id for r in reports):
        raise NotFound
    return reports


# --- the preview -------------------------------------------------------------------------------


@dataclass(slots=True)
class PlanLine:
    """An expense line as the plan reads it: plain data from one Core select per 500 reports
    (10,000 ORM lines cost more to load than sending them to Nmbrs). Not frozen: a frozen
    dataclass sets each field through object.__setattr__, which cost more than the select."""

    id: int
    report_id: int
    date: date
    cost_center_code: str | None
    parts: tuple[PayPart, ...]


@dataclass(slots=True)
class PlannedLine:
    """One pay part as the preview shows it and the transfer records it."""

    report: ExpenseReport
    line: PlanLine
    part: PayPart
    key: str
    employee: User
    user_id: int  # the employee's, read once per report (an ORM attribute read costs)
    employee_ref: str | None = None
    employee_number: str | None = None
    employee_label: str = ""
    wage_code: str | None = None
    wage_label: str = ""
    cost_center_code: str | None = None
    cost_center_ref: str | None = None
    cost_center_label: str = ""
    comment: str = ""
    reason: str | None = None
    detail: str = ""
    note: str | None = None

    @property
    def sendable(self) -> bool:
        return self.reason is None

    @property
    def reason_text(self) -> str:
        if self.reason is None:
            return ""
        text = str(SKIP_REASONS[self.reason])
        return f"{text} {self.detail}".strip()

    @property
    def item_label(self) -> str:
        return str(INFO[self.part.item].label)


@dataclass
class Preview:
    recipient: ReportRecipient
    reports: list[ExpenseReport]
    period: PayrollPeriod | None
    current: PayrollPeriod | None
    unprotected_confirmed: bool
    lines: list[PlannedLine] = field(default_factory=list)

    @property
    def to_send(self) -> list[PlannedLine]:
        return [p for p in self.lines if p.sendable]

    @property
    def not_sent(self) -> list[PlannedLine]:
        return [p for p in self.lines if not p.sendable]

    @property
    def total(self) -> Decimal:
        """Every value sent, as the transfer records it (`Transfer.amount_total`)."""
        return sum((p.part.amount for p in self.to_send), Decimal("0.00"))

    @property
    def benefit(self) -> Decimal:
        """The part of `total` that is kostförmån: a taxable value for payroll, not money paid
        out, so the admin must not read the total as what the employees get."""
        return sum((p.part.amount for p in self.to_send if p.part.benefit), Decimal("0.00"))

    @property
    def period_is_past(self) -> bool:
        return bool(self.period and self.current and self.period < self.current)


def comment_for(report: ExpenseReport, key: str) -> str:
    return f"Brygga rapport {report.id} [{key}]"


def preview(
    recipient: ReportRecipient,
    reports: Sequence[ExpenseReport],
    period: PayrollPeriod | None = None,
    *,
    current: PayrollPeriod | None = None,
    unprotected_confirmed: bool = False,
    loaded: bool = False,
) -> Preview:
    """Every pay part of `reports` as it would be sent to `recipient`, and every part that would
    not be, with its reason. `period`/`current`: the chosen and Nmbrs' current period;
    `loaded`: the reports were just loaded with `load_reports`."""
    if not loaded:
        load_reports(reports)
    return next(previews(recipient, reports, period, current, unprotected_confirmed))


def previews(
    recipient: ReportRecipient,
    reports: Sequence[ExpenseReport],
    period: PayrollPeriod | None,
    current: PayrollPeriod | None,
    unprotected_confirmed: bool,
    part_lines: Sequence[int] = (),
) -> Iterator[Preview]:
    """The preview (of reports loaded with `load_reports`) in parts of whole employees (all of
    an employee's reports in one part), the i-th of about `part_lines[i]` lines (the last size
    repeats), so that a transfer can record the first part and start sending it while the rest
    is planned; without sizes, one part of everything."""
    db.session.flush()  # the lines are read past the session (`lines_of`)
    settings = {row.info.item: row for row in advanced_settings.rows(recipient)}
    planner = kind_of(recipient).planner(recipient, period, current, unprotected_confirmed)
    for part, lines in _parts(reports, part_lines):
        result = Preview(recipient, list(part), period, current, unprotected_confirmed)
        result.lines = _plan(part, lines, planner, settings)
        yield result


# Employees whose lines `_parts` reads first; each later read is sized by the lines per employee
# read so far, to fill about one part.
READ_FIRST = 25


def _parts(
    reports: Sequence[ExpenseReport], part_lines: Sequence[int]
) -> Iterator[tuple[Sequence[ExpenseReport], dict[int, list[PlanLine]]]]:
    """The parts of `previews`, each with its reports' lines. The lines are read a few employees
    at a time and counted as they are read (not counted first, then read): the first part goes
    without every report read."""
    decoded: dict[str | None, tuple[PayPart, ...]] = {}
    if not part_lines or not reports:
        yield reports, lines_of([_identity(r) for r in reports], decoded)
        return
    by_employee: dict[int, list[ExpenseReport]] = defaultdict(list)
    for report in reports:
        by_employee[report.employee_id].append(report)
    employees = list(by_employee.values())
    part: list[ExpenseReport] = []
    lines: dict[int, list[PlanLine]] = {}
    count = read_lines = start = 0
    size = READ_FIRST
    while start < len(employees):
        group = employees[start : start + size]
        start += len(group)
        found = lines_of([_identity(r) for own in group for r in own], decoded)
        read_lines += sum(map(len, found.values()))
        for own in group:
            part.extend(own)
            for report in own:
                own_lines = found.get(_identity(report))
                if own_lines:
                    lines[_identity(report)] = own_lines
                    count += len(own_lines)
            if count >= part_lines[0]:
                yield part, lines
                part, lines, count = [], {}, 0
                part_lines = part_lines[1:] or part_lines
        per_employee = max(read_lines / start, 1.0)
        size = max(1, min(500, math.ceil((part_lines[0] - count) / per_employee)))
    if part:
        yield part, lines


def _plan(
    reports: Sequence[ExpenseReport], lines: dict[int, list[PlanLine]], planner, settings: dict
) -> list[PlannedLine]:
    planned: list[PlannedLine] = []
    locked = planner.locked
    # Per pay part (lines share them): its item's value and setting, read once (an enum's
    # value and hash are Python-level calls).
    of_part: dict[int, tuple[str, object]] = {}
    for report in reports:
        # Read once per report: an ORM attribute costs more than the rest of a line's work.
        employee = report.employee
        name, user_id, report_id = employee.name, employee.id, report.id
        comment = comment_for(report, "{}")  # filled in per line, as comment_for would
        for line in lines.get(report_id, ()):
            for part in line.parts:
                known = of_part.get(id(part))
                if known is None:
                    known = of_part[id(part)] = (part.item.value, settings[part.item])
                item, setting = known
                key = f"{line.id}:{item}"
                p = PlannedLine(report, line, part, key, employee, user_id)
                p.comment = comment.format(key)
                p.employee_label = name
                p.cost_center_code = line.cost_center_code
                planner.plan(p, setting)
                if p.reason is None and locked:
                    p.reason = "period_locked"
                planned.append(p)
    _mark_already_sent(planned)
    return planned


def load_reports(reports: Sequence[ExpenseReport]) -> None:
    """Load the reports afresh (their status) with their employees in a few queries, not a lazy
    load per report. Their lines are read by `lines_of`, as plain rows."""
    # The keys without touching the objects (an expired one would load itself, one by one).
    ids = [_identity(r) for r in reports]
    for chunk in chunks(ids, 500):
        db.session.scalars(
            select(ExpenseReport)
            .where(ExpenseReport.id.in_(chunk))
            .options(joinedload(ExpenseReport.employee))
            .execution_options(populate_existing=True)
        ).unique().all()


def lines_of(
    report_ids: Sequence[int], decoded: dict[str | None, tuple[PayPart, ...]] | None = None
) -> dict[int, list[PlanLine]]:
    """The lines that count (not rejected) of these reports, by report, in their order, with
    their pay parts decoded. `decoded`: the parts already decoded, by their text (shared by the
    reads of one request: the same trips and amounts come back in every part)."""
    found: dict[int, list[PlanLine]] = defaultdict(list)
    columns = (
        ExpenseLine.id,
        ExpenseLine.report_id,
        ExpenseLine.date,
        ExpenseLine.cost_center_code,
        # As text: lines with the same parts (the same trip every week) are decoded once.
        cast(ExpenseLine.parts, Text),
    )
    if decoded is None:
        decoded = {}
    # A Core select on the session's connection: the session's own execution of it cost more
    # than the database's work (measured). Nothing of the session is flushed: `previews` does.
    connection = db.session.connection()
    for chunk in chunks(sorted(set(report_ids)), 500):
        for line_id, report_id, day, cost_center, text in connection.execute(
            select(*columns)
            .where(ExpenseLine.report_id.in_(chunk), ExpenseLine.rejected.is_not(True))
            .order_by(ExpenseLine.id)
        ).all():  # one fetch, not one per row
            parts = decoded.get(text)
            if parts is None:
                parts = decoded[text] = tuple(
                    map(PayPart.from_json, (json.loads(text) if text else None) or [])
                )
            found[report_id].append(PlanLine(line_id, report_id, day, cost_center, parts))
    return found


def _mark_already_sent(planned: list[PlannedLine]) -> None:
    candidates = [p for p in planned if p.reason is None or p.reason == "period_locked"]
    if not candidates:
        return
    # A key is its expense line's, so a live line with one of these keys belongs to one of these
    # reports: asked per report (500 ids), not per key (10,000).
    report_ids = sorted({p.line.report_id for p in candidates})
    live: dict[str, tuple[int, LineStatus]] = {}
    connection = db.session.connection()  # as in `lines_of`
    for chunk in chunks(report_ids, 500):
        for key, transfer_id, status in connection.execute(
            select(TransferLine.key, TransferLine.transfer_id, TransferLine.status).where(
                TransferLine.report_id.in_(chunk), TransferLine.live.is_(True)
            )
        ):
            live[key] = (transfer_id, status)
    if not live:
        return
    for p in candidates:
        if p.key in live:
            transfer_id, status = live[p.key]
            p.reason = "already_sent" if status == LineStatus.SENT else "in_transfer"
            p.detail = _("(överföring %(id)d)", id=transfer_id)


def _identity(report: ExpenseReport) -> int:
    """The report's id from its identity key, without loading an expired object."""
    identity = inspect(report).identity
    return int(identity[0]) if identity else report.id
