"""Traktamente: Skatteverket's rules for per diem on a business trip, in Sweden and abroad.

Pure: no database, no Flask. `calculate_trip` works out every day of a trip:

- a trip without an overnight stay (*endagsförrättning*) gives no tax-free per diem: what the
  organization pays for it is taxable. Whether the employee stayed overnight is asked, not
  inferred from two dates (18:00 to 02:00, sleeping at home, is a one-day trip);
- a tax-free per diem needs an overnight stay more than 50 km from both home and workplace;
- the day of departure is a full day when the trip starts before 12:00, the day of return when
  it ends after 19:00; otherwise they are half days;
- after 3 months at the same place a full day gives 70 %, after 2 years 50 %, and half days
  give nothing tax-free (RÅ 2006 ref. 59);
- night allowance for each night when the employer did not pay the lodging, in the country
  where the night was spent (where the traveller was at midnight);
- a trip may pass several countries (legs): each day counts in the country where most of its
  06:00-24:00 was spent, so no day is counted twice; a day spent mostly in Sweden gets the
  domestic amounts;
- free meals reduce the day's maximum by a share of it (domestic 20/35/35 %, abroad 15/35/35 %),
  rounded to whole kronor on the day's total as Skatteverket's tables do; a meal included in a
  ticket reduces nothing;
- a free meal is also a taxable benefit (*kostförmån*) at the year's value, except a breakfast
  included in the room, a meal included in a ticket and a representation or conference meal;
- abroad the country's *normalbelopp* replaces the domestic amount; half days and nights are
  half of it; a country missing from the table uses "Övriga länder och områden";
- each day and night uses the amounts of its own income year: a trip over New Year gives one
  calculation per year (the night of 31 December belongs to the old year).

What the organization pays for a day splits into a tax-free part (up to the day's maximum) and
a taxable part (the excess). The employer deducts the free meals from what it pays (that is
what the MATRED codes are for), so a meal reduction is a negative tax-free part. A benefit is
neither: it is a taxable value payroll adds, never money paid (`PayPart.benefit`).
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _

from webapp.payitems import PayItem
from webapp.services.pay_parts import Calculation, PayPart, group_parts, to_money
from webapp.services.rates import (
    DOMESTIC,
    OTHER_CODE,
    ForeignTable,
    Meal,
    YearRules,
    known_countries,
)

MAX_TRIP_DAYS = 366
MAX_LEGS = 10
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
DAY_STARTS = time(6, 0)  # the part of the day that decides its country: 06:00-24:00


class MealProvision(enum.StrEnum):
    """What a provided meal was: it decides the meal reduction and the kostförmån."""

    FREE = "free"  # a free meal: reduces the per diem and is a taxable benefit
    WITH_ROOM = "with_room"  # breakfast included in the room price: reduces, no benefit
    TICKET = "ticket"  # included in a ticket (flight, train): neither
    BUSINESS = "business"  # representation or conference: reduces, no benefit

    @property
    def reduces(self) -> bool:
        return self != MealProvision.TICKET

    @property
    def is_benefit(self) -> bool:
        return self == MealProvision.FREE


@dataclass(frozen=True)
class DayMeals:
    """The meals provided on one day and what each was (True: a plain free meal)."""

    breakfast: MealProvision | bool | None = None
    lunch: MealProvision | bool | None = None
    dinner: MealProvision | bool | None = None

    def provision(self, meal: Meal) -> MealProvision | None:
        value = getattr(self, Meal(meal).value)
        if value is True:
            return MealProvision.FREE
        return value or None

    def provided(self) -> dict[Meal, MealProvision]:
        return {m: p for m in Meal if (p := self.provision(m)) is not None}

    def meals(self) -> list[Meal]:
        """The meals that reduce the day's per diem."""
        return [m for m, p in self.provided().items() if p.reduces]

    def benefit_meals(self) -> list[Meal]:
        """The meals that are a taxable kostförmån."""
        return [m for m, p in self.provided().items() if p.is_benefit]


