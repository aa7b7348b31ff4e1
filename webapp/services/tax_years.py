"""A payroll year's values: where each year's rules come from, entering next year's, the foreign
per-diem table as Skatteverket publishes it, and the reminder before the year turns.

Brygga ships the years it knows (`webapp/rules/se-YYYY.json`). For a year it does not ship, an
admin (or an operator, `flask tax-year set`) enters the prisbasbelopp, the mileage amounts and the
kostförmån values, sees the amounts that follow and confirms them; the foreign table is imported
from Skatteverket's own text or CSV after a look at what was read. A year without values has no
rules: Brygga refuses its lines rather than use last year's amounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from webapp.extensions import db
from webapp.models import (
    ForeignPerDiemTable,
    Organization,
    Role,
    TaxYearReminder,
    TaxYearValues,
    User,
)
from webapp.models.base import table_of, utcnow
from webapp.services import audit, mail
from webapp.services.pay_parts import to_ore
from webapp.services.rates import (
    ForeignTable,
    ForeignTableError,
    MealBenefit,
    RulesMissing,
    TableChange,
    TableReading,
    VehicleKind,
    YearRules,
    available_years,
    compare_tables,
    known_countries,
    parse_foreign_table,
    read_published_table,
    rules_for_year,
    rules_from_values,
    shipped_foreign_table,
    shipped_foreign_table_file,
)
from webapp.tenancy import all_organizations, tenant

STOCKHOLM = ZoneInfo("Europe/Stockholm")
FIRST_YEAR = 2020
NOTICE_FROM = (12, 1)  # from 1 December, next year's values are asked for
MAX_TABLE_CHARS = 200_000


def today() -> date:
    """Today in Sweden (tests replace this to stand on another day)."""
    return datetime.now(STOCKHOLM).date()


class TaxYearError(ValueError):
    """Values that cannot be saved; the message is for the admin or operator."""


# --- where a year's rules come from -------------------------------------------------------------


def entered_values(organization_id: int, year: int) -> TaxYearValues | None:
    return db.session.scalar(
        db.select(TaxYearValues).where(
            TaxYearValues.organization_id == organization_id, TaxYearValues.year == year
        )
    )


def _kr(ore: int) -> Decimal:
    return (Decimal(ore) / 100).quantize(Decimal("0.01"))


def _rules_from_row(row: TaxYearValues) -> YearRules:
    return rules_from_values(
        row.year,
        row.price_base_amount,
        {
            VehicleKind.OWN_CAR: _kr(row.own_car_ore_per_mil),
            VehicleKind.COMPANY_CAR: _kr(row.company_car_ore_per_mil),
            VehicleKind.ELECTRIC_COMPANY_CAR: _kr(row.electric_company_car_ore_per_mil),
        },
        MealBenefit(
            whole_day=_kr(row.benefit_whole_day_ore),
            lunch_or_dinner=_kr(row.benefit_lunch_or_dinner_ore),
            breakfast=_kr(row.benefit_breakfast_ore),
        ),
        source=f"prisbasbelopp {row.price_base_amount}, entered in Brygga",
    )


def rules_for(organization_id: int, year: int) -> YearRules:
    """The year's rules: Brygga's own file for the year, else the values the organization
    entered. Raises `RulesMissing` otherwise: never last year's amounts."""
    try:
        return rules_for_year(year)
    except RulesMissing:
        pass
    row = entered_values(organization_id, year)
    if row is None:
        raise RulesMissing(year)
    return _rules_from_row(row)


def has_rules(organization_id: int, year: int) -> bool:
    return year in available_years() or entered_values(organization_id, year) is not None


def foreign_table_for(organization_id: int, year: int) -> ForeignTable | None:
    """The year's foreign per-diem table: the one Brygga ships, else one the admin imported."""
    shipped = shipped_foreign_table(year)
    if shipped is not None:
        return shipped
    row = imported_table(organization_id, year)
    return parse_foreign_table(row.csv_text, year) if row else None


def imported_table(organization_id: int, year: int) -> ForeignPerDiemTable | None:
    return db.session.scalar(
        db.select(ForeignPerDiemTable).where(
            ForeignPerDiemTable.organization_id == organization_id,
            ForeignPerDiemTable.year == year,
        )
    )


