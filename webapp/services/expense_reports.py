"""The expense report workflow: create, add lines, submit, withdraw, approve, reject.

Every change records an audit event; the caller commits. Lines are calculated when they are
saved and keep their result, so what an approver approves is what the transfer sends.

For the transfer (issue 7): `approved_reports(organization_id)` lists what waits, and
`transfer_parts(report)` gives each counting line with its `PayPart`s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_babel import gettext as _

from webapp.extensions import db
from webapp.models import (
    AllowancePolicy,
    CostCenter,
    ExpenseLine,
    ExpenseReport,
    LineKind,
    Receipt,
    RecipientStatus,
    ReportRecipient,
    ReportStatus,
    User,
)
from webapp.models.base import utcnow
from webapp.payitems import PayItem
from webapp.services import audit
from webapp.services.errors import NotFound
from webapp.services.mileage import MileageError, calculate_mileage
from webapp.services.pay_parts import Calculation, PayPart, parts_of, to_money, to_ore
from webapp.services.per_diem import (
    DayMeals,
    Leg,
    PerDiemPolicy,
    Trip,
    TripError,
    calculate_trip,
)
from webapp.services.rates import (
    DOMESTIC,
    RulesMissing,
    VehicleKind,
    country_choices,
)
from webapp.services.receipts import CheckedReceipt
from webapp.services.tax_years import foreign_table_for, imported_tables, rules_for

MAX_AMOUNT = Decimal(1_000_000)


class ReportError(ValueError):
    """A change that cannot be made; the message is for the person who tried."""


# --- finding reports -------------------------------------------------------------------------


def get_report(user: User, report_id: int) -> ExpenseReport:
    """A report the user may see, else 404: the employee's own reports, and for approvers and
    admins every report of their organization that has been submitted."""
    report = db.session.get(ExpenseReport, report_id)
    if report is None or report.organization_id != user.organization_id:
        raise NotFound
    if report.employee_id == user.id:
        return report
    if user.can_approve and report.status != ReportStatus.DRAFT:
        return report
    raise NotFound


def get_line(report: ExpenseReport, line_id: int) -> ExpenseLine:
    line = db.session.get(ExpenseLine, line_id)
    if line is None or line.report_id != report.id:
        raise NotFound
    return line


def my_reports(user: User) -> list[ExpenseReport]:
    return list(
        db.session.scalars(
            db.select(ExpenseReport)
            .where(ExpenseReport.employee_id == user.id)
            .order_by(ExpenseReport.created_at.desc(), ExpenseReport.id.desc())
        )
    )


def reports_to_approve(user: User) -> list[ExpenseReport]:
    """Submitted reports of the user's organization, except the user's own."""
    return list(
        db.session.scalars(
            db.select(ExpenseReport)
            .where(
                ExpenseReport.organization_id == user.organization_id,
                ExpenseReport.status == ReportStatus.SUBMITTED,
                ExpenseReport.employee_id != user.id,
            )
            .order_by(ExpenseReport.submitted_at, ExpenseReport.id)
        )
    )


def approved_reports(organization_id: int) -> list[ExpenseReport]:
    """Approved reports waiting for the transfer (*Redo att skickas*), oldest decision first."""
    return list(
        db.session.scalars(
            db.select(ExpenseReport)
            .where(
                ExpenseReport.organization_id == organization_id,
                ExpenseReport.status == ReportStatus.APPROVED,
            )
            .order_by(ExpenseReport.decided_at, ExpenseReport.id)
        )
    )


def transfer_parts(report: ExpenseReport) -> list[tuple[ExpenseLine, list[PayPart]]]:
    """Each line that counts (not rejected) with the parts it sends to payroll."""
    return [(line, parts_of(line)) for line in report.active_lines]


def _synced_cost_centers(organization_id: int) -> dict[str, str]:
    """code → label of the cost centers synced from the organization's active recipients."""
    synced = db.session.execute(
        db.select(CostCenter.code, CostCenter.description)
        .join(ReportRecipient, CostCenter.recipient_id == ReportRecipient.id)
        .where(
            ReportRecipient.organization_id == organization_id,
            ReportRecipient.status == RecipientStatus.ACTIVE,
            CostCenter.archived.is_(False),
        )
        .distinct()
    ).all()
    return {code: f"{code} {description}".strip() for code, description in synced}


