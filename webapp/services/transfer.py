"""Skicka till lön: approved expense reports to payroll, exactly once.

A transfer is a `Transfer` row with one `TransferLine` per pay part, all written (with their
stable keys) before anything is sent; for Nmbrs an RQ job (`jobs.transfer.run`) then sends the
lines, for PAXml the file is made at once and downloaded.

How Nmbrs gets every line exactly once (`execute`):
1. Lines still "sending" from an earlier attempt (a worker that died, a write that timed out)
   are settled first: read back the employee's components (`WageComponentVar_Get`); whatever
   is new since the line's recorded baseline, unclaimed by any other line and equal in code
   and value, is the line's component. The rest go back to "pending": they never arrived.
2. Pending lines go in batches of whole employees: read the employees' components (the
   baseline), record baseline + "sending" (commit), `WageComponentVar_Insert_Batch`, read back,
   record the component ids (commit). `WageComponentVar_Get` returns only Id, Code and Value, so
   the baseline is what tells our new component from an older one with the same amount.
3. A batch Nmbrs refuses for one line's data (2002, 2003, 2037, 2038) is read back, then sent
   line by line (`WageComponentVar_Insert`, which returns the id) so that only the bad lines
   fail. A write that times out is never repeated blind: read back, then decide.

    preview = transfer.preview(recipient, reports, period)
    t = transfer.request_transfer(recipient, reports, user=admin, period=period)
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import abort, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job, get_current_job
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import (
    CostCenter,
    ExpenseLine,
    ExpenseReport,
    LineStatus,
    NmbrsApi,
    PayrollEmployee,
    RecipientKind,
    ReportRecipient,
    ReportStatus,
    Transfer,
    TransferLine,
    TransferReport,
    TransferStatus,
    User,
    WageType,
)
from webapp.models.base import utcnow
from webapp.models.sync import aware
from webapp.models.transfer import ACTIVE_TRANSFER_STATUSES, LIVE_LINE_STATUSES
from webapp.nmbrs import (
    NewWageComponent,
    NmbrsError,
    NmbrsUnavailable,
    PayrollApi,
    PayrollPeriod,
    WageComponent,
)
from webapp.payitems import INFO, PayItem
from webapp.queue import get_queue, redis_connection
from webapp.services import advanced_settings, audit, background, paxml
from webapp.services.expense_reports import transfer_parts
from webapp.services.nmbrs_access import client_for, remote_company_id, remote_id
from webapp.services.pay_parts import PayPart, to_ore

log = logging.getLogger(__name__)

JOB_FUNCTION = "jobs.transfer.run"
UNDO_FUNCTION = "jobs.transfer.undo"
POOL_SIZE = 8  # concurrent read-backs within one transfer
BATCH_LINES = 500  # lines per WageComponentVar_Insert_Batch (whole employees per batch)

# Nmbrs codes that concern one line's data: that line fails, the others go through.
LINE_ERROR_CODES = {2002, 2003, 2037, 2038}

STEP_LABELS = {
    "waiting": _l("Väntar på en ledig arbetsprocess…"),
    "retry_wait": _l("Väntar på nytt försök…"),
    "reconciling": _l("Kontrollerar vad Nmbrs redan har…"),
    "sending": _l("Skickar till Nmbrs…"),
    "undoing": _l("Tar bort beloppen i Nmbrs…"),
}

# Why a line is not sent. The first three leave nothing to do: the report counts as sent.
SKIP_REASONS = {
    "not_included": _l("Skickas inte enligt Avancerade inställningar."),
    "zero": _l("Beloppet är 0 kr."),
    "already_sent": _l("Redan skickad i en tidigare överföring."),
    "no_employee": _l("Den anställda är inte kopplad till någon anställd i Nmbrs."),
    "no_employee_number": _l("Den anställda saknar anställningsnummer."),
    "no_wage_type": _l("Ingen löneart är vald för det här värdet i Avancerade inställningar."),
    "wage_type_missing": _l("Lönearten finns inte bland lönearterna från Nmbrs."),
    "wage_type_archived": _l("Lönearten är arkiverad i Nmbrs."),
    "wage_type_not_numeric": _l("Nmbrs lönearter är nummer; den valda lönearten är inget nummer."),
    "period_locked": _l(
        "Perioden är låst: den ligger före Nmbrs aktuella period. Bekräfta att beloppen ska "
        "in i en passerad period för att skicka dem."
    ),
    "in_transfer": _l("Ingår i en överföring som inte är klar."),
}
DONE_REASONS = {"not_included", "zero", "already_sent"}

ERROR_TEXTS = {
    "unavailable": _l(
        "Nmbrs svarar inte just nu. Inget har skickats dubbelt: nästa försök läser först vad "
        "Nmbrs redan har och skickar bara det som saknas."
    ),
    "interrupted": _l(
        "Överföringen avbröts (arbetsprocessen stoppades). Klicka på Försök igen: Brygga läser "
        "först vad Nmbrs redan har och skickar bara det som saknas."
    ),
    "unconfirmed": _l(
        "Nmbrs tog emot beloppet men visar det inte när Brygga läser tillbaka. Kontrollera "
        "den anställdas lönekomponenter i Nmbrs innan du skickar igen."
    ),
    "undo_incomplete": _l(
        "Alla belopp kunde inte tas bort i Nmbrs. Försök ångra igen om en stund."
    ),
    "error": _l("Överföringen misslyckades av ett okänt skäl. Försök igen."),
}


class TransferError(Exception):
    """A transfer that cannot be made or changed; the message is for the admin."""

    def __init__(self, message: str, transfer: Transfer | None = None) -> None:
        super().__init__(message)
        self.user_message = message
        self.transfer = transfer


class QueueUnavailable(TransferError):
    def __init__(self) -> None:
        super().__init__(
            _(
                "Kön för bakgrundsjobb svarar inte just nu, så överföringen kunde inte startas. "
                "Ingenting skickades; försök igen om en liten stund."
            )
        )


def job_id_for(transfer: Transfer) -> str:
    return f"transfer-{transfer.id}"


def crash_hook(point: str, transfer_id: int) -> None:
    """Called at each step of a send; tests replace it to stop a transfer right there."""


# --- choosing reports --------------------------------------------------------------------------


def get_recipient(organization_id: int, recipient_id: int) -> ReportRecipient:
    """Any recipient of the organization (also a replaced one, for its history), else 404."""
    recipient = db.session.get(ReportRecipient, recipient_id)
    if recipient is None or recipient.organization_id != organization_id:
        abort(404)
    return recipient


def get_transfer(organization_id: int, transfer_id: int) -> Transfer:
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None or transfer.organization_id != organization_id:
        abort(404)
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
        abort(404)
    return reports


def current_period(recipient: ReportRecipient, client: PayrollApi | None = None) -> PayrollPeriod:
    """The Nmbrs company's current payroll period (raises NmbrsError)."""
    connection = recipient.nmbrs
    own = client is None
    client = client or client_for(connection)
    try:
        return client.current_period(remote_company_id(connection))
    finally:
        if own:
            client.close()


# --- the preview -------------------------------------------------------------------------------


