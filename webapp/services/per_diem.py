"""Traktamente: Skatteverket's rules for per diem on a business trip, in Sweden and abroad.

Pure: no database, no Flask. `calculate_per_diem` works out every day of a trip:

- a trip without an overnight stay (*endagsförrättning*) gives no tax-free per diem: what the
  organization pays for it is taxable;
- a tax-free per diem needs an overnight stay more than 50 km from both home and workplace;
- the day of departure is a full day when the trip starts before 12:00, the day of return when
  it ends after 19:00; otherwise they are half days;
- after 3 months at the same place a full day gives 70 %, after 2 years 50 %, and half days
  give nothing tax-free (RÅ 2006 ref. 59);
- night allowance for each night when the employer did not pay the lodging;
- free meals reduce the day's maximum by a share of it (domestic 20/35/35 %, abroad 15/35/35 %),
  rounded to whole kronor on the day's total as Skatteverket's tables do;
- abroad the country's *normalbelopp* replaces the domestic amount; half days and nights are
  half of it.

What the organization pays for a day splits into a tax-free part (up to the day's maximum) and
a taxable part (the excess). The employer deducts the free meals from what it pays (that is
what the MATRED codes are for), so a meal reduction is a negative tax-free part.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _

from webapp.payitems import PayItem
from webapp.services.pay_parts import Calculation, PayPart, group_parts, to_money
from webapp.services.rates import DOMESTIC, ForeignTable, Meal, YearRules, known_countries

MAX_TRIP_DAYS = 366
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class DayMeals:
    """The meals provided free on one day (meals included in a ticket do not count)."""

    breakfast: bool = False
    lunch: bool = False
    dinner: bool = False

    def meals(self) -> list[Meal]:
        return [m for m in Meal if getattr(self, m.value)]


@dataclass(frozen=True)
class Trip:
    departs_at: datetime
    returns_at: datetime
    country_code: str = DOMESTIC
    far_from_home: bool = True
    lodging_paid_by_employer: bool = False
    # When the work at this place began, for the 3-month and 2-year rules (default: departure).
    assignment_start: date | None = None
    meals: Mapping[date, DayMeals] = field(default_factory=dict)

    @property
    def is_foreign(self) -> bool:
        return self.country_code != DOMESTIC


@dataclass(frozen=True)
class PerDiemPolicy:
    """What the organization pays. None: the day's tax-free maximum, so nothing is taxable.

    A set full-day amount is reduced after 3 months and 2 years like the maximum; a set half-day
    or night amount is paid as it is (taxable where nothing is tax-free). Abroad the organization
    pays a percentage of the day's tax-free amount.
    """

    full_day: Decimal | None = None
    half_day: Decimal | None = None
    night: Decimal | None = None
    one_day: Decimal = ZERO
    foreign_percent: Decimal = HUNDRED  # of the country's normalbelopp


class TripError(ValueError):
    """A trip that cannot be calculated; the message is for the employee."""


DAY_ITEMS = {
    (False, "full"): (PayItem.DOMESTIC_FULL_DAY_TAX_FREE, PayItem.DOMESTIC_FULL_DAY_TAXABLE),
    (False, "half"): (PayItem.DOMESTIC_HALF_DAY_TAX_FREE, PayItem.DOMESTIC_HALF_DAY_TAXABLE),
    (False, "night"): (PayItem.DOMESTIC_NIGHT_TAX_FREE, PayItem.DOMESTIC_NIGHT_TAXABLE),
    (True, "full"): (PayItem.FOREIGN_FULL_DAY_TAX_FREE, PayItem.FOREIGN_FULL_DAY_TAXABLE),
    (True, "half"): (PayItem.FOREIGN_HALF_DAY_TAX_FREE, PayItem.FOREIGN_HALF_DAY_TAXABLE),
    (True, "night"): (PayItem.FOREIGN_NIGHT_TAX_FREE, PayItem.FOREIGN_NIGHT_TAXABLE),
}
ONE_DAY_ITEMS = {False: PayItem.DOMESTIC_ONE_DAY_TAXABLE, True: PayItem.FOREIGN_ONE_DAY_TAXABLE}
MEAL_ITEMS = {
    (False, Meal.BREAKFAST): PayItem.DOMESTIC_MEAL_REDUCTION_BREAKFAST,
    (False, Meal.LUNCH): PayItem.DOMESTIC_MEAL_REDUCTION_LUNCH,
    (False, Meal.DINNER): PayItem.DOMESTIC_MEAL_REDUCTION_DINNER,
    (True, Meal.BREAKFAST): PayItem.FOREIGN_MEAL_REDUCTION_BREAKFAST,
    (True, Meal.LUNCH): PayItem.FOREIGN_MEAL_REDUCTION_LUNCH,
    (True, Meal.DINNER): PayItem.FOREIGN_MEAL_REDUCTION_DINNER,
}


def add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def round_to(value: Decimal, increment: Decimal) -> Decimal:
    return to_money((value / increment).quantize(Decimal(1), rounding=ROUND_HALF_UP) * increment)


def check_trip(trip: Trip) -> None:
    """Raise `TripError` with a message for the employee when the trip cannot be right."""
    if trip.returns_at <= trip.departs_at:
        raise TripError(_("Hemkomsten måste vara efter avresan."))
    if (trip.returns_at.date() - trip.departs_at.date()).days + 1 > MAX_TRIP_DAYS:
        raise TripError(_("En resa kan vara högst %(n)d dagar per rad.", n=MAX_TRIP_DAYS))
    if trip.returns_at.year != trip.departs_at.year:
        raise TripError(_("Dela upp en resa över årsskiftet i två rader: beloppen gäller per år."))
    if trip.assignment_start and trip.assignment_start > trip.departs_at.date():
        raise TripError(_("Förrättningens början kan inte vara efter avresan."))
    if trip.is_foreign and trip.country_code not in dict(known_countries()):
        raise TripError(_("Okänt land: %(code)s.", code=trip.country_code))


def _stage(day: date, start: date) -> str:
    if day >= add_months(start, 24):
        return "2y"
    if day >= add_months(start, 3):
        return "3m"
    return ""


def _meal_split(reduction: Decimal, meals: list[Meal], day_max: Decimal, rules, foreign):
    """Share the day's reduction among its meals; the last meal takes the rounding difference."""
    percents = rules.meal_percent_foreign if foreign else rules.meal_percent_domestic
    left = reduction
    shares = []
    for index, meal in enumerate(meals):
        if index == len(meals) - 1:
            share = left
        else:
            share = min(round_to(day_max * percents[meal] / HUNDRED, rules.meal_rounding), left)
        shares.append((meal, share))
        left -= share
    return shares