def _by_code(choices: dict[str, str]) -> list[tuple[str, str]]:
    return sorted(choices.items(), key=lambda c: (len(c[0]), c[0]))


def cost_center_choices(organization_id: int) -> list[tuple[str, str]]:
    """(code, label) of the cost centers an outlay can name: those synced from the
    organization's recipient when it has any (payroll knows no others); otherwise, for an
    organization without a synced list (PAXml only), the codes already used in its lines."""
    synced = _synced_cost_centers(organization_id)
    if synced:
        return _by_code(synced)
    used = db.session.scalars(
        db.select(ExpenseLine.cost_center_code)
        .join(ExpenseReport)
        .where(
            ExpenseReport.organization_id == organization_id,
            ExpenseLine.cost_center_code.is_not(None),
        )
        .distinct()
    )
    return _by_code({code: code for code in used})


def unknown_cost_center(organization_id: int, code: str | None) -> str | None:
    """The code, cleaned, when the organization's recipient has synced cost centers and this
    is not one of them (payroll would get the line without a cost center); else None."""
    code = (code or "").strip()
    if not code:
        return None
    synced = _synced_cost_centers(organization_id)
    return code if synced and code not in synced else None


def default_cost_center(user: User) -> str | None:
    """The cost center the employee used last, unless payroll no longer knows it."""
    code = db.session.scalar(
        db.select(ExpenseLine.cost_center_code)
        .join(ExpenseReport)
        .where(ExpenseReport.employee_id == user.id, ExpenseLine.cost_center_code.is_not(None))
        .order_by(ExpenseLine.id.desc())
        .limit(1)
    )
    if code is None or unknown_cost_center(user.organization_id, code):
        return None
    return code


# --- the organization's policy and foreign tables ----------------------------------------------


def policy_on(organization_id: int, day: date) -> AllowancePolicy | None:
    """The policy that applies on `day`: the latest one valid from that day or earlier."""
    return db.session.scalar(
        db.select(AllowancePolicy)
        .where(
            AllowancePolicy.organization_id == organization_id,
            AllowancePolicy.valid_from <= day,
        )
        .order_by(AllowancePolicy.valid_from.desc())
        .limit(1)
    )


def policies(organization_id: int) -> list[AllowancePolicy]:
    return list(
        db.session.scalars(
            db.select(AllowancePolicy)
            .where(AllowancePolicy.organization_id == organization_id)
            .order_by(AllowancePolicy.valid_from.desc())
        )
    )


def _kr(ore: int | None) -> Decimal | None:
    return None if ore is None else Decimal(ore) / 100


def per_diem_policy(policy: AllowancePolicy | None) -> PerDiemPolicy:
    if policy is None:
        return PerDiemPolicy()
    return PerDiemPolicy(
        full_day=_kr(policy.full_day_ore),
        half_day=_kr(policy.half_day_ore),
        night=_kr(policy.night_ore),
        one_day=_kr(policy.one_day_ore) or Decimal(0),
        foreign_percent=Decimal(policy.foreign_percent),
    )


def mileage_rate(policy: AllowancePolicy | None, vehicle: VehicleKind) -> Decimal | None:
    if policy is None:
        return None
    return _kr(getattr(policy, f"{vehicle.value}_ore_per_mil"))


@dataclass
class PolicyInput:
    valid_from: date
    own_car: Decimal | None = None
    company_car: Decimal | None = None
    electric_company_car: Decimal | None = None
    motorcycle: Decimal | None = None
    moped: Decimal | None = None
    other_vehicle: Decimal | None = None
    full_day: Decimal | None = None
    half_day: Decimal | None = None
    night: Decimal | None = None
    one_day: Decimal = Decimal(0)
    foreign_percent: int = 100