@dataclass
class PlannedLine:
    """One pay part as the preview shows it and the transfer records it."""

    report: ExpenseReport
    line: ExpenseLine
    part: PayPart
    key: str
    employee: User
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
        return sum((p.part.amount for p in self.to_send), Decimal("0.00"))

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
) -> Preview:
    """Every pay part of `reports` as it would be sent to `recipient`, and every part that would
    not be, with its reason. `period`/`current`: the chosen and Nmbrs' current period."""
    result = Preview(recipient, list(reports), period, current, unprotected_confirmed)
    settings = {row.info.item: row for row in advanced_settings.rows(recipient)}
    is_nmbrs = recipient.kind == RecipientKind.NMBRS
    employees: dict[int, PayrollEmployee] = {}
    wage_types: dict[str, WageType] = {}
    cost_centers: dict[str, object] = {}
    connection = recipient.nmbrs
    if is_nmbrs:
        from webapp.models import CostCenter

        for pe in db.session.scalars(
            select(PayrollEmployee)
            .where(
                PayrollEmployee.recipient_id == recipient.id, PayrollEmployee.user_id.is_not(None)
            )
            .order_by(PayrollEmployee.archived, PayrollEmployee.id)
        ):
            if not pe.archived:
                employees.setdefault(pe.user_id, pe)
        for wt in db.session.scalars(select(WageType).where(WageType.recipient_id == recipient.id)):
            if wt.code not in wage_types or not wt.archived:
                wage_types[wt.code] = wt
        for cc in db.session.scalars(
            select(CostCenter).where(
                CostCenter.recipient_id == recipient.id, CostCenter.archived.is_(False)
            )
        ):
            cost_centers.setdefault(cc.code, cc)
    locked = bool(
        is_nmbrs and period and current and period < current and not unprotected_confirmed
    )
    planned: list[PlannedLine] = []
    for report in reports:
        for line, parts in transfer_parts(report):
            for part in parts:
                key = f"{line.id}:{part.item.value}"
                p = PlannedLine(report, line, part, key, report.employee)
                p.comment = comment_for(report, key)
                p.employee_label = report.employee.name
                setting = settings[part.item]
                p.cost_center_code = line.cost_center_code
                if is_nmbrs:
                    _plan_nmbrs(p, setting, employees, wage_types, cost_centers, connection)
                else:
                    _plan_paxml(p, setting)
                if p.reason is None and locked:
                    p.reason = "period_locked"
                planned.append(p)
    _mark_already_sent(planned)
    result.lines = planned
    return result


def _plan_nmbrs(p, setting, employees, wage_types, cost_centers, connection) -> None:
    pe = employees.get(p.employee.id)
    if pe is not None:
        p.employee_ref = _as_text(remote_id(connection, pe))
        p.employee_number = pe.code
        p.employee_label = f"{pe.code} {pe.description}".strip()
    if p.cost_center_code:
        cc = cost_centers.get(p.cost_center_code)
        if cc is None:
            p.note = _(
                "Kostnadsstället %(code)s finns inte i Nmbrs; raden skickas utan kostnadsställe.",
                code=p.cost_center_code,
            )
        else:
            p.cost_center_ref = _as_text(remote_id(connection, cc))
            p.cost_center_label = cc.label
    p.wage_code = setting.wage_code
    if setting.wage_code:
        wt = wage_types.get(setting.wage_code)
        p.wage_label = wt.label if wt else setting.wage_code
    if not setting.included:
        p.reason = "not_included"
    elif p.part.amount == 0:
        p.reason = "zero"
    elif pe is None or p.employee_ref is None:
        p.reason = "no_employee"
    elif not setting.wage_code:
        p.reason = "no_wage_type"
    elif setting.wage_code not in wage_types:
        p.reason, p.detail = "wage_type_missing", setting.wage_code
    elif wage_types[setting.wage_code].archived:
        p.reason, p.detail = "wage_type_archived", wage_types[setting.wage_code].label
    elif not setting.wage_code.isdigit():
        p.reason = "wage_type_not_numeric"


def _plan_paxml(p, setting) -> None:
    p.employee_number = (p.employee.employee_number or "").strip() or None
    if p.employee_number:
        p.employee_label = f"{p.employee_number} {p.employee.name}"
    p.wage_code = setting.wage_code or None
    p.wage_label = setting.wage_code or INFO[p.part.item].paxml_code
    if p.cost_center_code:
        if len(p.cost_center_code) > paxml.MAX_DIMENSION_ID:
            p.note = _(
                "Kostnadsstället %(code)s är längre än 10 tecken, som PAXml tillåter; raden "
                "skickas utan kostnadsställe.",
                code=p.cost_center_code,
            )
        else:
            p.cost_center_label = p.cost_center_code
    if not setting.included:
        p.reason = "not_included"
    elif p.part.amount == 0:
        p.reason = "zero"
    elif not p.employee_number:
        p.reason = "no_employee_number"


def _mark_already_sent(planned: list[PlannedLine]) -> None:
    keys = [p.key for p in planned if p.reason is None or p.reason in ("period_locked",)]
    if not keys:
        return
    live: dict[str, tuple[int, LineStatus]] = {}
    for chunk in _chunks(keys, 500):
        for key, transfer_id, status in db.session.execute(
            select(TransferLine.key, TransferLine.transfer_id, TransferLine.status).where(
                TransferLine.key.in_(chunk), TransferLine.live.is_(True)
            )
        ):
            live[key] = (transfer_id, status)
    for p in planned:
        if p.key in live and (p.reason is None or p.reason == "period_locked"):
            transfer_id, status = live[p.key]
            p.reason = "already_sent" if status == LineStatus.SENT else "in_transfer"
            p.detail = _("(överföring %(id)d)", id=transfer_id)


def _as_text(value) -> str | None:
    return None if value is None else str(value)


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- asking for a transfer ---------------------------------------------------------------------


def active_transfer(recipient_id: int) -> Transfer | None:
    return db.session.scalar(
        select(Transfer)
        .where(
            Transfer.recipient_id == recipient_id,
            Transfer.status.in_(ACTIVE_TRANSFER_STATUSES),
        )
        .order_by(Transfer.id.desc())
        .limit(1)
    )


def history(recipient_id: int, limit: int = 20) -> list[Transfer]:
    """A recipient's transfers, newest first."""
    return list(
        db.session.scalars(
            select(Transfer)
            .where(Transfer.recipient_id == recipient_id)
            .order_by(Transfer.id.desc())
            .limit(limit)
        )
    )


def recent(organization_id: int, limit: int = 10) -> list[Transfer]:
    return list(
        db.session.scalars(
            select(Transfer)
            .where(Transfer.organization_id == organization_id)
            .order_by(Transfer.id.desc())
            .limit(limit)
        )
    )


def request_transfer(
    recipient: ReportRecipient,
    reports: Sequence[ExpenseReport],
    *,
    user: User | None,
    period: PayrollPeriod | None = None,
    current: PayrollPeriod | None = None,
    unprotected_confirmed: bool = False,
) -> Transfer:
    """Record a transfer of `reports` to `recipient` with all its lines, then start it: an RQ job
    for Nmbrs, the file for PAXml (downloaded with `download`). Commits.

    Raises TransferError when nothing can be sent, another transfer to the recipient is under
    way, or a report was sent (or picked) meanwhile.
    """
    if not recipient.is_active:
        raise TransferError(_("Mottagaren är inte längre aktiv."))
    if any(r.status != ReportStatus.APPROVED for r in reports):
        raise TransferError(_("Bara attesterade rapporter kan skickas. Ladda om sidan."))
    is_nmbrs = recipient.kind == RecipientKind.NMBRS
    if is_nmbrs and period is None:
        raise TransferError(_("Välj löneperiod."))
    try:
        lock = redis_connection().lock(
            f"transfer-lock:{recipient.id}", timeout=60, blocking_timeout=15
        )
        lock.acquire()
    except RedisError as exc:
        raise QueueUnavailable from exc
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
        plan = preview(
            recipient,
            reports,
            period,
            current=current,
            unprotected_confirmed=unprotected_confirmed,
        )
        transfer = _record(recipient, plan, user, period, unprotected_confirmed)
    finally:
        with contextlib.suppress(Exception):
            lock.release()
    if is_nmbrs:
        try:
            _enqueue(transfer)
        except RedisError:
            # The transfer stays queued; reap_dead() enqueues it again once Redis is back.
            log.warning("could not enqueue transfer %s: redis unavailable", transfer.id)
    return transfer


