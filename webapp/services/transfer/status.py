"""What the transfer pages show: a transfer's progress, its outcome per report, and why a queued
transfer has not started."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.formatting import kronor
from webapp.models import (
    ExpenseReport,
    LineStatus,
    Transfer,
    TransferLine,
    TransferReport,
    TransferStatus,
)
from webapp.payitems import INFO, PayItem
from webapp.services import runs
from webapp.services.transfer.ledger import can_retry, sent_amount, status_counts
from webapp.services.transfer.texts import DONE_REASONS, ERROR_TEXTS, SKIP_REASONS, STEP_LABELS
from webapp.services.transfer.undo import can_undo


@dataclass
class ReportResult:
    report_id: int
    title: str
    employee: str
    outcome: str
    sent: int
    failed: list[tuple[str, str]]  # (what, why) of each line that did not go
    amount_ore: int
    uncertain: list[tuple[int, str, str]] = field(default_factory=list)  # (line id, what, amount)

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
    known: Known | None = None  # what is known of the lines, when not all of them went


@dataclass(frozen=True)
class Known:
    """What Brygga knows of a transfer's lines after it stopped: confirmed by the payroll system
    (its answer, or a read-back), sent without an answer (in doubt until read back), osäker
    (a person must look), and not sent."""

    confirmed: int
    in_doubt: int
    uncertain: int
    not_sent: int
    confirmed_ore: int = 0

    @property
    def confirmed_amount(self) -> Decimal:
        return Decimal(self.confirmed_ore) / 100

    @property
    def total(self) -> int:
        return self.confirmed + self.in_doubt + self.uncertain + self.not_sent


# Values that are a förmån (kostförmån): a taxable value for payroll, never money paid out.
BENEFIT_ITEMS = tuple(item.value for item, info in INFO.items() if info.benefit)


def benefit_amount(transfer_id: int) -> Decimal:
    """The part of the transfer's total (`Transfer.amount_total`: the lines to send of the
    reports it holds) that is kostförmån, so that the total is not read as money paid out."""
    held = select(TransferReport.report_id).where(TransferReport.transfer_id == transfer_id)
    ore = db.session.scalar(
        select(func.coalesce(func.sum(TransferLine.amount_ore), 0)).where(
            TransferLine.transfer_id == transfer_id,
            TransferLine.skip_reason.is_(None),
            TransferLine.pay_item.in_(BENEFIT_ITEMS),
            TransferLine.report_id.in_(held),
        )
    )
    return Decimal(ore or 0) / 100


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
            assert report is not None  # a transfer's lines keep their reports (no delete)
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
                    uncertain=[
                        (line.id, str(INFO[PayItem(line.pay_item)].label), kronor(line.amount))
                        for line in lines
                        if line.status == LineStatus.UNCERTAIN
                    ],
                )
            )
    done = transfer.lines_sent if not transfer.is_active else _live_done(transfer)
    known = None
    if not transfer.is_active and transfer.status in (
        TransferStatus.FAILED,
        TransferStatus.PARTLY_FAILED,
    ):
        counts = status_counts(transfer.id)
        known = Known(
            confirmed=counts.get(LineStatus.SENT, 0),
            in_doubt=counts.get(LineStatus.SENDING, 0),
            uncertain=counts.get(LineStatus.UNCERTAIN, 0),
            not_sent=counts.get(LineStatus.PENDING, 0),
            confirmed_ore=sent_amount(transfer.id),
        )
        if not (known.in_doubt or known.uncertain or known.not_sent):
            known = None
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
        known=known,
    )


def _is_problem(line: TransferLine) -> bool:
    return line.status == LineStatus.FAILED or (
        line.status == LineStatus.SKIPPED and line.skip_reason not in DONE_REASONS
    )


def _problem(line: TransferLine) -> tuple[str, str]:
    what = str(INFO[PayItem(line.pay_item)].label)
    if line.status == LineStatus.SKIPPED:
        why = f"{SKIP_REASONS.get(line.skip_reason or '', '')} {line.error_message or ''}".strip()
    else:
        why = line.error_message or ""
    return what, why


def _live_done(transfer: Transfer) -> int:
    if transfer.status != TransferStatus.UNDOING:
        # The worker keeps the count on the transfer as it goes (polled by every open tab:
        # no COUNT(*) over the lines each second).
        return transfer.lines_sent or 0
    statuses = (LineStatus.DELETED,)
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
    if transfer.status != TransferStatus.QUEUED or transfer.step == "retry_wait":
        return None
    return runs.worker_problem(
        transfer.created_at,
        _(
            "Kön för bakgrundsjobb svarar inte just nu. Överföringen startar av sig själv när "
            "kön är tillbaka; ingenting går förlorat."
        ),
        _(
            "Ingen arbetsprocess är igång just nu, så överföringen har inte startat. Den startar "
            "av sig själv så snart en arbetsprocess är igång."
        ),
    )