@dataclass(frozen=True)
class Leg:
    """Part of a trip in one country, from `starts_at` until the next leg starts (or the trip
    ends)."""

    country_code: str
    starts_at: datetime


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
    # Asked of the employee; None (old callers) infers it from the dates.
    stayed_overnight: bool | None = None
    # Further countries after the first (`country_code`, from departure), in order.
    legs: tuple[Leg, ...] = ()

    @property
    def overnight(self) -> bool:
        if self.stayed_overnight is None:
            return self.departs_at.date() != self.returns_at.date()
        return self.stayed_overnight

    def all_legs(self) -> list[tuple[str, datetime, datetime]]:
        """(country, from, to) of each leg; the first starts at departure, the last ends at
        the return."""
        starts = [(self.country_code, self.departs_at)] + [
            (leg.country_code, leg.starts_at) for leg in self.legs
        ]
        ends = [start for _, start in starts[1:]] + [self.returns_at]
        return [(c.upper(), a, b) for (c, a), b in zip(starts, ends, strict=True)]

    @property
    def is_foreign(self) -> bool:
        return any(country != DOMESTIC for country, _, _ in self.all_legs())


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
BENEFIT_ITEMS = {
    (False, Meal.BREAKFAST): PayItem.DOMESTIC_MEAL_BENEFIT_BREAKFAST,
    (False, Meal.LUNCH): PayItem.DOMESTIC_MEAL_BENEFIT_LUNCH,
    (False, Meal.DINNER): PayItem.DOMESTIC_MEAL_BENEFIT_DINNER,
    (True, Meal.BREAKFAST): PayItem.FOREIGN_MEAL_BENEFIT_BREAKFAST,
    (True, Meal.LUNCH): PayItem.FOREIGN_MEAL_BENEFIT_LUNCH,
    (True, Meal.DINNER): PayItem.FOREIGN_MEAL_BENEFIT_DINNER,
}


def add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def round_to(value: Decimal, increment: Decimal) -> Decimal:
    return to_money((value / increment).quantize(Decimal(1), rounding=ROUND_HALF_UP) * increment)


def check_trip(trip: Trip, countries: set[str] | None = None) -> None:
    """Raise `TripError` with a message for the employee when the trip cannot be right.
    `countries`: the codes the employee may choose (None: any)."""
    if trip.returns_at <= trip.departs_at:
        raise TripError(_("Hemkomsten måste vara efter avresan."))
    if (trip.returns_at.date() - trip.departs_at.date()).days + 1 > MAX_TRIP_DAYS:
        raise TripError(_("En resa kan vara högst %(n)d dagar per rad.", n=MAX_TRIP_DAYS))
    if trip.stayed_overnight and trip.departs_at.date() == trip.returns_at.date():
        raise TripError(_("Med övernattning måste hemkomsten vara en senare dag än avresan."))
    if trip.stayed_overnight is False and trip.returns_at - trip.departs_at > timedelta(days=1):
        raise TripError(_("En resa utan övernattning kan vara högst ett dygn."))
    if trip.assignment_start and trip.assignment_start > trip.departs_at.date():
        raise TripError(_("Förrättningens början kan inte vara efter avresan."))
    if len(trip.legs) > MAX_LEGS:
        raise TripError(_("En resa kan ha högst %(n)d länder.", n=MAX_LEGS + 1))
    previous = trip.departs_at
    for leg in trip.legs:
        if not previous < leg.starts_at < trip.returns_at:
            raise TripError(
                _("Varje land på resan måste börja efter det förra och före hemkomsten.")
            )
        previous = leg.starts_at
    for country, _start, _end in trip.all_legs():
        if country != DOMESTIC and countries is not None and country not in countries:
            raise TripError(_("Okänt land: %(code)s.", code=country))


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