def _record(
    recipient: ReportRecipient,
    plan: Preview,
    user: User | None,
    period: PayrollPeriod | None,
    unprotected_confirmed: bool,
) -> Transfer:
    is_nmbrs = recipient.kind == RecipientKind.NMBRS
    by_report: dict[int, list[PlannedLine]] = defaultdict(list)
    for p in plan.lines:
        by_report[p.report.id].append(p)
    # A report goes in when something of it is sent, or when it needs nothing sent (every part
    # left out on purpose). A report whose parts are all blocked stays in Redo att skickas.
    included = [
        r
        for r in plan.reports
        if any(p.sendable for p in by_report[r.id])
        or all(p.reason in DONE_REASONS for p in by_report[r.id])
    ]
    if not any(p.sendable for p in plan.lines) and not included:
        raise TransferError(_("Inget av det valda kan skickas. Se skälen i förhandsgranskningen."))
    to_send = [p for p in plan.lines if p.sendable and p.report in included]
    transfer = Transfer(
        organization_id=recipient.organization_id,
        recipient_id=recipient.id,
        kind=recipient.kind,
        status=TransferStatus.QUEUED if is_nmbrs else TransferStatus.READY,
        requested_by_id=user.id if user else None,
        period_year=period.year if (is_nmbrs and period) else None,
        period_number=period.period if (is_nmbrs and period) else None,
        unprotected_confirmed=bool(unprotected_confirmed and plan.period_is_past),
        step="waiting" if is_nmbrs else None,
        lines_total=len(to_send),
        lines_skipped=sum(1 for p in plan.lines if p.report in included and not p.sendable),
        amount_total_ore=sum(to_ore(p.part.amount) for p in to_send),
    )
    db.session.add(transfer)
    try:
        db.session.flush()
        transfer.job_id = job_id_for(transfer) if is_nmbrs else None
        db.session.execute(
            insert(TransferReport.__table__),
            [{"transfer_id": transfer.id, "report_id": r.id, "active": True} for r in included],
        )
        # Every part of every chosen report, sent or not: the history shows why not.
        rows = [_line_row(transfer.id, p) for p in plan.lines]
        for chunk in _chunks(rows, 1000):
            # The table, not the entity: ORM bulk inserts leave out None values, and a skipped
            # line's live=None must reach the database (else the default True applies).
            db.session.execute(insert(TransferLine.__table__), list(chunk))
        if not is_nmbrs:
            transfer.file_encoding = _encoding(recipient)
            transfer.file_name = f"brygga-{transfer.id}.xml"
            transfer.file_data = _build_file(transfer, recipient)
        audit.record(
            "transfer.requested",
            actor=user,
            organization_id=recipient.organization_id,
            obj=transfer,
            recipient_id=recipient.id,
            period=transfer.period_label or None,
            reports=[r.id for r in included],
            lines=len(to_send),
            skipped=transfer.lines_skipped,
            amount=str(transfer.amount_total),
            unprotected=transfer.unprotected_confirmed,
        )
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        log.info("transfer not recorded: %s", exc.orig)
        raise TransferError(
            _(
                "Några av rapporterna har redan skickats eller ingår i en annan överföring. "
                "Ladda om sidan och försök igen."
            )
        ) from None
    return transfer


def _line_row(transfer_id: int, p: PlannedLine) -> dict:
    sendable = p.sendable
    return {
        "transfer_id": transfer_id,
        "key": p.key,
        "live": True if sendable else None,
        "report_id": p.report.id,
        "expense_line_id": p.line.id,
        "pay_item": p.part.item.value,
        "user_id": p.employee.id,
        "employee_ref": p.employee_ref,
        "employee_number": p.employee_number,
        "wage_code": p.wage_code,
        "paxml_code": INFO[p.part.item].paxml_code,
        "line_date": p.line.date,
        "quantity": str(p.part.quantity),
        "unit_price_ore": to_ore(p.part.unit_price),
        "amount_ore": to_ore(p.part.amount),
        "cost_center_code": p.cost_center_code if p.cost_center_label else None,
        "cost_center_ref": p.cost_center_ref,
        "cost_unit_ref": None,
        "comment": p.comment,
        "status": LineStatus.PENDING if sendable else LineStatus.SKIPPED,
        "skip_reason": p.reason,
        "error_message": p.detail or None,
        "note": p.note,
        "attempts": 0,
    }


def _retry() -> Retry | None:
    intervals = list(current_app.config.get("TRANSFER_RETRY_INTERVALS", [30, 120, 600]))
    return Retry(max=len(intervals), interval=intervals) if intervals else None


def _enqueue(transfer: Transfer, function: str = JOB_FUNCTION) -> None:
    kwargs = {
        "job_id": transfer.job_id,
        "unique": True,
        "job_timeout": current_app.config.get("TRANSFER_JOB_TIMEOUT", 3600),
        "result_ttl": 600,
        "failure_ttl": 7 * 24 * 3600,
        "retry": _retry() if function == JOB_FUNCTION else None,
        "description": f"transfer {transfer.id} to recipient {transfer.recipient_id}",
    }
    queue = get_queue()
    try:
        queue.enqueue(function, transfer.id, **kwargs)
    except DuplicateJobError:
        # The database says nothing runs, so the job under this id is an old one: replace it.
        Job.fetch(transfer.job_id, connection=queue.connection).delete()
        queue.enqueue(function, transfer.id, **kwargs)


def retry(transfer: Transfer, user: User | None) -> Transfer:
    """Send again what a failed transfer did not get through (only the lines still live: read
    back first, as always). Commits and enqueues."""
    if transfer.kind != RecipientKind.NMBRS or not can_retry(transfer):
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
        raise QueueUnavailable from exc
    return transfer


def can_retry(transfer: Transfer) -> bool:
    if transfer.status not in (TransferStatus.FAILED, TransferStatus.PARTLY_FAILED):
        return False
    return _open_lines(transfer.id)


def _open_lines(transfer_id: int) -> bool:
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


# --- sending (in the worker) -------------------------------------------------------------------


class TransferStop(Exception):
    """Nmbrs refused the whole transfer (period locked, key rejected …): nothing more goes."""

    def __init__(self, error: NmbrsError) -> None:
        super().__init__(str(error))
        self.error = error


class TransferLost(Exception):
    """Someone else (the reaper, another worker) took the transfer over."""


@dataclass
class _Run:
    transfer: Transfer
    client: PayrollApi
    year: int
    period: int
    unprotected: bool
    pool: ThreadPoolExecutor
    attempt: int = 0
    done: int = 0
    refused: dict[str, NmbrsError] = field(default_factory=dict)
    company_id: object = None  # REST reads components per company: its GUID


