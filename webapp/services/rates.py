"""Skatteverket's amounts per income year, read from `webapp/rules/` once per process.

Pure: no database, no Flask. Tables that an admin imports live in the database; the
`expense_reports` service parses them with `parse_foreign_table` and passes them in.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources

from flask_babel import gettext as _

RULES_PACKAGE = "webapp.rules"
OTHER_COUNTRIES = "Övriga länder och områden"
DOMESTIC = "SE"


class VehicleKind(enum.StrEnum):
    OWN_CAR = "own_car"
    COMPANY_CAR = "company_car"
    ELECTRIC_COMPANY_CAR = "electric_company_car"


class Meal(enum.StrEnum):
    BREAKFAST = "breakfast"
    LUNCH = "lunch"
    DINNER = "dinner"


class RulesMissing(LookupError):
    """Brygga has no rules for that income year."""


class ForeignTableError(ValueError):
    """An imported foreign per-diem table could not be read; the message is for the admin."""


@dataclass(frozen=True)
class DomesticAmounts:
    full_day: Decimal
    half_day: Decimal
    night: Decimal
    after_3_months: Decimal
    after_2_years: Decimal


@dataclass(frozen=True)
class YearRules:
    year: int
    source: str
    mileage_per_mil: dict[VehicleKind, Decimal]
    domestic: DomesticAmounts
    foreign_half_day_percent: Decimal
    foreign_night_percent: Decimal
    foreign_after_3_months_percent: Decimal
    foreign_after_2_years_percent: Decimal
    foreign_table_file: str | None
    meal_percent_domestic: dict[Meal, Decimal]
    meal_percent_foreign: dict[Meal, Decimal]
    meal_rounding: Decimal
    min_distance_km: int
    full_day_departure_before: time
    full_day_return_after: time


def _dec(value: str | int) -> Decimal:
    return Decimal(str(value))


@cache
def available_years() -> tuple[int, ...]:
    names = [p.name for p in resources.files(RULES_PACKAGE).iterdir()]
    return tuple(sorted(int(n[3:7]) for n in names if n.startswith("se-") and n.endswith(".json")))


@cache
def rules_for_year(year: int) -> YearRules:
    """The year's rules; raises `RulesMissing` for a year without a `se-YYYY.json`."""
    path = resources.files(RULES_PACKAGE) / f"se-{year}.json"
    if not path.is_file():
        raise RulesMissing(year)
    data = json.loads(path.read_text(encoding="utf-8"))
    dom = data["domestic"]
    foreign = data["foreign"]
    meals = data["meal_reduction"]
    return YearRules(
        year=data["year"],
        source=data["source"],
        mileage_per_mil={VehicleKind(k): _dec(v) for k, v in data["mileage_per_mil"].items()},
        domestic=DomesticAmounts(
            full_day=_dec(dom["full_day"]),
            half_day=_dec(dom["half_day"]),
            night=_dec(dom["night"]),
            after_3_months=_dec(dom["after_3_months"]),
            after_2_years=_dec(dom["after_2_years"]),
        ),
        foreign_half_day_percent=_dec(foreign["half_day_percent"]),
        foreign_night_percent=_dec(foreign["night_percent"]),
        foreign_after_3_months_percent=_dec(foreign["after_3_months_percent"]),
        foreign_after_2_years_percent=_dec(foreign["after_2_years_percent"]),
        foreign_table_file=foreign["table"],
        meal_percent_domestic={Meal(k): _dec(v) for k, v in meals["domestic_percent"].items()},
        meal_percent_foreign={Meal(k): _dec(v) for k, v in meals["foreign_percent"].items()},
        meal_rounding=_dec(meals["rounding"]),
        min_distance_km=int(data["min_distance_km"]),
        full_day_departure_before=time.fromisoformat(data["full_day_departure_before"]),
        full_day_return_after=time.fromisoformat(data["full_day_return_after"]),
    )


@dataclass(frozen=True)
class ForeignTable:
    """Skatteverket's normalbelopp per country for one year, references resolved."""

    year: int
    amounts: dict[str, Decimal]  # ISO code -> kr per full day
    names: dict[str, str]  # ISO code -> Swedish name
    other_countries: Decimal | None  # "Övriga länder och områden"

    def amount_for(self, code: str) -> Decimal | None:
        """The country's amount; a country missing from the table gets "Övriga länder"."""
        return self.amounts.get(code.upper(), self.other_countries)


FOREIGN_COLUMNS = ["country_sv", "iso_code", "amount_sek", "see_also"]


def parse_foreign_table(text: str, year: int) -> ForeignTable:
    """Read a table in the shipped CSV shape (`country_sv,iso_code,amount_sek,see_also`)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != FOREIGN_COLUMNS:
        raise ForeignTableError(
            _("Filen måste ha kolumnerna %(columns)s.", columns=",".join(FOREIGN_COLUMNS))
        )
    by_name: dict[str, Decimal] = {}
    rows = []
    for number, row in enumerate(reader, start=2):
        name = (row["country_sv"] or "").strip()
        code = (row["iso_code"] or "").strip().upper()
        raw_amount = (row["amount_sek"] or "").strip().replace(" ", "")
        see_also = (row["see_also"] or "").strip()
        if not name or (not raw_amount and not see_also):
            raise ForeignTableError(_("Rad %(n)d saknar land eller belopp.", n=number))
        if raw_amount:
            try:
                amount = Decimal(raw_amount.replace(",", "."))
            except InvalidOperation:
                raise ForeignTableError(_("Rad %(n)d har ett ogiltigt belopp.", n=number)) from None
            if amount <= 0 or amount > 100000:
                raise ForeignTableError(_("Rad %(n)d har ett ogiltigt belopp.", n=number))
            by_name[name] = amount
        rows.append((name, code, see_also))
    amounts: dict[str, Decimal] = {}
    names: dict[str, str] = {}
    for name, code, see_also in rows:
        found = by_name.get(name) if name in by_name else by_name.get(see_also)
        if found is None:
            raise ForeignTableError(
                _("%(name)s hänvisar till %(other)s, som saknas.", name=name, other=see_also)
            )
        if code:
            amounts[code] = found
            names[code] = name
    if not amounts:
        raise ForeignTableError(_("Filen innehåller inga länder."))
    return ForeignTable(year, amounts, names, by_name.get(OTHER_COUNTRIES))


@cache
def shipped_foreign_table(year: int) -> ForeignTable | None:
    """The foreign table that ships with Brygga for the year, or None."""
    try:
        rules = rules_for_year(year)
    except RulesMissing:
        return None
    if not rules.foreign_table_file:
        return None
    path = resources.files(RULES_PACKAGE).joinpath(*rules.foreign_table_file.split("/"))
    return parse_foreign_table(path.read_text(encoding="utf-8"), year)


@cache
def known_countries() -> tuple[tuple[str, str], ...]:
    """(ISO code, Swedish name) of every country in the newest shipped table, by name."""
    for year in reversed(available_years()):
        table = shipped_foreign_table(year)
        if table is not None:
            return tuple(sorted(table.names.items(), key=lambda item: item[1]))
    return ()


def country_name(code: str) -> str:
    if code == DOMESTIC:
        return "Sverige"
    return dict(known_countries()).get(code, code)