def _overlap(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> timedelta:
    return max(timedelta(0), min(a_end, b_end) - max(a_start, b_start))


def day_country(trip: Trip, day: date) -> str:
    """The country where most of the day's 06:00-24:00 was spent (on the trip); a day with no
    time on the trip in those hours counts where most of its time on the trip was spent."""
    midnight = datetime.combine(day, time(0))
    next_midnight = midnight + timedelta(days=1)
    legs = trip.all_legs()
    for window_start in (datetime.combine(day, DAY_STARTS), midnight):
        spent: dict[str, timedelta] = {}
        for country, start, end in legs:
            spent[country] = spent.get(country, timedelta(0)) + _overlap(
                start, end, window_start, next_midnight
            )
        best = max(spent.values())
        if best > timedelta(0):
            # The first country to reach the most time wins a tie: a stable, documented choice.
            return next(country for country, value in spent.items() if value == best)
    return legs[-1][0]


def night_country(trip: Trip, night_of: date) -> str:
    """Where the night after `night_of` was spent: where the traveller was at midnight."""
    moment = datetime.combine(night_of + timedelta(days=1), time(0))
    for country, start, end in trip.all_legs():
        if start <= moment < end:
            return country
    return trip.all_legs()[-1][0]


RulesFor = Callable[[int], YearRules]
TableFor = Callable[[int], ForeignTable | None]
PolicyFor = Callable[[int], PerDiemPolicy]


class _Year:
    """What one income year of a trip collects: its parts and the steps shown to a reader."""

    def __init__(self, rules: YearRules, trip: Trip, legs: list[dict]) -> None:
        self.rules = rules
        self.raw: list[PayPart] = []
        self.details: dict = {
            "kind": "per_diem",
            "country": trip.country_code,
            "countries": sorted({leg["country"] for leg in legs}),
            "legs": legs,
            "foreign": False,
            "base": None,
            "far_from_home": trip.far_from_home,
            "lodging_paid_by_employer": trip.lodging_paid_by_employer,
            "stayed_overnight": trip.overnight,
            "one_day": not trip.overnight,
            "days": [],
            "nights": None,
            "benefit": "0.00",
        }

    def calculation(self) -> Calculation:
        parts = merge_items(group_parts(self.raw))
        return Calculation(parts, self.rules.year, self.details)


def calculate_trip(
    trip: Trip,
    rules_for: RulesFor,
    policy_for: PolicyFor | None = None,
    table_for: TableFor | None = None,
    countries: set[str] | None = None,
) -> list[Calculation]:
    """Work out a trip day by day, each day and night with its own year's rules: one
    `Calculation` per income year, in order. Raises `TripError` for impossible input or missing
    amounts (`rules_for` raises its own error for a year without rules)."""
    check_trip(trip, countries)
    policy_for = policy_for or (lambda year: PerDiemPolicy())
    table_for = table_for or (lambda year: None)
    legs = [
        {
            "country": c,
            "from": a.isoformat(timespec="minutes"),
            "to": b.isoformat(timespec="minutes"),
        }
        for c, a, b in trip.all_legs()
    ]
    years: dict[int, _Year] = {}

    def year_of(day: date) -> _Year:
        if day.year not in years:
            years[day.year] = _Year(rules_for(day.year), trip, legs)
        return years[day.year]

    def base_for(country: str, year: int) -> Decimal | None:
        if country == DOMESTIC:
            return None
        table = table_for(year)
        if table is None:
            raise TripError(
                _(
                    "Skatteverkets normalbelopp för utlandstraktamente %(year)d saknas i Brygga. "
                    "En administratör kan importera årets tabell.",
                    year=year,
                )
            )
        base = table.amount_for(country)
        if base is None:
            raise TripError(_("Okänt land: %(code)s.", code=country))
        return base

    first, last = trip.departs_at.date(), trip.returns_at.date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]

    if not trip.overnight:
        # No overnight stay: nothing is tax-free, what the organization pays is salary. The
        # trip belongs to the year it started in.
        y = year_of(first)
        country = day_country(trip, first)
        foreign = country != DOMESTIC
        paid = to_money(policy_for(first.year).one_day)
        note = country if foreign else ""
        y.raw.append(PayPart(ONE_DAY_ITEMS[foreign], Decimal(1), paid, paid, note))
        y.details["foreign"] = foreign
        y.details["country"] = country
        y.details["days"].append(
            {"date": first.isoformat(), "kind": "one_day", "stage": "", "max": "0.00",
             "country": country, "meals": [], "reduction": "0.00", "paid": str(paid),
             "tax_free": "0.00", "taxable": str(paid), "benefit": "0.00", "benefit_meals": []}
        )  # fmt: skip
        for day in days:
            _add_benefit(y, trip.meals.get(day, DayMeals()), day, foreign, note)
        return [years[year].calculation() for year in sorted(years)]

    start = trip.assignment_start or first
    for day in days:
        y = year_of(day)
        rules = y.rules
        country = day_country(trip, day)
        foreign = country != DOMESTIC
        base = base_for(country, day.year)
        policy = policy_for(day.year)
        note = country if foreign else ""
        half = (day == first and trip.departs_at.time() >= rules.full_day_departure_before) or (
            day == last and trip.returns_at.time() <= rules.full_day_return_after
        )
        kind = "half" if half else "full"
        stage = _stage(day, start)
        day_max, set_amount = _day_amounts(kind, stage, rules, policy, base)
        if not trip.far_from_home:
            day_max = ZERO
        if foreign:
            set_amount = day_max * policy.foreign_percent / HUNDRED
        paid = to_money(day_max if set_amount is None else set_amount)
        day_meals = trip.meals.get(day, DayMeals())
        meals = day_meals.meals()
        percents = rules.meal_percent_foreign if foreign else rules.meal_percent_domestic
        share = sum((percents[m] for m in meals), Decimal(0))
        reduction = round_to(day_max * share / HUNDRED, rules.meal_rounding) if day_max else ZERO
        tax_free_gross = min(paid, day_max)
        reduction = min(reduction, tax_free_gross)  # never more than the day's tax-free amount
        taxable = paid - tax_free_gross
        tax_free_item, taxable_item = DAY_ITEMS[(foreign, kind)]
        y.raw.append(PayPart(tax_free_item, Decimal(1), tax_free_gross, tax_free_gross, note))
        y.raw.append(PayPart(taxable_item, Decimal(1), taxable, taxable, note))
        if reduction:
            for meal, amount in _meal_split(reduction, meals, day_max, rules, foreign):
                y.raw.append(
                    PayPart(MEAL_ITEMS[(foreign, meal)], Decimal(1), -amount, -amount, note)
                )
        if foreign:
            y.details["foreign"] = True
            if y.details["base"] is None:
                y.details["base"] = str(base)
                y.details["country"] = country
        y.details["days"].append(
            {
                "date": day.isoformat(),
                "kind": kind,
                "stage": stage,
                "country": country,
                "max": str(day_max),
                "meals": [m.value for m in meals],
                "reduction": str(reduction),
                "paid": str(paid),
                "tax_free": str(tax_free_gross - reduction),
                "taxable": str(taxable),
            }
        )
        _add_benefit(y, day_meals, day, foreign, note)

    if not trip.lodging_paid_by_employer:
        for night_of in days[:-1]:
            _add_night(year_of(night_of), trip, night_of, base_for, policy_for(night_of.year))
    return [years[year].calculation() for year in sorted(years)]