def imported_tables(organization_id: int) -> list[ForeignTable]:
    rows = db.session.scalars(
        db.select(ForeignPerDiemTable).where(ForeignPerDiemTable.organization_id == organization_id)
    )
    tables = []
    for row in rows:
        try:
            tables.append(parse_foreign_table(row.csv_text, row.year))
        except ForeignTableError:  # pragma: no cover - stored tables were read before saving
            continue
    return tables


# --- the years an admin sees --------------------------------------------------------------------


@dataclass(frozen=True)
class YearStatus:
    year: int
    shipped: bool  # Brygga's own file has the year's amounts
    entered: TaxYearValues | None
    table_shipped: bool
    table_imported: ForeignPerDiemTable | None

    @property
    def has_rules(self) -> bool:
        return self.shipped or self.entered is not None

    @property
    def has_table(self) -> bool:
        return self.table_shipped or self.table_imported is not None

    @property
    def missing(self) -> bool:
        """Kept for the settings summary: the foreign table is missing."""
        return not self.has_table


def year_statuses(organization_id: int, today: date) -> list[YearStatus]:
    """Every year Brygga ships or the organization entered, this year, and from 1 December
    next year; newest first."""
    entered = {
        row.year: row
        for row in db.session.scalars(
            db.select(TaxYearValues).where(TaxYearValues.organization_id == organization_id)
        )
    }
    years = set(available_years()) | set(entered) | {today.year}
    if _notice_time(today):
        years.add(today.year + 1)
    return [
        YearStatus(
            year,
            year in available_years(),
            entered.get(year),
            shipped_foreign_table(year) is not None,
            imported_table(organization_id, year),
        )
        for year in sorted(years, reverse=True)
    ]


def _notice_time(today: date) -> bool:
    return (today.month, today.day) >= NOTICE_FROM


@dataclass(frozen=True)
class MissingYear:
    """Next year's values are not all there yet (shown from 1 December)."""

    year: int
    values: bool  # prisbasbelopp, mileage and kostförmån are missing
    table: bool  # the foreign table is missing


def next_year_missing(organization_id: int, today: date) -> MissingYear | None:
    """From 1 December: what of next year's values the organization still lacks, or None."""
    if not _notice_time(today):
        return None
    year = today.year + 1
    values, table = year not in available_years(), shipped_foreign_table_file(year) is None
    if values or table:
        # Whether the organization entered the values or imported the table, in one round trip:
        # the Settings page asks every time (the table itself is not read, let alone parsed).
        entered, imported = db.session.execute(
            _NEXT_YEAR_ENTERED, {"organization_id": organization_id, "year": year}
        ).one()
        values, table = values and not entered, table and not imported
    if not values and not table:
        return None
    return MissingYear(year, values, table)


def _entered(model: type) -> Any:
    table = table_of(model)
    return (
        select(table.c.id)
        .where(
            table.c.organization_id == bindparam("organization_id"),
            table.c.year == bindparam("year"),
        )
        .exists()
    )


# Core on the tables, each filtered by the organization (built once).
_NEXT_YEAR_ENTERED = select(_entered(TaxYearValues), _entered(ForeignPerDiemTable))


def current_tables_missing(organization_id: int, today: date) -> list[int]:
    """This year (and from 1 December next year) without a foreign table: foreign trips of those
    years cannot be calculated. Older years are not nagged about."""
    years = [today.year] + ([today.year + 1] if _notice_time(today) else [])
    return [y for y in years if foreign_table_for(organization_id, y) is None]


# --- entering a year's values -------------------------------------------------------------------


@dataclass(frozen=True)
class YearValuesInput:
    year: int
    price_base_amount: int
    own_car: Decimal
    company_car: Decimal
    electric_company_car: Decimal
    benefit_whole_day: Decimal
    benefit_lunch_or_dinner: Decimal
    benefit_breakfast: Decimal