def save_policy(actor: User, data: PolicyInput) -> AllowancePolicy:
    """Save what the organization pays from `valid_from` on (replacing one from the same date)."""
    amounts = [
        data.own_car,
        data.company_car,
        data.electric_company_car,
        data.motorcycle,
        data.moped,
        data.other_vehicle,
        data.full_day,
        data.half_day,
        data.night,
        data.one_day,
    ]
    if any(a is not None and (a < 0 or a > 100_000) for a in amounts):
        raise ReportError(_("Beloppen måste vara mellan 0 och 100 000 kr."))
    if not 0 <= data.foreign_percent <= 500:
        raise ReportError(_("Procentsatsen för utlandstraktamente måste vara mellan 0 och 500."))
    policy = db.session.scalar(
        db.select(AllowancePolicy).where(
            AllowancePolicy.organization_id == actor.organization_id,
            AllowancePolicy.valid_from == data.valid_from,
        )
    )
    if policy is None:
        policy = AllowancePolicy(organization_id=actor.organization_id, valid_from=data.valid_from)
        db.session.add(policy)
    ore = {
        "own_car_ore_per_mil": data.own_car,
        "company_car_ore_per_mil": data.company_car,
        "electric_company_car_ore_per_mil": data.electric_company_car,
        "motorcycle_ore_per_mil": data.motorcycle,
        "moped_ore_per_mil": data.moped,
        "other_vehicle_ore_per_mil": data.other_vehicle,
        "full_day_ore": data.full_day,
        "half_day_ore": data.half_day,
        "night_ore": data.night,
    }
    for column, value in ore.items():
        setattr(policy, column, None if value is None else to_ore(value))
    policy.one_day_ore = to_ore(data.one_day)
    policy.foreign_percent = data.foreign_percent
    policy.created_by_id = actor.id
    db.session.flush()
    audit.record(
        "allowance_policy.saved",
        actor=actor,
        organization_id=actor.organization_id,
        obj=policy,
        valid_from=data.valid_from.isoformat(),
    )
    return policy


def countries(organization_id: int) -> list[tuple[str, str]]:
    """Every country an employee may choose: all of Brygga's tables and the organization's
    imported ones, then "Övriga länder och områden"."""
    return country_choices(imported_tables(organization_id))


# --- the employee's changes --------------------------------------------------------------------


def create_report(user: User, title: str) -> ExpenseReport:
    title = title.strip()
    if not title:
        raise ReportError(_("Ge rapporten ett namn."))
    report = ExpenseReport(
        organization_id=user.organization_id, employee_id=user.id, title=title[:200]
    )
    db.session.add(report)
    db.session.flush()
    audit.record("report.created", actor=user, organization_id=user.organization_id, obj=report)
    return report


def _check_editable(report: ExpenseReport, user: User) -> None:
    if report.employee_id != user.id:
        raise NotFound
    if not report.is_editable:
        raise ReportError(_("Rapporten är inskickad och kan inte ändras. Dra tillbaka den först."))


def _missing_year(year: int) -> ReportError:
    return ReportError(
        _(
            "Brygga har inga regler för år %(year)d. En administratör kan lägga in årets värden "
            "under Inställningar → Årets belopp.",
            year=year,
        )
    )


def _rules(organization_id: int, year: int):
    """The year's rules for the organization; never last year's amounts for a new year."""
    try:
        return rules_for(organization_id, year)
    except RulesMissing:
        raise _missing_year(year) from None


@dataclass
class OutlayInput:
    date: date
    description: str
    category: str
    amount: Decimal
    vat: Decimal
    cost_center_code: str | None
    receipt: CheckedReceipt | None


@dataclass
class MileageInput:
    date: date
    from_place: str
    to_place: str
    purpose: str
    km: Decimal
    vehicle: VehicleKind
    employee_paid_fuel: bool = True


@dataclass
class PerDiemInput:
    purpose: str
    destination: str
    country_code: str
    departs_at: datetime
    returns_at: datetime
    far_from_home: bool = True
    lodging_paid_by_employer: bool = False
    assignment_start: date | None = None
    meals: dict[date, DayMeals] = field(default_factory=dict)
    stayed_overnight: bool = True
    # Further countries after the first, in order: (country code, from).
    legs: list[tuple[str, datetime]] = field(default_factory=list)


def _store_calculation(line: ExpenseLine, result: Calculation) -> None:
    line.parts = [part.to_json() for part in result.parts]
    line.tax_free_ore = to_ore(result.tax_free)
    line.taxable_ore = to_ore(result.taxable)
    line.rule_year = result.rule_year
    line.calculation = result.details


def _add_line(report: ExpenseReport, user: User, line: ExpenseLine, result: Calculation):
    _store_calculation(line, result)
    report.lines.append(line)
    db.session.flush()
    audit.record(
        "report.line_added",
        actor=user,
        organization_id=report.organization_id,
        obj=report,
        line_id=line.id,
        kind=line.kind.value,
        tax_free=str(result.tax_free),
        taxable=str(result.taxable),
    )
    return line


