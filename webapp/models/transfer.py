"""Transfers to payroll: one `Transfer` per "Skicka" (Nmbrs) or file (PAXml), one `TransferLine`
per pay part, written before anything leaves Brygga.

Exactly once is held by the database, not only by the code that sends:
- `TransferLine.key` is stable across transfers (`<expense line id>:<pay item>`), and
  `UniqueConstraint(key, live)` lets a key be pending, in flight or sent in ONE transfer only
  (`live` is True for those, NULL otherwise; NULLs never collide in a unique constraint).
- `TransferReport.active` does the same for reports: a report is in one non-undone transfer.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import TimestampMixin, string_enum
from webapp.models.expense import ExpenseReport
from webapp.models.organization import User
from webapp.models.recipient import ReportRecipient


class TransferStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker (also: waiting for a retry)
    RUNNING = "running"
    READY = "ready"  # PAXml: the file is made, not yet downloaded
    SUCCEEDED = "succeeded"
    PARTLY_FAILED = "partly_failed"  # some lines failed; the rest went through
    FAILED = "failed"  # nothing (more) could be sent; see error_code
    UNDOING = "undoing"
    UNDONE = "undone"


ACTIVE_TRANSFER_STATUSES = (TransferStatus.QUEUED, TransferStatus.RUNNING, TransferStatus.UNDOING)


class LineStatus(enum.StrEnum):
    PENDING = "pending"  # not sent: nothing has left Brygga for this line (in this attempt)
    SENDING = "sending"  # a write was (maybe) sent; only a read-back can tell whether it arrived
    SENT = "sent"
    # A write whose read-back could not tell whether it arrived (a component typed by hand in
    # Nmbrs may look exactly like it): never sent again by itself; a person decides.
    UNCERTAIN = "uncertain"
    FAILED = "failed"
    SKIPPED = "skipped"  # never sent, with skip_reason
    DELETED = "deleted"  # undone


LIVE_LINE_STATUSES = (
    LineStatus.PENDING,
    LineStatus.SENDING,
    LineStatus.SENT,
    LineStatus.UNCERTAIN,
)


class Transfer(TimestampMixin, Model):
    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("report_recipient.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # the recipient's kind's key, at the time
    status: Mapped[TransferStatus] = mapped_column(
        string_enum(TransferStatus), default=TransferStatus.QUEUED, index=True
    )
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # Nmbrs: the payroll period the amounts go into.
    period_year: Mapped[int | None] = mapped_column(Integer)
    period_number: Mapped[int | None] = mapped_column(Integer)
    # The admin confirmed sending into a period before Nmbrs' current one (UnprotectedMode).
    unprotected_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    step: Mapped[str | None] = mapped_column(String(40))
    lines_total: Mapped[int] = mapped_column(Integer, default=0)  # lines to send
    lines_sent: Mapped[int] = mapped_column(Integer, default=0)
    lines_failed: Mapped[int] = mapped_column(Integer, default=0)
    lines_skipped: Mapped[int] = mapped_column(Integer, default=0)
    amount_total_ore: Mapped[int] = mapped_column(BigInteger, default=0)  # of the lines to send
    amount_sent_ore: Mapped[int] = mapped_column(BigInteger, default=0)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)  # Swedish, for the admin
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # True while the request is still recording the lines, report by report, as the worker
    # already sends the first ones; the lines' totals are final once it is False. Whoever ends
    # the transfer first (the last part recorded, or the worker, the reaper) sets it False, and
    # a part is only recorded while it is True.
    recording: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    job_id: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # PAXml: the file as first made (kept for the history), its encoding and the downloads.
    file_data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    file_encoding: Mapped[str | None] = mapped_column(String(20))
    file_name: Mapped[str | None] = mapped_column(String(120))
    export_count: Mapped[int] = mapped_column(Integer, default=0)
    first_exported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_exported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    recipient: Mapped[ReportRecipient] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    undone_by: Mapped[User | None] = relationship(foreign_keys=[undone_by_id])
    lines: Mapped[list[TransferLine]] = relationship(
        back_populates="transfer", order_by="TransferLine.id", cascade="all, delete-orphan"
    )
    reports: Mapped[list[TransferReport]] = relationship(
        back_populates="transfer", order_by="TransferReport.report_id", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_TRANSFER_STATUSES

    @property
    def period_label(self) -> str:
        if self.period_year is None:
            return ""
        return f"{self.period_year}-{self.period_number:02d}"

    @property
    def amount_total(self) -> Decimal:
        return Decimal(self.amount_total_ore) / 100

    @property
    def amount_sent(self) -> Decimal:
        return Decimal(self.amount_sent_ore) / 100


class TransferReport(Model):
    """A report in a transfer, and what became of it."""

    __tenant__ = "transfer"  # owned through its transfer (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfer.id"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("expense_report.id"), index=True)
    # True while the transfer holds the report; NULL once released (undone, or lines failed).
    active: Mapped[bool | None] = mapped_column(Boolean, default=True)
    # sent, partly_sent, failed, pending, undone
    outcome: Mapped[str] = mapped_column(String(20), default="pending")

    transfer: Mapped[Transfer] = relationship(back_populates="reports")
    report: Mapped[ExpenseReport] = relationship()

    __table_args__ = (UniqueConstraint("report_id", "active", name="uq_transfer_report_active"),)


class TransferLine(Model):
    """One pay part of an expense line, as it is (or is not) sent."""

    __tenant__ = "transfer"  # owned through its transfer (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfer.id"), index=True)
    # "<expense line id>:<pay item>": the same in every transfer of that part.
    key: Mapped[str] = mapped_column(String(100))
    live: Mapped[bool | None] = mapped_column(Boolean, default=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("expense_report.id"), index=True)
    expense_line_id: Mapped[int] = mapped_column(ForeignKey("expense_line.id"))
    pay_item: Mapped[str] = mapped_column(String(60))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    # Nmbrs: the employee's id in the connection's API (int or GUID, as text) and number.
    employee_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    employee_number: Mapped[str | None] = mapped_column(String(50))
    wage_code: Mapped[str | None] = mapped_column(String(50))  # Nmbrs code or PAXml lonart
    paxml_code: Mapped[str | None] = mapped_column(String(20))  # the standard lönekod
    line_date: Mapped[date] = mapped_column(Date)
    quantity: Mapped[str] = mapped_column(String(30))  # a Decimal as text
    unit_price_ore: Mapped[int] = mapped_column(BigInteger)
    amount_ore: Mapped[int] = mapped_column(BigInteger)
    cost_center_code: Mapped[str | None] = mapped_column(String(50))
    cost_center_ref: Mapped[str | None] = mapped_column(String(64))
    cost_unit_ref: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(String(200))
    # Not indexed: every query by status also names the transfer or the employee, and an index
    # would be rewritten as each line goes pending → sending → sent.
    status: Mapped[LineStatus] = mapped_column(string_enum(LineStatus), default=LineStatus.PENDING)
    skip_reason: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)  # a warning shown with a sent line
    # The component ids Nmbrs had for this employee and period just before the last write:
    # whatever is new after it, and claimed by no other line, is what the write created.
    baseline: Mapped[list | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Which batch of its transfer the line last went out in: a read-back decides a batch (one
    # request, stored by Nmbrs or not) as a whole. None for a line sent on its own.
    batch: Mapped[int | None] = mapped_column(Integer)
    component_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    transfer: Mapped[Transfer] = relationship(back_populates="lines")
    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("key", "live", name="uq_transfer_line_live_key"),)

    @property
    def amount(self) -> Decimal:
        return (Decimal(self.amount_ore) / 100).quantize(Decimal("0.01"))

    @property
    def unit_price(self) -> Decimal:
        return (Decimal(self.unit_price_ore) / 100).quantize(Decimal("0.01"))

    @property
    def quantity_value(self) -> Decimal:
        return Decimal(self.quantity)