def execute(transfer_id: int, *, client: PayrollApi | None = None) -> Transfer | None:
    """Send a queued transfer (the RQ job's body); exactly once, whatever happened before.

    Returns the transfer, or None when it was not waiting to run.
    """
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None or transfer.status not in (TransferStatus.QUEUED, TransferStatus.RUNNING):
        log.info("transfer %s is not waiting to run; nothing to do", transfer_id)
        return None
    recipient = transfer.recipient
    connection = recipient.nmbrs
    now = utcnow()
    transfer.status = TransferStatus.RUNNING
    transfer.started_at = transfer.started_at or now
    transfer.heartbeat_at = now
    transfer.attempts = (transfer.attempts or 0) + 1
    transfer.step = "reconciling"
    transfer.error_code = transfer.error_message = None
    db.session.commit()
    log.info("transfer %s started (attempt %s)", transfer.id, transfer.attempts)
    heartbeat = background.Heartbeat(
        db.engine, Transfer.__table__, transfer.id, ["running", "undoing"], _heartbeat_seconds()
    )
    heartbeat.start()
    own_client = client is None
    try:
        if connection is None:
            raise TransferStop(NmbrsError("recipient has no Nmbrs connection"))
        client = client or client_for(connection, rate_limited=True, pool_size=POOL_SIZE)
        with ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="nmbrs-transfer") as pool:
            run = _Run(
                transfer,
                client,
                transfer.period_year,
                transfer.period_number,
                transfer.unprotected_confirmed,
                pool,
                transfer.attempts,
            )
            if connection.api == NmbrsApi.REST:
                run.company_id = remote_company_id(connection)
                _carry_over(transfer, connection, client)
            _send_all(run)
        _finish(transfer)
    except TransferStop as stop:
        db.session.rollback()
        _stop(transfer, stop.error)
    except NmbrsUnavailable as exc:
        db.session.rollback()
        job = get_current_job()
        if job is not None and job.retries_left:
            _wait_for_retry(transfer, exc, job.get_retry_interval())
            raise
        _fail(transfer, "unavailable", str(ERROR_TEXTS["unavailable"]))
    except NmbrsError as exc:
        db.session.rollback()
        # A read-back failed for another reason: what was sent is still in doubt, so the lines
        # stay live and "Försök igen" settles them.
        _fail(transfer, f"nmbrs_{exc.code}" if exc.code else "nmbrs", exc.user_message)
    except TransferLost:
        db.session.rollback()
        log.warning("transfer %s was taken over by someone else", transfer_id)
    except Exception:
        db.session.rollback()
        log.exception("transfer %s failed", transfer_id)
        _fail(transfer, "error", str(ERROR_TEXTS["error"]))
        raise
    finally:
        heartbeat.stop()
        if own_client and client is not None:
            client.close()
    return transfer


def _send_all(run: _Run) -> None:
    transfer = run.transfer
    in_doubt = _lines(transfer.id, LineStatus.SENDING)
    if in_doubt:
        log.warning("transfer %s: %d lines in doubt; reading back", transfer.id, len(in_doubt))
        _reconcile(run, in_doubt)
    _progress(run, "sending")
    pending = _lines(transfer.id, LineStatus.PENDING)
    by_employee: dict[str, list[_Line]] = defaultdict(list)
    for line in pending:
        by_employee[line.employee_ref].append(line)
    batch: list[_Line] = []
    for lines in by_employee.values():
        if batch and len(batch) + len(lines) > BATCH_LINES:
            _send_batch(run, batch)
            batch = []
        batch.extend(lines)
    if batch:
        _send_batch(run, batch)


@dataclass
class _Line:
    """A line as the sending loop needs it: plain data, written back with bulk updates (10,000
    ORM objects, expired by every commit, would cost more than talking to Nmbrs)."""

    id: int
    employee_ref: str
    wage_code: str
    amount_ore: int
    cost_center_ref: str | None
    cost_unit_ref: str | None
    comment: str | None
    baseline: list | None

    @property
    def amount(self) -> Decimal:
        return (Decimal(self.amount_ore) / 100).quantize(Decimal("0.01"))


_LINE = TransferLine.__table__


def _lines(transfer_id: int, status: LineStatus) -> list[_Line]:
    rows = db.session.execute(
        select(
            _LINE.c.id,
            _LINE.c.employee_ref,
            _LINE.c.wage_code,
            _LINE.c.amount_ore,
            _LINE.c.cost_center_ref,
            _LINE.c.cost_unit_ref,
            _LINE.c.comment,
            _LINE.c.baseline,
        )
        .where(_LINE.c.transfer_id == transfer_id, _LINE.c.status == status.value)
        .order_by(_LINE.c.employee_ref, _LINE.c.id)
    )
    return [_Line(*row) for row in rows]


def _update(rows: list[dict], **fixed) -> None:
    """One UPDATE per line (`_id` and its own values) plus `fixed` values, as one executemany."""
    if not rows:
        return
    keys = [k for k in rows[0] if k != "_id"]
    values = {k: bindparam(k) for k in keys} | fixed
    db.session.execute(
        update(_LINE).where(_LINE.c.id == bindparam("_id")).values(**values),
        rows,
        execution_options={"synchronize_session": False},
    )


def _read(run: _Run, employee_refs: Iterable[str]) -> dict[str, list[WageComponent]]:
    """Every employee's components in the period, read concurrently (reads are retried by the
    client). An employee Nmbrs refuses (2003: not this company's) fails its lines right here:
    nothing could have been written for it either. Any other failure is raised."""
    refs = list(dict.fromkeys(employee_refs))

    extra = {"company_id": run.company_id} if run.company_id is not None else {}

    def read(ref: str):
        try:
            return run.client.wage_components(
                _remote(ref), year=run.year, period=run.period, **extra
            )
        except NmbrsError as exc:
            if exc.code in LINE_ERROR_CODES:
                return exc
            raise

    current: dict[str, list[WageComponent]] = {}
    for ref, result in zip(refs, run.pool.map(read, refs), strict=True):
        if isinstance(result, NmbrsError):
            run.refused[ref] = result
        else:
            current[ref] = result
    return current


def _drop_refused(run: _Run, lines: list[_Line]) -> list[_Line]:
    """Fail the lines of employees Nmbrs refused; return the others."""
    kept, failed = [], []
    for line in lines:
        error = run.refused.get(line.employee_ref)
        if error is None:
            kept.append(line)
        else:
            failed.append((line, f"nmbrs_{error.code}", error.user_message))
    _fail_lines(run, failed)
    return kept


def _remote(ref: str):
    return int(ref) if ref.isdigit() else ref


def _claimed(run: _Run, employee_refs: Iterable[str]) -> set[str]:
    """Component ids that sent lines (of any transfer) already own, for these employees."""
    refs = list(set(employee_refs))
    claimed: set[str] = set()
    for chunk in _chunks(refs, 500):
        claimed.update(
            db.session.scalars(
                select(_LINE.c.component_id)
                .join(Transfer.__table__, Transfer.__table__.c.id == _LINE.c.transfer_id)
                .where(
                    _LINE.c.employee_ref.in_(chunk),
                    _LINE.c.status == LineStatus.SENT.value,
                    _LINE.c.component_id.is_not(None),
                    Transfer.__table__.c.kind == RecipientKind.NMBRS.value,
                    Transfer.__table__.c.period_year == run.year,
                    Transfer.__table__.c.period_number == run.period,
                )
            )
        )
    return claimed