def add_outlay(report: ExpenseReport, user: User, data: OutlayInput) -> ExpenseLine:
    _check_editable(report, user)
    amount, vat = to_money(data.amount), to_money(data.vat)
    if amount <= 0 or amount > MAX_AMOUNT:
        raise ReportError(_("Beloppet måste vara större än 0 och högst 1 000 000 kr."))
    if vat < 0 or vat > amount:
        raise ReportError(_("Momsen kan inte vara negativ eller större än beloppet."))
    if data.receipt is None:
        raise ReportError(_("Bifoga kvittot (JPEG, PNG eller PDF)."))
    line = ExpenseLine(
        kind=LineKind.OUTLAY,
        date=data.date,
        description=data.description.strip()[:300],
        category=data.category.strip()[:100],
        amount_ore=to_ore(amount),
        vat_ore=to_ore(vat),
        cost_center_code=(data.cost_center_code or "").strip()[:50] or None,
    )
    line.receipt = Receipt(
        filename=data.receipt.filename,
        content_type=data.receipt.content_type,
        size=len(data.receipt.data),
        data=data.receipt.data,
    )
    result = Calculation(
        (PayPart(PayItem.OUTLAY, Decimal(1), amount, amount),),
        None,
        {"kind": "outlay", "amount": str(amount), "vat": str(vat)},
    )
    return _add_line(report, user, line, result)


def add_mileage(report: ExpenseReport, user: User, data: MileageInput) -> ExpenseLine:
    _check_editable(report, user)
    km = data.km.quantize(Decimal("0.1"))
    rules = _rules(report.organization_id, data.date.year)
    policy = policy_on(report.organization_id, data.date)
    try:
        result = calculate_mileage(
            km,
            data.vehicle,
            rules,
            paid_rate=mileage_rate(policy, data.vehicle),
            employee_paid_fuel=data.employee_paid_fuel,
        )
    except MileageError as error:
        raise ReportError(str(error)) from error
    line = ExpenseLine(
        kind=LineKind.MILEAGE,
        date=data.date,
        description=data.purpose.strip()[:300],
        from_place=data.from_place.strip()[:200],
        to_place=data.to_place.strip()[:200],
        km_tenths=int(km * 10),
        vehicle=data.vehicle.value,
        employee_paid_fuel=data.employee_paid_fuel,
    )
    return _add_line(report, user, line, result)


def add_per_diem(report: ExpenseReport, user: User, data: PerDiemInput) -> list[ExpenseLine]:
    """Save a trip: one line per income year (a trip over New Year is split by itself, each part
    with its own year's amounts; the lines share a trip id)."""
    _check_editable(report, user)
    org = report.organization_id
    country = (data.country_code or DOMESTIC).upper()
    trip = Trip(
        departs_at=data.departs_at,
        returns_at=data.returns_at,
        country_code=country,
        far_from_home=data.far_from_home,
        lodging_paid_by_employer=data.lodging_paid_by_employer,
        assignment_start=data.assignment_start,
        meals=data.meals,
        stayed_overnight=data.stayed_overnight,
        legs=tuple(Leg(code.upper(), starts_at) for code, starts_at in data.legs),
    )
    allowed = {code for code, _name in countries(org)}

    def rules_of(year: int):
        return _rules(org, year)

    def policy_of(year: int) -> PerDiemPolicy:
        day = max(data.departs_at.date(), date(year, 1, 1))
        return per_diem_policy(policy_on(org, day))

    try:
        results = calculate_trip(
            trip, rules_of, policy_of, lambda year: foreign_table_for(org, year), allowed
        )
    except TripError as error:
        raise ReportError(str(error)) from error
    trip_id = uuid.uuid4().hex if len(results) > 1 else None
    legs = [
        {
            "country": c,
            "from": a.isoformat(timespec="minutes"),
            "to": b.isoformat(timespec="minutes"),
        }
        for c, a, b in trip.all_legs()
    ]
    lines = []
    for result in results:
        year = result.rule_year
        assert year is not None
        start = max(data.departs_at, datetime(year, 1, 1))
        end = min(data.returns_at, datetime(year + 1, 1, 1))
        if not trip.overnight:  # a one-day trip belongs wholly to its first year
            start, end = data.departs_at, data.returns_at
        first, last = start.date(), (end - timedelta(microseconds=1)).date()
        days = {d: m for d, m in sorted(data.meals.items()) if first <= d <= last and m.provided()}
        line = ExpenseLine(
            kind=LineKind.PER_DIEM,
            date=first,
            description=data.purpose.strip()[:300],
            destination=data.destination.strip()[:200],
            country_code=result.details.get("country") or country,
            departs_at=start,
            returns_at=end,
            far_from_home=data.far_from_home,
            lodging_paid_by_employer=data.lodging_paid_by_employer,
            assignment_start=data.assignment_start,
            meals={d.isoformat(): [m.value for m in ms.meals()] for d, ms in days.items()},
            meal_kinds={
                d.isoformat(): {m.value: p.value for m, p in ms.provided().items()}
                for d, ms in days.items()
            },
            stayed_overnight=trip.overnight,
            legs=legs,
            trip_id=trip_id,
        )
        lines.append(_add_line(report, user, line, result))
    return lines