def _add_benefit(y: _Year, day_meals: DayMeals, day: date, foreign: bool, note: str) -> None:
    """Kostförmån for the day's free meals, at the year's values; three free meals are worth at
    most the whole day's value."""
    meals = day_meals.benefit_meals()
    values = y.rules.meal_benefit
    if not meals or values is None:
        return
    amounts = [(m, values.value_of(m)) for m in meals]
    total = sum((a for _, a in amounts), Decimal(0))
    if total > values.whole_day:
        meal, amount = amounts[-1]
        amounts[-1] = (meal, amount - (total - values.whole_day))
        total = values.whole_day
    for meal, amount in amounts:
        value = to_money(amount)
        y.raw.append(PayPart(BENEFIT_ITEMS[(foreign, meal)], Decimal(1), value, value, note))
    y.details["benefit"] = str(to_money(Decimal(y.details["benefit"]) + total))
    for entry in reversed(y.details["days"]):
        if entry["date"] == day.isoformat():
            entry["benefit"] = str(to_money(total))
            entry["benefit_meals"] = [m.value for m in meals]
            break


def _add_night(y: _Year, trip: Trip, night_of: date, base_for, policy: PerDiemPolicy) -> None:
    rules = y.rules
    country = night_country(trip, night_of)
    foreign = country != DOMESTIC
    note = country if foreign else ""
    if foreign:
        base = base_for(country, night_of.year)
        night_max = to_money(base * rules.foreign_night_percent / HUNDRED)
    else:
        night_max = rules.domestic.night
    if not trip.far_from_home:
        night_max = ZERO
    if foreign:
        night_paid = to_money(night_max * policy.foreign_percent / HUNDRED)
    else:
        night_paid = to_money(night_max if policy.night is None else policy.night)
    tax_free = min(night_paid, night_max)
    tax_free_item, taxable_item = DAY_ITEMS[(foreign, "night")]
    y.raw.append(PayPart(tax_free_item, Decimal(1), tax_free, tax_free, note))
    y.raw.append(
        PayPart(taxable_item, Decimal(1), night_paid - tax_free, night_paid - tax_free, note)
    )
    nights = y.details["nights"] or {
        "count": 0, "max": str(to_money(night_max)), "paid": str(night_paid),
        "tax_free": "0.00", "taxable": "0.00", "list": [],
    }  # fmt: skip
    nights["count"] += 1
    nights["tax_free"] = str(to_money(Decimal(nights["tax_free"]) + tax_free))
    nights["taxable"] = str(to_money(Decimal(nights["taxable"]) + night_paid - tax_free))
    nights["list"].append(
        {"date": night_of.isoformat(), "country": country, "max": str(to_money(night_max)),
         "paid": str(night_paid), "tax_free": str(tax_free),
         "taxable": str(night_paid - tax_free)}
    )  # fmt: skip
    y.details["nights"] = nights