def _match(
    run: _Run, lines: list[_Line], current: dict[str, list[WageComponent]]
) -> tuple[list[tuple[_Line, str]], list[_Line]]:
    """Which lines Nmbrs has: a component that is new since the line's baseline, owned by no
    other line, with the line's code and value. Returns (matched with ids, unmatched)."""
    claimed = _claimed(run, current)
    matched, unmatched = [], []
    taken: set[str] = set()
    for line in lines:
        baseline = {str(i) for i in (line.baseline or [])}
        found = None
        for component in current.get(line.employee_ref, []):
            cid = str(component.id)
            if cid in taken or cid in claimed or (line.baseline is not None and cid in baseline):
                continue
            if component.comment is not None and component.comment != line.comment:
                continue  # REST reads the comment back: another part's, or not Brygga's
            if component.code == int(line.wage_code) and component.value == line.amount:
                found = cid
                break
        if found is None:
            unmatched.append(line)
        else:
            taken.add(found)
            matched.append((line, found))
    return matched, unmatched


def _reconcile(run: _Run, lines: list[_Line]) -> list[_Line]:
    """Read back and settle lines whose write may or may not have arrived. Matched lines become
    sent; the others go back to pending (they never arrived). Returns the pending ones."""
    current = _read(run, [line.employee_ref for line in lines])
    lines = _drop_refused(run, lines)
    matched, unmatched = _match(run, lines, current)
    _record_sent(run, matched)
    _update([{"_id": line.id} for line in unmatched], status=LineStatus.PENDING.value)
    db.session.commit()
    if matched:
        log.info(
            "transfer %s: %d lines were already in Nmbrs; %d were not",
            run.transfer.id,
            len(matched),
            len(unmatched),
        )
    return unmatched


def _record_sent(run: _Run, matched: list[tuple[_Line, str]]) -> None:
    _update(
        [{"_id": line.id, "component_id": cid} for line, cid in matched],
        status=LineStatus.SENT.value,
        sent_at=utcnow(),
        error_code=None,
        error_message=None,
    )
    run.done += len(matched)


def _mark_sending(run: _Run, lines: list[_Line], current) -> None:
    """Record, before the write, that it is going out and what Nmbrs had just before. Commits."""
    for line in lines:
        line.baseline = [str(c.id) for c in current.get(line.employee_ref, [])]
    _update(
        [{"_id": line.id, "baseline": line.baseline} for line in lines],
        status=LineStatus.SENDING.value,
        attempts=_LINE.c.attempts + 1,
    )
    _claim_transfer(run)
    db.session.commit()


def _claim_transfer(run: _Run) -> None:
    """Stamp the transfer as still ours; a reaper that declared it dead wins (TransferLost)."""
    claimed = db.session.execute(
        update(Transfer)
        .where(
            Transfer.id == run.transfer.id,
            Transfer.status == TransferStatus.RUNNING,
            Transfer.attempts == run.attempt,  # a later attempt (a retry) has taken over
        )
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise TransferLost(run.transfer.id)


def _component(line: _Line) -> NewWageComponent:
    return NewWageComponent(
        _remote(line.employee_ref),
        int(line.wage_code),
        line.amount,
        _remote(line.cost_center_ref) if line.cost_center_ref else None,
        _remote(line.cost_unit_ref) if line.cost_unit_ref else None,
        line.comment,
    )


def _send_batch(run: _Run, lines: list[_Line], *, resent: bool = False) -> None:
    transfer_id = run.transfer.id
    before = _read(run, [line.employee_ref for line in lines])
    lines = _drop_refused(run, lines)
    if not lines:
        db.session.commit()
        return
    _mark_sending(run, lines, before)
    crash_hook("before_send", transfer_id)
    error: NmbrsError | None = None
    ids = None
    try:
        ids = run.client.insert_wage_components(
            [_component(line) for line in lines],
            year=run.year,
            period=run.period,
            unprotected=run.unprotected,
        )
    except NmbrsError as exc:
        error = exc
    crash_hook("after_send", transfer_id)
    if error is None and ids is not None and len(ids) == len(lines):
        # REST answers with the new ids, in order: nothing to read back.
        _record_sent(run, [(line, str(i)) for line, i in zip(lines, ids, strict=True)])
        db.session.commit()
        crash_hook("after_record", transfer_id)
        _progress(run, "sending")
        return
    unmatched = _reconcile(run, lines)
    crash_hook("after_record", transfer_id)
    _progress(run, "sending")
    if not unmatched:
        return
    if error is None:
        # Nmbrs said yes, but its read-back does not show them: never send those blind again.
        _fail_lines(
            run, [(line, "unconfirmed", str(ERROR_TEXTS["unconfirmed"])) for line in unmatched]
        )
        db.session.commit()
        return
    if isinstance(error, NmbrsUnavailable):
        if resent:
            raise error
        # Read back: it did not arrive. One more try now, then the job's retry.
        _send_batch(run, unmatched, resent=True)
        return
    if error.code in LINE_ERROR_CODES:
        # One line's data: send them one by one, so that only the bad ones fail.
        current = _read(run, [line.employee_ref for line in unmatched])
        for line in _drop_refused(run, unmatched):
            _send_one(run, line, current)
        return
    raise TransferStop(error)


def _send_one(run: _Run, line: _Line, current: dict[str, list[WageComponent]]) -> None:
    _mark_sending(run, [line], current)
    c = _component(line)
    try:
        component_id = run.client.insert_wage_component(
            c.employee_id,
            c.code,
            c.value,
            year=run.year,
            period=run.period,
            cost_center_id=c.cost_center_id,
            cost_unit_id=c.cost_unit_id,
            comment=c.comment,
            unprotected=run.unprotected,
        )
    except NmbrsUnavailable:
        if _reconcile(run, [line]):
            raise  # not there: the job's retry sends it, after reading back again
        return
    except NmbrsError as exc:
        # Nmbrs answered no: nothing arrived.
        if exc.code not in LINE_ERROR_CODES:
            _update([{"_id": line.id}], status=LineStatus.PENDING.value)
            db.session.commit()
            raise TransferStop(exc) from exc
        _fail_lines(run, [(line, f"nmbrs_{exc.code}", exc.user_message)])
        db.session.commit()
        return
    _record_sent(run, [(line, str(component_id))])
    db.session.commit()
    current.setdefault(line.employee_ref, []).append(WageComponent(component_id, c.code, c.value))


def _fail_lines(run: _Run | None, failed: list[tuple[_Line, str, str]]) -> None:
    """Fail lines for good (no longer live: their reports go back to Redo att skickas)."""
    _update(
        [{"_id": line.id, "error_code": code, "error_message": msg} for line, code, msg in failed],
        status=LineStatus.FAILED.value,
        live=None,
    )
    if run is not None:
        run.done += len(failed)


def _progress(run: _Run, step: str) -> None:
    db.session.execute(
        update(Transfer)
        .where(Transfer.id == run.transfer.id, Transfer.status == TransferStatus.RUNNING)
        .values(
            step=step, lines_sent=_count(run.transfer.id, LineStatus.SENT), heartbeat_at=utcnow()
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _count(transfer_id: int, status: LineStatus):
    from sqlalchemy import func

    return (
        select(func.count(_LINE.c.id))
        .where(_LINE.c.transfer_id == transfer_id, _LINE.c.status == status.value)
        .scalar_subquery()
    )


# --- finishing ---------------------------------------------------------------------------------


def _stop(transfer: Transfer, error: NmbrsError) -> None:
    """Nmbrs refused the transfer as a whole: the lines that did not go fail with its reason."""
    code = f"nmbrs_{error.code}" if error.code else "nmbrs"
    message = error.user_message
    _fail_lines(None, [(line, code, message) for line in _lines(transfer.id, LineStatus.PENDING)])
    db.session.flush()
    _finish(transfer, error_code=code, message=message)


def _finish(transfer: Transfer, *, error_code: str | None = None, message: str | None = None):
    """Count the lines, settle the reports and set the transfer's final status. Commits."""
    counts = _status_counts(transfer.id)
    sent = counts.get(LineStatus.SENT, 0)
    failed = counts.get(LineStatus.FAILED, 0)
    open_lines = counts.get(LineStatus.PENDING, 0) + counts.get(LineStatus.SENDING, 0)
    transfer.lines_sent = sent
    transfer.lines_failed = failed
    transfer.amount_sent_ore = _sent_amount(transfer.id)
    if open_lines:
        transfer.status = TransferStatus.FAILED
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
    settle_reports(transfer)
    audit.record(
        "transfer.finished",
        actor=None,
        organization_id=transfer.organization_id,
        obj=transfer,
        status=transfer.status.value,
        sent=sent,
        failed=failed,
        amount=str(transfer.amount_sent),
    )
    db.session.commit()
    log.info("transfer %s %s: %d sent, %d failed", transfer.id, transfer.status, sent, failed)


def _status_counts(transfer_id: int) -> dict[LineStatus, int]:
    from sqlalchemy import func

    return {
        status: count
        for status, count in db.session.execute(
            select(TransferLine.status, func.count(TransferLine.id))
            .where(TransferLine.transfer_id == transfer_id)
            .group_by(TransferLine.status)
        )
    }


def _sent_amount(transfer_id: int) -> int:
    from sqlalchemy import func

    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(TransferLine.amount_ore), 0)).where(
                TransferLine.transfer_id == transfer_id, TransferLine.status == LineStatus.SENT
            )
        )
        or 0
    )