def check_values(data: YearValuesInput, today: date) -> YearRules:
    """The rules the values give (for the admin to confirm); raises `TaxYearError` for values
    that cannot be a year's."""
    if not FIRST_YEAR <= data.year <= today.year + 1:
        raise TaxYearError(
            _(
                "Året måste vara mellan %(first)d och %(last)d.",
                first=FIRST_YEAR,
                last=today.year + 1,
            )
        )
    if data.year in available_years():
        raise TaxYearError(_("Brygga har redan Skatteverkets belopp för %(year)d.", year=data.year))
    if not 20_000 <= data.price_base_amount <= 200_000:
        raise TaxYearError(_("Prisbasbeloppet måste vara mellan 20 000 och 200 000 kr."))
    mileage = [data.own_car, data.company_car, data.electric_company_car]
    if any(not Decimal(0) < rate <= Decimal(100) for rate in mileage):
        raise TaxYearError(_("Milersättningen måste vara större än 0 och högst 100 kr per mil."))
    benefits = [data.benefit_whole_day, data.benefit_lunch_or_dinner, data.benefit_breakfast]
    if any(not Decimal(0) < value <= Decimal(5000) for value in benefits):
        raise TaxYearError(_("Kostförmånens värden måste vara större än 0 och högst 5 000 kr."))
    if data.benefit_whole_day < max(data.benefit_lunch_or_dinner, data.benefit_breakfast):
        raise TaxYearError(_("Kostförmån för en hel dag kan inte vara lägre än för en måltid."))
    return rules_from_values(
        data.year,
        data.price_base_amount,
        {
            VehicleKind.OWN_CAR: data.own_car,
            VehicleKind.COMPANY_CAR: data.company_car,
            VehicleKind.ELECTRIC_COMPANY_CAR: data.electric_company_car,
        },
        MealBenefit(data.benefit_whole_day, data.benefit_lunch_or_dinner, data.benefit_breakfast),
        source="preview",
    )


def save_values(
    organization_id: int, data: YearValuesInput, today: date, actor: User | None = None
) -> TaxYearValues:
    """Store confirmed values (replacing the organization's earlier ones for the year). `actor`
    None: an operator on the command line. The caller commits."""
    rules = check_values(data, today)
    row = entered_values(organization_id, data.year)
    if row is None:
        row = TaxYearValues(organization_id=organization_id, year=data.year)
        db.session.add(row)
    row.price_base_amount = data.price_base_amount
    row.own_car_ore_per_mil = to_ore(data.own_car)
    row.company_car_ore_per_mil = to_ore(data.company_car)
    row.electric_company_car_ore_per_mil = to_ore(data.electric_company_car)
    row.benefit_whole_day_ore = to_ore(data.benefit_whole_day)
    row.benefit_lunch_or_dinner_ore = to_ore(data.benefit_lunch_or_dinner)
    row.benefit_breakfast_ore = to_ore(data.benefit_breakfast)
    row.confirmed_by_id = actor.id if actor else None
    row.confirmed_by_operator = actor is None
    row.created_at = utcnow()
    db.session.flush()
    audit.record(
        "tax_year.values_confirmed",
        actor=actor,
        organization_id=organization_id,
        obj=row,
        year=data.year,
        price_base_amount=data.price_base_amount,
        full_day=str(rules.domestic.full_day),
        by_operator=actor is None,
    )
    return row


def values_input(row: TaxYearValues) -> YearValuesInput:
    """The stored values as the form shows them (to change a year's values)."""
    return YearValuesInput(
        row.year,
        row.price_base_amount,
        _kr(row.own_car_ore_per_mil),
        _kr(row.company_car_ore_per_mil),
        _kr(row.electric_company_car_ore_per_mil),
        _kr(row.benefit_whole_day_ore),
        _kr(row.benefit_lunch_or_dinner_ore),
        _kr(row.benefit_breakfast_ore),
    )


# --- the foreign table --------------------------------------------------------------------------


@dataclass
class TablePreview:
    """What an admin's text gave, before anything is saved."""

    year: int
    reading: TableReading
    table: ForeignTable | None
    previous_year: int
    changes: list[TableChange]
    has_previous: bool

    @property
    def count(self) -> int:
        return 0 if self.table is None else len(self.table.amounts)

    @property
    def other_countries(self) -> Decimal | None:
        return None if self.table is None else self.table.other_countries