def calculate_per_diem(
    trip: Trip,
    rules: YearRules,
    policy: PerDiemPolicy | None = None,
    foreign_table: ForeignTable | None = None,
) -> Calculation:
    """Work out a trip day by day; raises `TripError` for impossible input or missing amounts."""
    policy = policy or PerDiemPolicy()
    check_trip(trip)
    foreign = trip.is_foreign
    first, last = trip.departs_at.date(), trip.returns_at.date()
    base = None
    if foreign:
        if foreign_table is None:
            raise TripError(
                _(
                    "Skatteverkets normalbelopp för utlandstraktamente %(year)d saknas i Brygga. "
                    "En administratör kan importera årets tabell.",
                    year=rules.year,
                )
            )
        base = foreign_table.amount_for(trip.country_code)
        if base is None:
            raise TripError(_("Okänt land: %(code)s.", code=trip.country_code))
    details: dict = {
        "kind": "per_diem",
        "country": trip.country_code,
        "foreign": foreign,
        "base": str(base) if base is not None else None,
        "far_from_home": trip.far_from_home,
        "lodging_paid_by_employer": trip.lodging_paid_by_employer,
        "one_day": first == last,
        "days": [],
        "nights": None,
    }
    raw: list[PayPart] = []
    note = trip.country_code if foreign else ""

    if first == last:
        # No overnight stay: nothing is tax-free, what the organization pays is salary.
        one_day = to_money(policy.one_day)
        raw.append(PayPart(ONE_DAY_ITEMS[foreign], Decimal(1), one_day, one_day, note))
        details["days"].append(
            {"date": first.isoformat(), "kind": "one_day", "stage": "", "max": "0.00",
             "meals": [], "reduction": "0.00", "paid": str(one_day), "tax_free": "0.00",
             "taxable": str(one_day)}
        )  # fmt: skip
        return Calculation(group_parts(raw), rules.year, details)

    start = trip.assignment_start or first
    dom = rules.domestic
    day = first
    while day <= last:
        half = (day == first and trip.departs_at.time() >= rules.full_day_departure_before) or (
            day == last and trip.returns_at.time() <= rules.full_day_return_after
        )
        kind = "half" if half else "full"
        stage = _stage(day, start)
        day_max, paid = _day_amounts(kind, stage, rules, policy, base)
        if not trip.far_from_home:
            day_max = ZERO
        if foreign:
            paid = day_max * policy.foreign_percent / HUNDRED
        paid = to_money(day_max if paid is None else paid)
        meals = trip.meals.get(day, DayMeals()).meals()
        percents = rules.meal_percent_foreign if foreign else rules.meal_percent_domestic
        share = sum((percents[m] for m in meals), Decimal(0))
        reduction = round_to(day_max * share / HUNDRED, rules.meal_rounding) if day_max else ZERO
        tax_free_gross = min(paid, day_max)
        reduction = min(reduction, tax_free_gross)  # never more than the day's tax-free amount
        taxable = paid - tax_free_gross
        tax_free_item, taxable_item = DAY_ITEMS[(foreign, kind)]
        raw.append(PayPart(tax_free_item, Decimal(1), tax_free_gross, tax_free_gross, note))
        raw.append(PayPart(taxable_item, Decimal(1), taxable, taxable, note))
        if reduction:
            for meal, amount in _meal_split(reduction, meals, day_max, rules, foreign):
                raw.append(PayPart(MEAL_ITEMS[(foreign, meal)], Decimal(1), -amount, -amount, note))
        details["days"].append(
            {
                "date": day.isoformat(),
                "kind": kind,
                "stage": stage,
                "max": str(day_max),
                "meals": [m.value for m in meals],
                "reduction": str(reduction),
                "paid": str(paid),
                "tax_free": str(tax_free_gross - reduction),
                "taxable": str(taxable),
            }
        )
        day += timedelta(days=1)

    nights = (last - first).days
    if nights and not trip.lodging_paid_by_employer:
        night_max = dom.night
        if foreign:
            assert base is not None  # a trip abroad has its country's amount
            night_max = to_money(base * rules.foreign_night_percent / HUNDRED)
        if not trip.far_from_home:
            night_max = ZERO
        if foreign:
            night_paid = to_money(night_max * policy.foreign_percent / HUNDRED)
        else:
            night_paid = to_money(night_max if policy.night is None else policy.night)
        tax_free_night = min(night_paid, night_max)
        tax_free_item, taxable_item = DAY_ITEMS[(foreign, "night")]
        quantity = Decimal(nights)
        raw.append(
            PayPart(tax_free_item, quantity, tax_free_night, tax_free_night * quantity, note)
        )
        excess = night_paid - tax_free_night
        raw.append(PayPart(taxable_item, quantity, excess, excess * quantity, note))
        details["nights"] = {
            "count": nights,
            "max": str(night_max),
            "paid": str(night_paid),
            "tax_free": str(tax_free_night * quantity),
            "taxable": str(excess * quantity),
        }
    return Calculation(group_parts(raw), rules.year, details)


def _day_amounts(
    kind: str, stage: str, rules: YearRules, policy: PerDiemPolicy, base: Decimal | None
) -> tuple[Decimal, Decimal | None]:
    """(tax-free maximum, amount the organization's policy sets or None for "the maximum")."""
    dom = rules.domestic
    if base is not None:
        if kind == "half":
            day_max = base * rules.foreign_half_day_percent / HUNDRED if stage == "" else ZERO
        else:
            percent = {
                "": HUNDRED,
                "3m": rules.foreign_after_3_months_percent,
                "2y": rules.foreign_after_2_years_percent,
            }[stage]
            day_max = base * percent / HUNDRED
        return to_money(day_max), None
    if kind == "half":
        day_max = dom.half_day if stage == "" else ZERO
        return to_money(day_max), policy.half_day
    reduced = {"": dom.full_day, "3m": dom.after_3_months, "2y": dom.after_2_years}[stage]
    paid = None if policy.full_day is None else policy.full_day * reduced / dom.full_day
    return to_money(reduced), paid