def settle_reports(transfer: Transfer) -> None:
    """Each report of the transfer: sent (every part sent or left out on purpose) → TRANSFERRED;
    lines still open → held; otherwise released back to Redo att skickas (its sent lines stay
    sent: a new transfer sends only the rest)."""
    lines_by_report: dict[int, list[tuple[LineStatus, str | None]]] = defaultdict(list)
    for report_id, status, reason in db.session.execute(
        select(TransferLine.report_id, TransferLine.status, TransferLine.skip_reason).where(
            TransferLine.transfer_id == transfer.id
        )
    ):
        lines_by_report[report_id].append((status, reason))
    done: list[int] = []
    for link in transfer.reports:
        if link.active is not True:
            continue
        lines = lines_by_report.get(link.report_id, [])
        statuses = [s for s, _r in lines]
        if any(s in (LineStatus.PENDING, LineStatus.SENDING) for s in statuses):
            link.outcome = "pending"
            continue
        complete = all(
            s == LineStatus.SENT or (s == LineStatus.SKIPPED and r in DONE_REASONS)
            for s, r in lines
        )
        if complete:
            link.outcome = "sent"
            done.append(link.report_id)
        else:
            link.outcome = "partly_sent" if LineStatus.SENT in statuses else "failed"
            link.active = None  # back in Redo att skickas; its sent lines stay sent
    # One UPDATE for all the reports that are now sent (only from approved: exactly once).
    for chunk in _chunks(done, 500):
        transferred = db.session.scalars(
            update(ExpenseReport)
            .where(ExpenseReport.id.in_(chunk), ExpenseReport.status == ReportStatus.APPROVED)
            .values(status=ReportStatus.TRANSFERRED)
            .returning(ExpenseReport.id)
            .execution_options(synchronize_session="fetch")
        ).all()
        for report_id in transferred:
            audit.record(
                "report.transferred",
                actor=None,
                organization_id=transfer.organization_id,
                obj=_ReportRef(report_id),
                transfer_id=transfer.id,
            )


@dataclass(frozen=True)
class _ReportRef:
    """What `audit.record` needs of a report (its type name and id), without loading it."""

    id: int


_ReportRef.__name__ = _ReportRef.__qualname__ = "ExpenseReport"


def _fail(transfer: Transfer, code: str, message: str) -> None:
    db.session.refresh(transfer)
    transfer.error_code = code
    transfer.error_message = message
    counts = _status_counts(transfer.id)
    transfer.lines_sent = counts.get(LineStatus.SENT, 0)
    transfer.lines_failed = counts.get(LineStatus.FAILED, 0)
    transfer.amount_sent_ore = _sent_amount(transfer.id)
    transfer.status = TransferStatus.FAILED
    transfer.step = None
    transfer.finished_at = utcnow()
    settle_reports(transfer)
    audit.record(
        "transfer.failed",
        actor=None,
        organization_id=transfer.organization_id,
        obj=transfer,
        error_code=code,
    )
    db.session.commit()
    log.info("transfer %s failed: %s", transfer.id, code)


def _wait_for_retry(transfer: Transfer, error: NmbrsError, interval: int) -> None:
    db.session.refresh(transfer)
    transfer.status = TransferStatus.QUEUED
    transfer.step = "retry_wait"
    transfer.error_code = "unavailable"
    transfer.error_message = error.user_message
    transfer.heartbeat_at = utcnow() + timedelta(seconds=interval)
    db.session.commit()


# --- dead workers ------------------------------------------------------------------------------


def _heartbeat_seconds() -> float:
    return float(current_app.config.get("SYNC_HEARTBEAT_SECONDS", 2.0))


def is_dead(transfer: Transfer, now: datetime | None = None) -> bool:
    """Whether a queued, running or undoing transfer will never finish by itself."""
    if not transfer.is_active:
        return False
    cfg = current_app.config
    now = now or utcnow()
    age = now - aware(transfer.heartbeat_at or transfer.created_at)
    if transfer.status != TransferStatus.QUEUED and age > timedelta(
        seconds=cfg.get("SYNC_DEAD_AFTER_SECONDS", 120)
    ):
        return True
    if age < timedelta(seconds=max(3 * _heartbeat_seconds(), 5)):
        return False
    status = background.job_status(transfer.job_id)
    return status == "missing" or status in background.JOB_GONE


def reap_dead(recipient_id: int | None = None) -> int:
    """Mark transfers whose worker died as failed ("Försök igen" then reads back and resumes);
    re-enqueue queued ones whose job Redis lost. Called when progress is read."""
    stmt = select(Transfer).where(Transfer.status.in_(ACTIVE_TRANSFER_STATUSES))
    if recipient_id is not None:
        stmt = stmt.where(Transfer.recipient_id == recipient_id)
    reaped = 0
    now = utcnow()
    for transfer in db.session.scalars(stmt).all():
        if not is_dead(transfer, now):
            continue
        if (
            transfer.status == TransferStatus.QUEUED
            and background.job_status(transfer.job_id) == "missing"
        ):
            with contextlib.suppress(RedisError):
                _enqueue(transfer)
                transfer.heartbeat_at = now
                db.session.commit()
                continue
        undoing = transfer.status == TransferStatus.UNDOING
        if not undoing and not _open_lines(transfer.id):
            # It died after recording its last line: nothing is in doubt, so just finish it.
            log.warning("transfer %s died after its last line; finishing it", transfer.id)
            _finish(transfer)
            continue
        log.warning("transfer %s (%s) is dead; marking it failed", transfer.id, transfer.status)
        transfer.status = _status_after_undo_stop(transfer) if undoing else TransferStatus.FAILED
        transfer.step = None
        transfer.error_code = "undo_incomplete" if undoing else "interrupted"
        transfer.error_message = str(ERROR_TEXTS[transfer.error_code])
        transfer.finished_at = now
        reaped += 1
    if reaped:
        db.session.commit()
    return reaped


