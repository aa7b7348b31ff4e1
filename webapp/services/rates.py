"""Skatteverket's amounts per income year, read from `webapp/rules/` once per process.

Pure: no database, no Flask. Tables that an admin imports live in the database; the
`expense_reports` service parses them with `parse_foreign_table` and passes them in.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import re
from dataclasses import dataclass
from datetime import time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
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
    # Tax-free milersättning covers cars only: for these everything paid is taxable salary.
    MOTORCYCLE = "motorcycle"
    MOPED = "moped"
    OTHER_VEHICLE = "other_vehicle"

    @property
    def has_tax_free_rate(self) -> bool:
        return self in CARS


CARS = (VehicleKind.OWN_CAR, VehicleKind.COMPANY_CAR, VehicleKind.ELECTRIC_COMPANY_CAR)


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
class MealBenefit:
    """Kostförmån: the taxable value of free meals, set by Skatteverket per year."""

    whole_day: Decimal
    lunch_or_dinner: Decimal
    breakfast: Decimal

    def value_of(self, meal: Meal) -> Decimal:
        return self.breakfast if meal == Meal.BREAKFAST else self.lunch_or_dinner


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
    price_base_amount: int | None = None
    meal_benefit: MealBenefit | None = None


# --- what the law fixes, whatever the year ------------------------------------------------------
# Inkomstskattelagen 12 kap. 8-10 §§ and Skatteverket's allmänna råd: the domestic full day is
# 0.5 % of the year's prisbasbelopp rounded to the nearest ten kronor; half day and night are
# half of it; after three months 70 %, after two years 50 %; meal reductions are fixed shares
# of the day's maximum. Only the prisbasbelopp changes from year to year.
FULL_DAY_SHARE_OF_PRICE_BASE = Decimal("0.005")
FULL_DAY_ROUNDING = Decimal(10)
HALF_DAY_PERCENT = Decimal(50)
NIGHT_PERCENT = Decimal(50)
AFTER_3_MONTHS_PERCENT = Decimal(70)
AFTER_2_YEARS_PERCENT = Decimal(50)
MEAL_PERCENT_DOMESTIC = {
    Meal.BREAKFAST: Decimal(20),
    Meal.LUNCH: Decimal(35),
    Meal.DINNER: Decimal(35),
}
MEAL_PERCENT_FOREIGN = {
    Meal.BREAKFAST: Decimal(15),
    Meal.LUNCH: Decimal(35),
    Meal.DINNER: Decimal(35),
}
MIN_DISTANCE_KM = 50
FULL_DAY_DEPARTURE_BEFORE = time(12, 0)
FULL_DAY_RETURN_AFTER = time(19, 0)


def derive_domestic(price_base_amount: int | Decimal) -> DomesticAmounts:
    """The domestic per-diem maxima that follow from a year's prisbasbelopp."""
    exact = Decimal(price_base_amount) * FULL_DAY_SHARE_OF_PRICE_BASE / FULL_DAY_ROUNDING
    full = exact.quantize(Decimal(1), rounding=ROUND_HALF_UP) * FULL_DAY_ROUNDING

    def share(percent: Decimal) -> Decimal:
        return (full * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)

    return DomesticAmounts(
        full_day=full,
        half_day=share(HALF_DAY_PERCENT),
        night=share(NIGHT_PERCENT),
        after_3_months=share(AFTER_3_MONTHS_PERCENT),
        after_2_years=share(AFTER_2_YEARS_PERCENT),
    )


def meal_reductions(amounts: DomesticAmounts) -> dict[str, Decimal]:
    """The domestic full day's meal reductions (for showing an admin what a year gives)."""

    def share(*meals: Meal) -> Decimal:
        percent = sum((MEAL_PERCENT_DOMESTIC[m] for m in meals), Decimal(0))
        return (amounts.full_day * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)

    return {
        "breakfast": share(Meal.BREAKFAST),
        "lunch_or_dinner": share(Meal.LUNCH),
        "lunch_and_dinner": share(Meal.LUNCH, Meal.DINNER),
        "breakfast_and_one": share(Meal.BREAKFAST, Meal.LUNCH),
        "all_three": share(Meal.BREAKFAST, Meal.LUNCH, Meal.DINNER),
    }