def importable_years(organization_id: int, today: date) -> list[int]:
    """Years whose table an admin may import: those Brygga does not ship a table for, up to next
    year, that have rules (shipped or entered) or are this year or next."""
    years = {s.year for s in year_statuses(organization_id, today)} | {today.year + 1}
    return sorted(
        (
            y
            for y in years
            if FIRST_YEAR <= y <= today.year + 1 and shipped_foreign_table(y) is None
        ),
        reverse=True,
    )


def read_table(organization_id: int, year: int, text: str) -> TablePreview:
    """Read the admin's text or file and compare it with last year's table."""
    if len(text) > MAX_TABLE_CHARS:
        raise TaxYearError(_("Texten är för lång för en tabell över normalbelopp."))
    codes = {name: code for code, name in known_countries()}
    for imported in imported_tables(organization_id):
        codes.update({name: code for code, name in imported.names.items()})
    reading = read_published_table(text, year, codes)
    table = reading.table
    previous = foreign_table_for(organization_id, year - 1)
    changes = compare_tables(previous, table) if table is not None else []
    return TablePreview(year, reading, table, year - 1, changes, previous is not None)


def import_table(actor: User, year: int, text: str, today: date) -> ForeignPerDiemTable:
    """Store Skatteverket's table for a year Brygga does not ship (replacing an earlier import)."""
    if year not in importable_years(actor.organization_id, today):
        raise TaxYearError(_("Tabellen för %(year)d kan inte importeras.", year=year))
    preview = read_table(actor.organization_id, year, text)
    if preview.table is None or not preview.table.amounts:
        raise TaxYearError(_("Brygga kunde inte läsa några länder med belopp ur texten."))
    row = imported_table(actor.organization_id, year)
    if row is None:
        row = ForeignPerDiemTable(organization_id=actor.organization_id, year=year)
        db.session.add(row)
    row.csv_text = preview.reading.to_csv()
    row.country_count = preview.count
    row.imported_by_id = actor.id
    row.created_at = utcnow()
    db.session.flush()
    audit.record(
        "foreign_per_diem_table.imported",
        actor=actor,
        organization_id=actor.organization_id,
        obj=row,
        year=year,
        countries=preview.count,
        changes=len(preview.changes),
        not_understood=len(preview.reading.not_understood),
    )
    return row


# --- the reminder -------------------------------------------------------------------------------


def remind_admins(now: datetime | None = None) -> int:
    """From 1 December, mail each organization's admins once that next year's values are
    missing (the clock calls this every tick). Returns how many organizations were mailed."""
    day = now.astimezone(STOCKHOLM).date() if now else today()
    if not _notice_time(day):
        return 0
    year = day.year + 1
    with all_organizations():
        organizations = list(db.session.scalars(db.select(Organization.id)))
    mailed = 0
    for organization_id in organizations:
        with tenant(organization_id):
            if _remind(organization_id, year, day):
                mailed += 1
    return mailed


def _remind(organization_id: int, year: int, today: date) -> bool:
    already = db.session.scalar(
        db.select(TaxYearReminder).where(
            TaxYearReminder.organization_id == organization_id, TaxYearReminder.year == year
        )
    )
    if already is not None:
        return False
    missing = next_year_missing(organization_id, today)
    if missing is None:
        return False
    admins = list(
        db.session.scalars(
            db.select(User).where(
                User.organization_id == organization_id,
                User.role == Role.ADMIN,
                User.password_hash.is_not(None),
            )
        )
    )
    # Claim the reminder first: two clocks (or a retry) never mail twice.
    db.session.add(
        TaxYearReminder(organization_id=organization_id, year=year, recipients=len(admins))
    )
    db.session.commit()
    link = f"{current_app.config['PUBLIC_URL'].rstrip('/')}/reports/years"
    for admin in admins:
        body = render_template(
            "mail/tax_year_missing.txt", person=admin, missing=missing, link=link
        )
        mail.send([admin.email], _("Brygga behöver värdena för %(year)d", year=year), body)
    return True