# --- across the move from SOAP to REST ---------------------------------------------------------


def _carry_over(transfer: Transfer, connection, client: PayrollApi) -> None:
    """Give the transfer's live lines recorded over SOAP (int ids) the REST ids of the same
    items, on a connection that has moved to REST. Employees and cost centers: by the mapping
    sync's `rest_id`. A sent line's component: by reading the employee's components back over
    REST (SOAP and REST ids of a component are unrelated): the one with the line's comment, or,
    if Nmbrs gives no comments, with its code and value, owned by no other line; none when it
    is gone. Lines still "sending" lose their SOAP baseline and are settled by comment, code
    and value. Commits."""
    rows = db.session.execute(
        select(
            _LINE.c.id,
            _LINE.c.employee_ref,
            _LINE.c.cost_center_ref,
            _LINE.c.status,
            _LINE.c.wage_code,
            _LINE.c.amount_ore,
            _LINE.c.comment,
        )
        .where(
            _LINE.c.transfer_id == transfer.id,
            _LINE.c.status.in_([s.value for s in LIVE_LINE_STATUSES]),
            _LINE.c.employee_ref.is_not(None),
        )
        .order_by(_LINE.c.id)
    ).all()
    rows = [r for r in rows if r.employee_ref.isdigit()]
    if not rows:
        return
    recipient_id = transfer.recipient_id

    def rest_ids(model, soap_ids) -> dict[str, str]:
        ids = sorted({int(i) for i in soap_ids if i and i.isdigit()})
        if not ids:
            return {}
        found = db.session.execute(
            select(model.nmbrs_id, model.rest_id).where(
                model.recipient_id == recipient_id,
                model.nmbrs_id.in_(ids),
                model.rest_id.is_not(None),
            )
        )
        return {str(nmbrs_id): rest for nmbrs_id, rest in found}

    employees = rest_ids(PayrollEmployee, [r.employee_ref for r in rows])
    cost_centers = rest_ids(CostCenter, [r.cost_center_ref for r in rows])
    if any(r.employee_ref not in employees for r in rows):
        raise NmbrsError(
            f"transfer {transfer.id}: an employee has no REST id",
            user_message=str(SKIP_REASONS["no_employee"]),
        )
    components: dict[str, list[WageComponent]] = {}
    for ref in {employees[r.employee_ref] for r in rows if r.status == LineStatus.SENT.value}:
        components[ref] = client.wage_components(
            ref,
            year=transfer.period_year,
            period=transfer.period_number,
            company_id=remote_company_id(connection),
        )
    owned = set(
        db.session.scalars(
            select(_LINE.c.component_id).where(
                _LINE.c.employee_ref.in_(list(components) or [""]),
                _LINE.c.status == LineStatus.SENT.value,
                _LINE.c.component_id.is_not(None),
            )
        )
    )
    updates = []
    for r in rows:
        ref = employees[r.employee_ref]
        values = {
            "_id": r.id,
            "employee_ref": ref,
            "cost_center_ref": cost_centers.get(r.cost_center_ref) if r.cost_center_ref else None,
            "component_id": None,
            "baseline": None,
        }
        if r.status == LineStatus.SENT.value:
            amount = (Decimal(r.amount_ore) / 100).quantize(Decimal("0.01"))
            candidates = [
                c
                for c in components[ref]
                if str(c.id) not in owned and c.code == int(r.wage_code) and c.value == amount
            ]
            found = next((c for c in candidates if c.comment == r.comment), None)
            if found is None and candidates and all(c.comment is None for c in candidates):
                found = candidates[0]
            if found is not None:
                owned.add(str(found.id))
                values["component_id"] = str(found.id)
        updates.append(values)
    _update(updates)
    db.session.commit()
    log.info("transfer %s: %d lines carried over from SOAP to REST", transfer.id, len(updates))


# --- undo --------------------------------------------------------------------------------------


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


def request_undo(
    transfer: Transfer, user: User | None, *, current: PayrollPeriod | None = None
) -> Transfer:
    """Take a transfer back: its components deleted in Nmbrs (while the period is open), its
    reports back in Redo att skickas. Nmbrs: an RQ job; PAXml: at once. Commits."""
    if not can_undo(transfer):
        raise TransferError(_("Den här överföringen kan inte ångras."))
    if transfer.kind == RecipientKind.NMBRS:
        period = PayrollPeriod(transfer.period_year, transfer.period_number)
        if current is None:
            current = current_period(transfer.recipient)
        if period < current:
            raise TransferError(
                _(
                    "Perioden %(period)s är inte längre öppen i Nmbrs (aktuell period är "
                    "%(current)s), så överföringen kan inte ångras här. Rätta i Nmbrs.",
                    period=transfer.period_label,
                    current=f"{current.year}-{current.period:02d}",
                )
            )
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
            transfer.status = _status_after_undo_stop(transfer)
            db.session.commit()
            raise QueueUnavailable from exc
        return transfer
    transfer.undone_by_id = user.id if user else None
    _complete_undo(transfer, user)
    return transfer


def execute_undo(transfer_id: int, *, client: PayrollApi | None = None) -> Transfer | None:
    """Delete a transfer's components in Nmbrs by their stored ids (the RQ job's body)."""
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None or transfer.status != TransferStatus.UNDOING:
        return None
    connection = transfer.recipient.nmbrs
    heartbeat = background.Heartbeat(
        db.engine, Transfer.__table__, transfer.id, ["running", "undoing"], _heartbeat_seconds()
    )
    heartbeat.start()
    own_client = client is None
    client = client or client_for(connection, rate_limited=True, pool_size=POOL_SIZE)
    deleted: list[dict] = []
    try:
        if connection.api == NmbrsApi.REST:
            _carry_over(transfer, connection, client)
        sent = db.session.execute(
            select(_LINE.c.id, _LINE.c.employee_ref, _LINE.c.component_id).where(
                _LINE.c.transfer_id == transfer.id, _LINE.c.status == LineStatus.SENT.value
            )
        ).all()
        for line_id, employee_ref, component_id in sent:
            # Deleting twice is harmless (False: already gone), so a retry may repeat it.
            if component_id is not None:  # None: carried over from SOAP, no longer in Nmbrs
                client.delete_wage_component(_remote(employee_ref), _remote(component_id))
            deleted.append({"_id": line_id})
            if len(deleted) == 50:
                _update(deleted, status=LineStatus.DELETED.value, live=None)
                db.session.commit()
                deleted = []
        _update(deleted, status=LineStatus.DELETED.value, live=None)
        db.session.commit()
        db.session.expire_all()
        user = db.session.get(User, transfer.undone_by_id) if transfer.undone_by_id else None
        _complete_undo(transfer, user)
    except NmbrsError as exc:
        _update(deleted, status=LineStatus.DELETED.value, live=None)
        db.session.commit()  # keep what was deleted
        db.session.refresh(transfer)
        transfer.status = _status_after_undo_stop(transfer)
        transfer.error_code = "undo_incomplete"
        transfer.error_message = f"{ERROR_TEXTS['undo_incomplete']} {exc.user_message}"
        transfer.step = None
        db.session.commit()
    finally:
        heartbeat.stop()
        if own_client:
            client.close()
    return transfer