def rules_from_values(
    year: int,
    price_base_amount: int,
    mileage_per_mil: dict[VehicleKind, Decimal],
    meal_benefit: MealBenefit,
    source: str,
) -> YearRules:
    """A year's rules from what an admin entered: amounts derived from the prisbasbelopp, the
    shares the law fixes, and the mileage and kostförmån amounts as entered."""
    return YearRules(
        year=year,
        source=source,
        mileage_per_mil=dict(mileage_per_mil),
        domestic=derive_domestic(price_base_amount),
        foreign_half_day_percent=HALF_DAY_PERCENT,
        foreign_night_percent=NIGHT_PERCENT,
        foreign_after_3_months_percent=AFTER_3_MONTHS_PERCENT,
        foreign_after_2_years_percent=AFTER_2_YEARS_PERCENT,
        foreign_table_file=None,
        meal_percent_domestic=dict(MEAL_PERCENT_DOMESTIC),
        meal_percent_foreign=dict(MEAL_PERCENT_FOREIGN),
        meal_rounding=Decimal(1),
        min_distance_km=MIN_DISTANCE_KM,
        full_day_departure_before=FULL_DAY_DEPARTURE_BEFORE,
        full_day_return_after=FULL_DAY_RETURN_AFTER,
        price_base_amount=price_base_amount,
        meal_benefit=meal_benefit,
    )


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
        price_base_amount=data.get("price_base_amount"),
        meal_benefit=MealBenefit(
            whole_day=_dec(data["meal_benefit"]["whole_day"]),
            lunch_or_dinner=_dec(data["meal_benefit"]["lunch_or_dinner"]),
            breakfast=_dec(data["meal_benefit"]["breakfast"]),
        )
        if "meal_benefit" in data
        else None,
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
        code = code.upper()
        if code == OTHER_CODE:
            return self.other_countries
        return self.amounts.get(code, self.other_countries)


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


# --- reading the table as Skatteverket publishes it --------------------------------------------