def merge_items(parts: tuple[PayPart, ...]) -> tuple[PayPart, ...]:
    """One part per pay item: payroll keys what it received by line and item, so two parts of
    one item (two countries, or full days before and after three months) are sent as one, with
    the days summed and the average per day as its unit price."""
    merged: dict[PayItem, list[PayPart]] = {}
    for part in parts:
        merged.setdefault(part.item, []).append(part)
    result = []
    for item, group in merged.items():
        if len(group) == 1:
            result.append(group[0])
            continue
        quantity = sum((p.quantity for p in group), Decimal(0))
        amount = to_money(sum((p.amount for p in group), Decimal(0)))
        unit = to_money(amount / quantity) if quantity else amount
        notes = ", ".join(dict.fromkeys(p.note for p in group if p.note))
        result.append(PayPart(item, quantity, unit, amount, notes))
    return tuple(result)


def calculate_per_diem(
    trip: Trip,
    rules: YearRules,
    policy: PerDiemPolicy | None = None,
    foreign_table: ForeignTable | None = None,
) -> Calculation:
    """A trip within one income year (see `calculate_trip` for one over New Year)."""
    countries = {code for code, _ in known_countries()} | {OTHER_CODE}
    if foreign_table is not None:
        countries |= set(foreign_table.amounts)
    check_trip(trip, countries)
    if trip.returns_at.year != trip.departs_at.year and trip.overnight:
        raise TripError(_("Resan går över årsskiftet: den räknas per inkomstår."))

    def rules_for(year: int) -> YearRules:
        return rules

    results = calculate_trip(
        trip,
        rules_for,
        lambda year: policy or PerDiemPolicy(),
        lambda year: foreign_table,
        countries,
    )
    return results[0]


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