def _status_after_undo_stop(transfer: Transfer) -> TransferStatus:
    """An undo that stopped half-way: the transfer is what its remaining lines make it."""
    counts = _status_counts(transfer.id)
    if counts.get(LineStatus.SENT, 0) == 0:
        return TransferStatus.UNDONE
    return (
        TransferStatus.PARTLY_FAILED if counts.get(LineStatus.FAILED) else TransferStatus.SUCCEEDED
    )


def _complete_undo(transfer: Transfer, user: User | None) -> None:
    for line in transfer.lines:
        if line.status in LIVE_LINE_STATUSES:
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


def _encoding(recipient: ReportRecipient) -> str:
    encoding = (recipient.paxml.encoding if recipient.paxml else None) or "UTF-8"
    return encoding.upper() if encoding.upper() in paxml.ENCODINGS else "UTF-8"


def _paxml_lines(transfer_id: int) -> list[paxml.PaxmlLine]:
    return [
        paxml.PaxmlLine(
            employee_number=line.employee_number,
            paxml_code=line.paxml_code,
            wage_code=line.wage_code,
            day=line.line_date,
            quantity=line.quantity_value,
            unit_price=line.unit_price,
            amount=line.amount,
            report_number=str(line.report_id),
            cost_center=line.cost_center_code,
        )
        for line in db.session.scalars(
            select(TransferLine)
            .where(
                TransferLine.transfer_id == transfer_id,
                TransferLine.status.in_(LIVE_LINE_STATUSES),
            )
            .order_by(TransferLine.id)
        )
    ]


def _build_file(transfer: Transfer, recipient: ReportRecipient, reexport_on=None) -> bytes:
    db.session.flush()
    return paxml.build(
        _paxml_lines(transfer.id),
        encoding=transfer.file_encoding or _encoding(recipient),
        company_name=recipient.organization.name,
        created_at=aware(transfer.created_at or utcnow()).replace(tzinfo=None),
        reexport_on=reexport_on,
    )


def download(transfer: Transfer, user: User | None) -> tuple[bytes, str, bool]:
    """The PAXml file of a transfer: (bytes, file name, is_reexport). The first download marks
    the reports sent; every later one is a re-export, marked `<nyexport>` in the header."""
    if transfer.kind != RecipientKind.PAXML or transfer.status == TransferStatus.UNDONE:
        abort(404)
    now = utcnow()
    first = transfer.export_count == 0
    if first:
        data = transfer.file_data
        paxml.validate(data)
        for line in transfer.lines:
            if line.status == LineStatus.PENDING:
                line.status = LineStatus.SENT
                line.sent_at = now
        _finish(transfer)
        transfer.first_exported_at = now
        name = transfer.file_name
    else:
        data = _build_file(transfer, transfer.recipient, reexport_on=now.date())
        name = transfer.file_name.replace(".xml", f"-omexport-{transfer.export_count}.xml")
    transfer.export_count += 1
    transfer.last_exported_at = now
    audit.record(
        "transfer.file_downloaded" if first else "transfer.file_reexported",
        actor=user,
        organization_id=transfer.organization_id,
        obj=transfer,
        export=transfer.export_count,
    )
    db.session.commit()
    return data, name, not first


# --- what the pages show -----------------------------------------------------------------------


@dataclass
class ReportResult:
    report_id: int
    title: str
    employee: str
    outcome: str
    sent: int
    failed: list[tuple[str, str]]  # (what, why) of each line that did not go
    amount_ore: int

    @property
    def amount(self) -> Decimal:
        return Decimal(self.amount_ore) / 100


@dataclass
class TransferView:
    transfer: Transfer
    step_label: str
    done: int
    total: int
    error: str | None
    results: list[ReportResult]
    can_retry: bool
    can_undo: bool
    waiting: str | None = None


def error_text(transfer: Transfer) -> str | None:
    if not transfer.error_code:
        return None
    if transfer.error_code in ERROR_TEXTS and transfer.error_code != "error":
        if transfer.error_code == "undo_incomplete" and transfer.error_message:
            return transfer.error_message
        return str(ERROR_TEXTS[transfer.error_code])
    return transfer.error_message or str(ERROR_TEXTS["error"])


def describe(transfer: Transfer, *, with_results: bool = True) -> TransferView:
    results: list[ReportResult] = []
    if with_results and not transfer.is_active:
        by_report: dict[int, list[TransferLine]] = defaultdict(list)
        for line in transfer.lines:
            by_report[line.report_id].append(line)
        outcomes = {link.report_id: link.outcome for link in transfer.reports}
        for report_id, lines in by_report.items():
            report = db.session.get(ExpenseReport, report_id)
            results.append(
                ReportResult(
                    report_id=report_id,
                    title=report.title,
                    employee=report.employee.name,
                    outcome=outcomes.get(report_id, "not_included"),
                    sent=sum(1 for line in lines if line.status == LineStatus.SENT),
                    failed=[_problem(line) for line in lines if _is_problem(line)],
                    amount_ore=sum(
                        line.amount_ore for line in lines if line.status == LineStatus.SENT
                    ),
                )
            )
    done = transfer.lines_sent if not transfer.is_active else _live_done(transfer)
    return TransferView(
        transfer=transfer,
        step_label=str(STEP_LABELS.get(transfer.step or "waiting", STEP_LABELS["waiting"])),
        done=done,
        total=max(transfer.lines_total, 1),
        error=error_text(transfer),
        results=results,
        can_retry=can_retry(transfer),
        can_undo=can_undo(transfer),
        waiting=_waiting_problem(transfer),
    )


def _is_problem(line: TransferLine) -> bool:
    return line.status == LineStatus.FAILED or (
        line.status == LineStatus.SKIPPED and line.skip_reason not in DONE_REASONS
    )


def _problem(line: TransferLine) -> tuple[str, str]:
    what = str(INFO[PayItem(line.pay_item)].label)
    if line.status == LineStatus.SKIPPED:
        why = f"{SKIP_REASONS.get(line.skip_reason, '')} {line.error_message or ''}".strip()
    else:
        why = line.error_message or ""
    return what, why


def _live_done(transfer: Transfer) -> int:
    from sqlalchemy import func

    statuses = (
        (LineStatus.DELETED,)
        if transfer.status == TransferStatus.UNDOING
        else (LineStatus.SENT, LineStatus.FAILED)
    )
    return int(
        db.session.scalar(
            select(func.count(TransferLine.id)).where(
                TransferLine.transfer_id == transfer.id,
                TransferLine.status.in_(statuses),
                TransferLine.skip_reason.is_(None),
            )
        )
        or 0
    )


def _waiting_problem(transfer: Transfer) -> str | None:
    from rq.worker import Worker

    if transfer.status != TransferStatus.QUEUED or transfer.step == "retry_wait":
        return None
    try:
        if Worker.count(connection=redis_connection(), queue=get_queue()):
            return None
    except RedisError:
        return _(
            "Kön för bakgrundsjobb svarar inte just nu. Överföringen startar av sig själv när "
            "kön är tillbaka; ingenting går förlorat."
        )
    if utcnow() - aware(transfer.created_at) < timedelta(seconds=5):
        return None
    return _(
        "Ingen arbetsprocess är igång just nu, så överföringen har inte startat. Den startar "
        "av sig själv så snart en arbetsprocess är igång."
    )


def progress(organization_id: int, transfer_id: int) -> Transfer:
    """The transfer for the progress fragment; reading progress also notices a dead worker."""
    transfer = get_transfer(organization_id, transfer_id)
    if transfer.is_active and reap_dead(transfer.recipient_id):
        db.session.refresh(transfer)
    return transfer