OTHER_CODE = "ZZ"  # "Övriga länder och områden": no ISO code of its own (ZZ is user-assigned)
_AMOUNT = re.compile(r"^(\d{1,3}(?:[ .\u00a0]\d{3})+|\d+)(?:[,.]00?)?(?:\s*kr)?$", re.IGNORECASE)
_CODE = re.compile(r"^[A-Z]{2}$")
_SEE = re.compile(r"^,?\s*se\s+(.+?)\.?$", re.IGNORECASE)
# A copied line of the allmänna råd: "Danmark DK 1 274", "Grönland GL se Danmark",
# "Grönland, se Danmark", "Övriga länder och områden 493".
_TEXT_ROW = re.compile(
    r"^(?P<name>.+?)(?:\s+(?P<code>[A-Z]{2}))?"
    r"(?:\s*,?\s+se\s+(?P<see>.+?)\.?|\s+(?P<amount>\d{1,3}(?:[ .\u00a0]\d{3})+|\d+)(?:\s*kr)?)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReadRow:
    name: str
    code: str
    amount: Decimal | None
    see_also: str


@dataclass
class TableReading:
    """What an admin's pasted text or file gave: the rows read, and the lines that were not."""

    year: int
    rows: list[ReadRow]
    not_understood: list[tuple[int, str]]

    @property
    def table(self) -> ForeignTable | None:
        """The table the rows make, or None when they make none."""
        try:
            return parse_foreign_table(self.to_csv(), self.year)
        except ForeignTableError:
            return None

    def to_csv(self) -> str:
        """The rows in Brygga's stored shape (`country_sv,iso_code,amount_sek,see_also`)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FOREIGN_COLUMNS)
        for row in self.rows:
            amount = "" if row.amount is None else str(row.amount)
            writer.writerow([row.name, row.code, amount, row.see_also])
        return out.getvalue()


def _amount(text: str) -> Decimal | None:
    text = text.strip()
    match = _AMOUNT.match(text)
    if not match:
        return None
    return Decimal(re.sub(r"[ .\u00a0]", "", match.group(1)))


def _is_header(fields: list[str]) -> bool:
    words = " ".join(fields).lower()
    return any(w in words for w in ("land", "country", "belopp", "landskod")) and not any(
        _amount(f) for f in fields
    )


def _row_from_fields(fields: list[str], year: int) -> ReadRow | None:
    fields = [f.strip().strip('"') for f in fields]
    fields = [f for f in fields if f]
    # The open-data export starts each row with the year: "2024;Danmark;1274".
    if len(fields) >= 3 and re.fullmatch(r"(19|20)\d\d", fields[0]):
        fields = fields[1:]
    name = code = see = ""
    amount = None
    for field in fields:
        if _CODE.match(field) and name and not code:
            code = field
        elif (see_match := _SEE.match(field)) and name:
            see = see_match.group(1).strip()
        elif (value := _amount(field)) is not None and name:
            amount = value
        elif not name and re.search(r"[^\W\d_]", field) and not re.search(r"\d", field):
            name = field
        else:
            return None
    if not name or (amount is None and not see):
        return None
    return ReadRow(name, code, amount, see)


def _row_from_text(line: str) -> ReadRow | None:
    match = _TEXT_ROW.match(line.strip())
    if not match:
        return None
    name = match.group("name").strip().rstrip(",").strip()
    if re.search(r"\d", name):  # no country's name has digits: a line we do not understand
        return None
    code = (match.group("code") or "").upper()
    amount = _amount(match.group("amount")) if match.group("amount") else None
    return ReadRow(name, code, amount, (match.group("see") or "").strip())


def _delimiter(lines: list[str]) -> str | None:
    for delimiter in (";", "\t"):
        if sum(delimiter in line for line in lines) >= max(1, len(lines) // 2):
            return delimiter
    # A comma-separated file has a comma on (nearly) every line; copied text does not.
    if sum(
        line.count(",") >= 1 and not _SEE.search(line.split(",", 1)[1]) for line in lines
    ) >= max(1, (len(lines) * 3) // 4):
        return ","
    return None


def read_published_table(
    text: str, year: int, codes_by_name: dict[str, str] | None = None
) -> TableReading:
    """Read Skatteverket's table of normalbelopp as published: copied text of the allmänna råd
    ("Danmark DK 1 274", "Grönland, se Danmark"), its open-data CSV ("2024;Danmark;1274"), a CSV
    with `;` or `,`, or Brygga's own CSV. Swedish thousands separators ("1.274", "1 274") are
    read. A row without a code gets the code its name has in Brygga's other tables."""
    codes_by_name = {k.casefold(): v for k, v in (codes_by_name or {}).items()}
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    reading = TableReading(year, [], [])
    brygga = bool(lines) and lines[0][1].replace(" ", "").lower().startswith(
        ",".join(FOREIGN_COLUMNS[:2])
    )
    if brygga:
        lines = lines[1:]
        delimiter: str | None = ","
    else:
        delimiter = _delimiter([line for _, line in lines])
    seen: set[str] = set()
    for index, (number, line) in enumerate(lines):
        if brygga:  # Brygga's own shape: the reference is a name in the fourth column
            fields = next(csv.reader([line])) + ["", "", "", ""]
            name, code, amount_text, see = (f.strip() for f in fields[:4])
            amount = _amount(amount_text) if amount_text else None
            ok = name and (amount is not None or (see and not amount_text))
            row = ReadRow(name, code.upper(), amount, see) if ok else None
        elif delimiter is not None:
            fields = next(csv.reader([line], delimiter=delimiter))
            if index == 0 and _is_header(fields):
                continue
            row = _row_from_fields(fields, year)
        else:
            if index == 0 and _is_header([line]):
                continue
            row = _row_from_text(line)
        if row is None or row.name.casefold() in seen:
            reading.not_understood.append((number, line.strip()[:200]))
            continue
        if row.amount is not None and not Decimal(1) <= row.amount <= Decimal(100000):
            reading.not_understood.append((number, line.strip()[:200]))
            continue
        if not row.code and row.name != OTHER_COUNTRIES:
            row = ReadRow(
                row.name, codes_by_name.get(row.name.casefold(), ""), row.amount, row.see_also
            )
        seen.add(row.name.casefold())
        reading.rows.append(row)
    # A reference to a row that is not there cannot be resolved: say so rather than guess.
    names = {row.name.casefold() for row in reading.rows if row.amount is not None}
    kept = []
    for row in reading.rows:
        if row.amount is None and row.see_also.casefold() not in names:
            reading.not_understood.append((0, f"{row.name}, se {row.see_also}"))
        else:
            kept.append(row)
    reading.rows = kept
    return reading


@dataclass(frozen=True)
class TableChange:
    code: str
    name: str
    before: Decimal | None
    after: Decimal | None


def compare_tables(before: ForeignTable | None, after: ForeignTable) -> list[TableChange]:
    """What changed against last year's table: new, removed and changed amounts, by name."""
    if before is None:
        return []
    changes = []
    for code in sorted(set(before.amounts) | set(after.amounts)):
        old, new = before.amounts.get(code), after.amounts.get(code)
        if old != new:
            name = after.names.get(code) or before.names.get(code) or code
            changes.append(TableChange(code, name, old, new))
    if before.other_countries != after.other_countries:
        changes.append(
            TableChange(OTHER_CODE, OTHER_COUNTRIES, before.other_countries, after.other_countries)
        )
    return sorted(changes, key=lambda c: c.name)


@cache
def shipped_foreign_table_file(year: int) -> str | None:
    """The file of the foreign table that ships with Brygga for the year, or None."""
    if year not in available_years():
        return None
    return rules_for_year(year).foreign_table_file or None


@cache
def shipped_foreign_table(year: int) -> ForeignTable | None:
    """The foreign table that ships with Brygga for the year, or None."""
    found = shipped_foreign_table_file(year)
    if found is None:
        return None
    path = resources.files(RULES_PACKAGE).joinpath(*found.split("/"))
    return parse_foreign_table(path.read_text(encoding="utf-8"), year)


@cache
def known_countries() -> tuple[tuple[str, str], ...]:
    """(ISO code, Swedish name) of every country in any shipped table, by name; the newest
    table's name wins."""
    names: dict[str, str] = {}
    for year in available_years():
        table = shipped_foreign_table(year)
        if table is not None:
            names.update(table.names)
    return tuple(sorted(names.items(), key=lambda item: item[1]))


def country_choices(
    tables: list[ForeignTable] | tuple[ForeignTable, ...] = (),
) -> list[tuple[str, str]]:
    """Every country of the shipped tables and of `tables` (an organization's imported ones),
    by name, then "Övriga länder och områden"."""
    names = dict(known_countries())
    for table in tables:
        names.update(table.names)
    names.pop(DOMESTIC, None)
    return sorted(names.items(), key=lambda item: item[1]) + [(OTHER_CODE, OTHER_COUNTRIES)]


def country_name(code: str) -> str:
    if code == DOMESTIC:
        return "Sverige"
    if code == OTHER_CODE:
        return OTHER_COUNTRIES
    return dict(known_countries()).get(code, code)
