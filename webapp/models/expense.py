"""Expense reports (utläggsrapporter), their lines and receipts, and the organization's
allowance policy and imported foreign per-diem tables.

Money is stored as integer öre. Each line keeps what its calculation produced at save time (pay
parts, tax-free and taxable totals, rule year), so what an approver approved is exactly what the
transfer sends, whatever the rules or the policy say later.
"""

from __future__ import annotations

import datetime as dt
import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import TimestampMixin, string_enum
from webapp.models.organization import Organization, User
from webapp.payitems import INFO, PayItem


class ReportStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"  # returned to the employee with a reason
    TRANSFERRED = "transferred"  # set by the transfer (issue 7)


class LineKind(enum.StrEnum):
    OUTLAY = "outlay"
    MILEAGE = "mileage"
    PER_DIEM = "per_diem"


class ExpenseReport(TimestampMixin, Model):
    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[ReportStatus] = mapped_column(
        string_enum(ReportStatus), default=ReportStatus.DRAFT
    )
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)

    organization: Mapped[Organization] = relationship()
    employee: Mapped[User] = relationship(foreign_keys=[employee_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    lines: Mapped[list[ExpenseLine]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="ExpenseLine.id"
    )

    @property
    def is_editable(self) -> bool:
        return self.status in (ReportStatus.DRAFT, ReportStatus.REJECTED)

    @property
    def active_lines(self) -> list[ExpenseLine]:
        """The lines that count: all but those an approver rejected."""
        return [line for line in self.lines if not line.rejected]

    @property
    def tax_free(self) -> Decimal:
        return sum((line.tax_free for line in self.active_lines), Decimal("0.00"))

    @property
    def taxable(self) -> Decimal:
        return sum((line.taxable for line in self.active_lines), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.tax_free + self.taxable

    def __repr__(self) -> str:
        return f"<ExpenseReport {self.id} {self.status}>"


class ExpenseLine(TimestampMixin, Model):
    __tenant__ = "report"  # owned through its report (webapp.tenancy)
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("expense_report.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[LineKind] = mapped_column(string_enum(LineKind))
    date: Mapped[date] = mapped_column(Date)
    # Outlay: what was bought; mileage and per diem: the purpose of the trip.
    description: Mapped[str] = mapped_column(String(300))

    # Outlay (utlägg)
    category: Mapped[str | None] = mapped_column(String(100))
    amount_ore: Mapped[int | None] = mapped_column(BigInteger)  # incl. VAT
    vat_ore: Mapped[int | None] = mapped_column(BigInteger)
    cost_center_code: Mapped[str | None] = mapped_column(String(50))

    # Mileage (milersättning)
    from_place: Mapped[str | None] = mapped_column(String(200))
    to_place: Mapped[str | None] = mapped_column(String(200))
    km_tenths: Mapped[int | None] = mapped_column(Integer)  # 12,3 km is 123
    vehicle: Mapped[str | None] = mapped_column(String(30))  # rates.VehicleKind
    employee_paid_fuel: Mapped[bool | None]

    # Per diem (traktamente); times are local Swedish time, as the employee entered them.
    departs_at: Mapped[datetime | None] = mapped_column(DateTime)
    returns_at: Mapped[datetime | None] = mapped_column(DateTime)
    destination: Mapped[str | None] = mapped_column(String(200))
    country_code: Mapped[str | None] = mapped_column(String(2))
    far_from_home: Mapped[bool | None]
    lodging_paid_by_employer: Mapped[bool | None]
    assignment_start: Mapped[dt.date | None] = mapped_column(Date)  # `date` is a column here
    meals: Mapped[dict | None] = mapped_column(JSON)  # {"2026-03-02": ["lunch"], ...}
    # Asked, not inferred from the dates: without an overnight stay nothing is tax-free.
    stayed_overnight: Mapped[bool | None]
    # The countries of the trip in order: [{"country": "DK", "from": "...", "to": "..."}].
    legs: Mapped[list | None] = mapped_column(JSON)
    # What each provided meal was: {"2026-03-02": {"lunch": "free"}} (rates.MealProvision).
    meal_kinds: Mapped[dict | None] = mapped_column(JSON)
    # A trip over New Year is saved as one line per income year; they share this id.
    trip_id: Mapped[str | None] = mapped_column(String(36), index=True)

    # The calculation, frozen at save time.
    parts: Mapped[list] = mapped_column(JSON, default=list)
    tax_free_ore: Mapped[int] = mapped_column(BigInteger, default=0)
    taxable_ore: Mapped[int] = mapped_column(BigInteger, default=0)
    rule_year: Mapped[int | None]
    calculation: Mapped[dict] = mapped_column(JSON, default=dict)

    # An approver may reject one line; it then no longer counts.
    rejected: Mapped[bool] = mapped_column(default=False, server_default="0")
    rejection_reason: Mapped[str | None] = mapped_column(Text)

    report: Mapped[ExpenseReport] = relationship(back_populates="lines")
    receipt: Mapped[Receipt | None] = relationship(
        back_populates="line", cascade="all, delete-orphan", uselist=False
    )

    @property
    def tax_free(self) -> Decimal:
        return Decimal(self.tax_free_ore) / 100

    @property
    def taxable(self) -> Decimal:
        return Decimal(self.taxable_ore) / 100

    @property
    def total(self) -> Decimal:
        return self.tax_free + self.taxable

    @property
    def benefit(self) -> Decimal:
        """Kostförmån on this line: a taxable value for payroll, not money paid out."""
        values = (
            Decimal(part["amount"])
            for part in self.parts or []
            if INFO[PayItem(part["item"])].benefit
        )
        return sum(values, Decimal("0.00"))

    @property
    def amount(self) -> Decimal | None:
        return None if self.amount_ore is None else Decimal(self.amount_ore) / 100

    @property
    def vat(self) -> Decimal | None:
        return None if self.vat_ore is None else Decimal(self.vat_ore) / 100

    @property
    def km(self) -> Decimal | None:
        return None if self.km_tenths is None else Decimal(self.km_tenths) / 10

    def __repr__(self) -> str:
        return f"<ExpenseLine {self.id} {self.kind}>"


class Receipt(TimestampMixin, Model):
    """A receipt's file, in the database so that a PaaS needs no disk."""

    __tenant__ = "line"  # owned through its line (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(
        ForeignKey("expense_line.id", ondelete="CASCADE"), unique=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    # Deferred: lists of lines must not drag megabytes of images along.
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))

    line: Mapped[ExpenseLine] = relationship(back_populates="receipt")


class AllowancePolicy(TimestampMixin, Model):
    """What the organization pays, from a date on. A None amount means Skatteverket's
    tax-free amount for the day (so nothing is taxable)."""

    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    own_car_ore_per_mil: Mapped[int | None] = mapped_column(BigInteger)
    company_car_ore_per_mil: Mapped[int | None] = mapped_column(BigInteger)
    electric_company_car_ore_per_mil: Mapped[int | None] = mapped_column(BigInteger)
    # Motorcycle, moped and other vehicles have no tax-free rate: what is paid is taxable, and
    # there is no Skatteverket amount to fall back on (None: not paid).
    motorcycle_ore_per_mil: Mapped[int | None] = mapped_column(BigInteger)
    moped_ore_per_mil: Mapped[int | None] = mapped_column(BigInteger)
    other_vehicle_ore_per_mil: Mapped[int | None] = mapped_column(BigInteger)
    full_day_ore: Mapped[int | None] = mapped_column(BigInteger)
    half_day_ore: Mapped[int | None] = mapped_column(BigInteger)
    night_ore: Mapped[int | None] = mapped_column(BigInteger)
    one_day_ore: Mapped[int] = mapped_column(BigInteger, default=0)
    foreign_percent: Mapped[int] = mapped_column(Integer, default=100)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    __table_args__ = (UniqueConstraint("organization_id", "valid_from"),)


class ForeignPerDiemTable(TimestampMixin, Model):
    """Skatteverket's foreign per-diem table for a year that Brygga does not ship, imported by
    an admin of the organization (the CSV text as imported, parsed on use)."""

    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    csv_text: Mapped[str] = mapped_column(Text)
    country_count: Mapped[int] = mapped_column(Integer)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    imported_by: Mapped[User | None] = relationship()

    __table_args__ = (UniqueConstraint("organization_id", "year"),)


class TaxYearValues(TimestampMixin, Model):
    """A year's values that Brygga does not ship, entered and confirmed by an admin (or an
    operator with `flask tax-year set`): the prisbasbelopp (the domestic per diem follows from
    it), the mileage amounts and the kostförmån values, in öre."""

    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    price_base_amount: Mapped[int] = mapped_column(Integer)
    own_car_ore_per_mil: Mapped[int] = mapped_column(BigInteger)
    company_car_ore_per_mil: Mapped[int] = mapped_column(BigInteger)
    electric_company_car_ore_per_mil: Mapped[int] = mapped_column(BigInteger)
    benefit_whole_day_ore: Mapped[int] = mapped_column(BigInteger)
    benefit_lunch_or_dinner_ore: Mapped[int] = mapped_column(BigInteger)
    benefit_breakfast_ore: Mapped[int] = mapped_column(BigInteger)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    confirmed_by_operator: Mapped[bool] = mapped_column(default=False, server_default="0")

    confirmed_by: Mapped[User | None] = relationship()

    __table_args__ = (UniqueConstraint("organization_id", "year"),)


class TaxYearReminder(TimestampMixin, Model):
    """The clock mailed the organization's admins that a year's values are missing (once)."""

    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    recipients: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("organization_id", "year"),)