def delete_line(report: ExpenseReport, user: User, line: ExpenseLine) -> None:
    """Delete a line; the parts of a trip over New Year go together."""
    _check_editable(report, user)
    together = [line]
    if line.trip_id:
        together = [other for other in report.lines if other.trip_id == line.trip_id]
    for each in together:
        report.lines.remove(each)
        audit.record(
            "report.line_deleted",
            actor=user,
            organization_id=report.organization_id,
            obj=report,
            line_id=each.id,
            kind=each.kind.value,
        )


def submit(report: ExpenseReport, user: User) -> None:
    _check_editable(report, user)
    if not report.lines:
        raise ReportError(_("Lägg till minst en rad innan du skickar in rapporten."))
    report.status = ReportStatus.SUBMITTED
    report.submitted_at = utcnow()
    report.rejection_reason = None
    for line in report.lines:  # a resubmitted report is reviewed afresh
        line.rejected, line.rejection_reason = False, None
    audit.record("report.submitted", actor=user, organization_id=report.organization_id, obj=report)


def withdraw(report: ExpenseReport, user: User) -> None:
    if report.employee_id != user.id:
        raise NotFound
    if report.status != ReportStatus.SUBMITTED:
        raise ReportError(_("Bara en inskickad rapport som inte är attesterad kan dras tillbaka."))
    report.status = ReportStatus.DRAFT
    report.submitted_at = None
    audit.record("report.withdrawn", actor=user, organization_id=report.organization_id, obj=report)


# --- the approver's decisions ------------------------------------------------------------------


def _check_decidable(report: ExpenseReport, user: User) -> None:
    if not user.can_approve or report.organization_id != user.organization_id:
        raise NotFound
    if report.employee_id == user.id:
        raise ReportError(_("Du kan inte attestera din egen rapport."))
    if report.status != ReportStatus.SUBMITTED:
        raise ReportError(_("Rapporten väntar inte på attest."))


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReportError(_("Skriv varför, så att den anställde vet vad som ska rättas."))
    return reason[:1000]


def approve(report: ExpenseReport, user: User) -> None:
    _check_decidable(report, user)
    if not report.active_lines:
        raise ReportError(_("Alla rader är avvisade. Avvisa hela rapporten i stället."))
    report.status = ReportStatus.APPROVED
    report.decided_at = utcnow()
    report.decided_by_id = user.id
    audit.record(
        "report.approved",
        actor=user,
        organization_id=report.organization_id,
        obj=report,
        tax_free=str(report.tax_free),
        taxable=str(report.taxable),
    )


def reject(report: ExpenseReport, user: User, reason: str) -> None:
    """Send the whole report back to the employee with a reason they see."""
    _check_decidable(report, user)
    report.rejection_reason = _reason(reason)
    report.status = ReportStatus.REJECTED
    report.decided_at = utcnow()
    report.decided_by_id = user.id
    audit.record("report.rejected", actor=user, organization_id=report.organization_id, obj=report)


def reject_line(report: ExpenseReport, user: User, line: ExpenseLine, reason: str) -> None:
    """Take one line out of the report with a reason; the rest can still be approved."""
    _check_decidable(report, user)
    line.rejection_reason = _reason(reason)
    line.rejected = True
    audit.record(
        "report.line_rejected",
        actor=user,
        organization_id=report.organization_id,
        obj=report,
        line_id=line.id,
    )
