"""Trips as people make them, checked against Skatteverket's rules and examples: kostförmån per
provided meal, an asked overnight stay, several countries, any country, New Year, and the
properties that must hold whatever the trip."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.payitems import PayItem
from webapp.services.per_diem import (
    DayMeals,
    Leg,
    MealProvision,
    PerDiemPolicy,
    Trip,
    TripError,
    calculate_per_diem,
    calculate_trip,
)
from webapp.services.rates import (
    MealBenefit,
    VehicleKind,
    parse_foreign_table,
    rules_for_year,
    rules_from_values,
    shipped_foreign_table,
)

R2024, R2026 = rules_for_year(2024), rules_for_year(2026)
T2024 = shipped_foreign_table(2024)
# A MADE-UP 2027 (prisbasbelopp 61 000 → 310 kr; kostförmån 315/126/63): Skatteverket had not
# published 2027's values when this was written.
R2027 = rules_from_values(
    2027,
    61_000,
    {VehicleKind.OWN_CAR: D(25), VehicleKind.COMPANY_CAR: D(12),
     VehicleKind.ELECTRIC_COMPANY_CAR: D("9.50")},
    MealBenefit(D(315), D(126), D(63)),
    source="made up for tests",
)  # fmt: skip
# A made-up 2026/2027 foreign table (2025 and 2026 do not ship): Norge 1 054, Övriga 500.
T_MADE_UP = parse_foreign_table(
    "country_sv,iso_code,amount_sek,see_also\nNorge,NO,1054,\nDanmark,DK,1300,\n"
    "Övriga länder och områden,,500,\n",
    2026,
)
F = MealProvision.FREE


def amounts(calculation):
    return {part.item: part.amount for part in calculation.parts}


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def middle_day(meals: DayMeals, country="SE", rules=R2026, table=None):
    """Three days with lodging paid: the middle day is a plain full day."""
    y = rules.year
    t = Trip(
        dt(f"{y}-03-02T07:00"), dt(f"{y}-03-04T20:00"), country_code=country,
        lodging_paid_by_employer=True, stayed_overnight=True,
        meals={date(y, 3, 3): meals},
    )  # fmt: skip
    return calculate_per_diem(t, rules, foreign_table=table)


# --- kostförmån ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meals", "reduction", "benefit", "benefit_items"),
    [
        # Skatteverket 2026: kostförmån lunch or dinner 124 kr, breakfast 62, whole day 310;
        # meal reduction on 300: breakfast 60, lunch 105, all three 270.
        (DayMeals(lunch=F), "105.00", D(124), {PayItem.DOMESTIC_MEAL_BENEFIT_LUNCH: D(124)}),
        (DayMeals(dinner=F), "105.00", D(124), {PayItem.DOMESTIC_MEAL_BENEFIT_DINNER: D(124)}),
        (DayMeals(breakfast=F), "60.00", D(62), {PayItem.DOMESTIC_MEAL_BENEFIT_BREAKFAST: D(62)}),
        (
            DayMeals(breakfast=F, lunch=F, dinner=F),
            "270.00",
            D(310),
            {
                PayItem.DOMESTIC_MEAL_BENEFIT_BREAKFAST: D(62),
                PayItem.DOMESTIC_MEAL_BENEFIT_LUNCH: D(124),
                PayItem.DOMESTIC_MEAL_BENEFIT_DINNER: D(124),
            },
        ),
        # A breakfast included in the room price reduces the per diem, but is no benefit.
        (DayMeals(breakfast=MealProvision.WITH_ROOM), "60.00", D(0), {}),
        # A meal included in a ticket: neither reduction nor benefit.
        (DayMeals(lunch=MealProvision.TICKET), "0.00", D(0), {}),
        # Representation or conference: the per diem is reduced, the meal is no benefit.
        (DayMeals(lunch=MealProvision.BUSINESS, dinner=MealProvision.BUSINESS), "210.00", D(0), {}),
    ],
    ids=["lunch", "dinner", "breakfast", "whole-day", "hotel-breakfast", "ticket", "conference"],
)
def test_each_provided_meal_gives_skatteverkets_reduction_and_benefit(
    meals, reduction, benefit, benefit_items
):
    result = middle_day(meals)
    assert result.details["days"][1]["reduction"] == reduction
    assert result.benefit == benefit
    got = {p.item: p.amount for p in result.parts if p.benefit}
    assert got == benefit_items
    # A benefit is a value for payroll, not money paid: the totals do not include it.
    assert result.tax_free == D(900) - D(reduction)
    assert result.taxable == 0


def test_a_free_lunch_abroad_is_a_foreign_kostforman_and_a_35_percent_reduction():
    # Danmark 2024: 1 274 kr; 35 % = 445,90 → 446. Kostförmån lunch 2024: 120 kr.
    result = middle_day(DayMeals(lunch=F), country="DK", rules=R2024, table=T2024)
    assert result.details["days"][1]["reduction"] == "446.00"
    assert amounts(result)[PayItem.FOREIGN_MEAL_BENEFIT_LUNCH] == D(120)
    assert [p.note for p in result.parts if p.benefit] == ["DK"]


def test_a_one_day_trip_with_a_free_lunch_still_gives_the_benefit():
    t = Trip(dt("2026-03-02T07:00"), dt("2026-03-02T18:00"), stayed_overnight=False,
             meals={date(2026, 3, 2): DayMeals(lunch=F)})  # fmt: skip
    result = calculate_per_diem(t, R2026)
    assert amounts(result) == {PayItem.DOMESTIC_MEAL_BENEFIT_LUNCH: D(124)}
    assert result.tax_free == 0


# --- the overnight stay is asked ------------------------------------------------------------------


def test_18_to_02_sleeping_at_home_is_a_one_day_trip_taxable_only():
    # Skatteverket: tax-free per diem needs an overnight stay; a trip from 18:00 to 02:00 the
    # next day without one is an endagsförrättning, whatever the two dates say.
    t = Trip(dt("2026-03-02T18:00"), dt("2026-03-03T02:00"), stayed_overnight=False)
    result = calculate_per_diem(t, R2026, PerDiemPolicy(one_day=D(150)))
    assert amounts(result) == {PayItem.DOMESTIC_ONE_DAY_TAXABLE: D(150)}
    assert (result.tax_free, result.taxable) == (0, D(150))
    assert result.details["stayed_overnight"] is False


def test_the_same_trip_with_a_night_away_gives_tax_free_per_diem():
    t = Trip(dt("2026-03-02T18:00"), dt("2026-03-03T20:00"), stayed_overnight=True)
    result = calculate_per_diem(t, R2026)
    # Departure at 18:00: half day 150; return after 19:00: full day 300; one night 150.
    assert result.tax_free == D(600)


@pytest.mark.parametrize(
    ("start", "end", "overnight", "message"),
    [
        ("2026-03-02T07:00", "2026-03-02T20:00", True, "hemkomsten vara en senare dag"),
        ("2026-03-02T07:00", "2026-03-04T20:00", False, "utan övernattning kan vara högst"),
    ],
)
def test_an_answer_that_contradicts_the_dates_is_refused(start, end, overnight, message):
    with pytest.raises(TripError, match=message):
        calculate_per_diem(Trip(dt(start), dt(end), stayed_overnight=overnight), R2026)


# --- several countries ----------------------------------------------------------------------------


def test_each_day_counts_in_the_country_where_most_of_06_to_24_was_spent():
    # Skatteverket: when several countries are visited on one day, the normalbelopp of the
    # country where most of 06.00-24.00 was spent applies. Denmark, then Germany from 13:00 on
    # the second day (7 h in Denmark, 11 h in Germany): that day is German.
    t = Trip(
        dt("2024-05-06T07:00"), dt("2024-05-08T20:00"), country_code="DK",
        legs=(Leg("DE", dt("2024-05-07T13:00")),), stayed_overnight=True,
    )  # fmt: skip
    result = calculate_per_diem(t, R2024, foreign_table=T2024)
    days = result.details["days"]
    assert [(d["date"], d["country"], d["max"]) for d in days] == [
        ("2024-05-06", "DK", "1274.00"),
        ("2024-05-07", "DE", "800.00"),
        ("2024-05-08", "DE", "800.00"),
    ]  # each date once: no day counted twice
    nights = result.details["nights"]["list"]
    assert [(n["country"], n["max"]) for n in nights] == [("DK", "637.00"), ("DE", "400.00")]
    # One part per pay item, the days summed: payroll keys what it got by line and item.
    full = next(p for p in result.parts if p.item == PayItem.FOREIGN_FULL_DAY_TAX_FREE)
    assert (full.quantity, full.amount, full.note) == (3, D(2874), "DK, DE")
    assert len({p.item for p in result.parts}) == len(result.parts)


def test_a_night_in_sweden_on_the_way_home_is_a_domestic_night():
    # Denmark, back in Sweden at 17:00 on the second day, a hotel night in Malmö, home at noon.
    t = Trip(
        dt("2024-05-06T07:00"), dt("2024-05-08T12:00"), country_code="DK",
        legs=(Leg("SE", dt("2024-05-07T17:00")),), stayed_overnight=True,
    )  # fmt: skip
    result = calculate_per_diem(t, R2024, foreign_table=T2024)
    assert [(d["country"], d["kind"], d["max"]) for d in result.details["days"]] == [
        ("DK", "full", "1274.00"),
        ("DK", "full", "1274.00"),  # 11 h in Denmark, 7 h in Sweden
        ("SE", "half", "145.00"),  # home at 12:00: a domestic half day
    ]
    assert amounts(result) == {
        PayItem.FOREIGN_FULL_DAY_TAX_FREE: D(2548),
        PayItem.DOMESTIC_HALF_DAY_TAX_FREE: D(145),
        PayItem.FOREIGN_NIGHT_TAX_FREE: D(637),
        PayItem.DOMESTIC_NIGHT_TAX_FREE: D(145),
    }


def test_legs_out_of_order_are_refused():
    t = Trip(
        dt("2024-05-06T07:00"), dt("2024-05-08T12:00"), country_code="DK",
        legs=(Leg("DE", dt("2024-05-07T17:00")), Leg("SE", dt("2024-05-07T10:00"))),
        stayed_overnight=True,
    )  # fmt: skip
    with pytest.raises(TripError, match="måste börja efter det förra"):
        calculate_per_diem(t, R2024, foreign_table=T2024)


# --- any country ----------------------------------------------------------------------------------


def test_ovriga_lander_and_a_country_missing_from_the_years_table():
    # "Övriga länder och områden" chosen as such (2024: 493 kr), and Japan in a table that has
    # no row for it (the made-up one): Övriga länder och områden, 500 kr.
    ovriga = Trip(dt("2024-05-06T07:00"), dt("2024-05-07T20:00"), country_code="ZZ",
                  lodging_paid_by_employer=True, stayed_overnight=True)  # fmt: skip
    assert calculate_per_diem(ovriga, R2024, foreign_table=T2024).tax_free == D(986)
    japan = Trip(dt("2026-05-06T07:00"), dt("2026-05-07T20:00"), country_code="JP",
                 lodging_paid_by_employer=True, stayed_overnight=True)  # fmt: skip
    assert calculate_per_diem(japan, R2026, foreign_table=T_MADE_UP).tax_free == D(1000)


# --- across New Year ---------------------------------------------------------------------------


def test_a_trip_over_new_year_is_split_by_income_year():
    # 30 Dec 2026 07:00 to 2 Jan 2027 20:00, own lodging: 2026 days at 300 and nights at 150
    # (the night of 31 December belongs to 2026); 2027 days at the made-up 310, night 155.
    t = Trip(dt("2026-12-30T07:00"), dt("2027-01-02T20:00"), stayed_overnight=True)
    years = {2026: R2026, 2027: R2027}
    result_2026, result_2027 = calculate_trip(t, years.__getitem__)
    assert (result_2026.rule_year, result_2027.rule_year) == (2026, 2027)
    assert amounts(result_2026) == {
        PayItem.DOMESTIC_FULL_DAY_TAX_FREE: D(600),
        PayItem.DOMESTIC_NIGHT_TAX_FREE: D(300),
    }
    assert amounts(result_2027) == {
        PayItem.DOMESTIC_FULL_DAY_TAX_FREE: D(620),
        PayItem.DOMESTIC_NIGHT_TAX_FREE: D(155),
    }


def test_a_free_lunch_abroad_on_new_years_day_uses_2027s_values():
    t = Trip(
        dt("2026-12-31T07:00"), dt("2027-01-02T20:00"), country_code="NO",
        legs=(Leg("SE", dt("2027-01-01T19:00")),), stayed_overnight=True,
        lodging_paid_by_employer=True, meals={date(2027, 1, 1): DayMeals(lunch=F)},
    )  # fmt: skip
    years = {2026: R2026, 2027: R2027}
    _, result_2027 = calculate_trip(t, years.__getitem__, table_for=lambda year: T_MADE_UP)
    assert amounts(result_2027)[PayItem.FOREIGN_MEAL_BENEFIT_LUNCH] == D(126)
    # 35 % of Norge's 1 054 = 368,90 → 369.
    assert result_2027.details["days"][0]["reduction"] == "369.00"


def test_without_next_years_rules_a_trip_over_new_year_is_refused():
    from webapp.services.rates import RulesMissing

    def rules_for(year):
        if year == 2026:
            return R2026
        raise RulesMissing(year)

    t = Trip(dt("2026-12-30T07:00"), dt("2027-01-02T20:00"), stayed_overnight=True)
    with pytest.raises(RulesMissing):
        calculate_trip(t, rules_for)


# --- properties ----------------------------------------------------------------------------------

provisions = st.one_of(st.none(), st.sampled_from(list(MealProvision)))
money = st.one_of(st.none(), st.decimals(min_value="0", max_value="1000", places=2))


@settings(max_examples=150, deadline=None)
@given(
    start_day=st.integers(min_value=330, max_value=364),
    length=st.integers(min_value=1, max_value=20),
    departure_minute=st.integers(min_value=0, max_value=24 * 60 - 1),
    return_minute=st.integers(min_value=0, max_value=24 * 60 - 1),
    countries=st.lists(st.sampled_from(["SE", "DK", "NO", "JP", "ZZ"]), min_size=1, max_size=4),
    leg_hours=st.lists(st.integers(min_value=1, max_value=60), min_size=3, max_size=3),
    far=st.booleans(),
    lodging=st.booleans(),
    meals=st.lists(st.tuples(provisions, provisions, provisions), min_size=21, max_size=21),
    full=money,
    night=money,
    foreign_percent=st.decimals(min_value="0", max_value="200", places=0),
)
def test_trip_properties_over_new_year_and_several_countries(
    start_day, length, departure_minute, return_minute, countries, leg_hours, far, lodging,
    meals, full, night, foreign_percent,
):  # fmt: skip
    first = date(2026, 1, 1) + timedelta(days=start_day)
    departs = datetime.combine(first, datetime.min.time()) + timedelta(minutes=departure_minute)
    returns = datetime.combine(first + timedelta(days=length), datetime.min.time()) + timedelta(
        minutes=return_minute
    )
    legs, at = [], departs
    for country, hours in zip(countries[1:], leg_hours, strict=False):
        at = at + timedelta(hours=hours)
        if at >= returns:
            break
        legs.append(Leg(country, at))
    days = [first + timedelta(days=i) for i in range((returns.date() - first).days + 1)]
    t = Trip(
        departs, returns, country_code=countries[0], far_from_home=far,
        lodging_paid_by_employer=lodging, stayed_overnight=True, legs=tuple(legs),
        meals={d: DayMeals(*m) for d, m in zip(days, meals, strict=False)},
    )  # fmt: skip
    policy = PerDiemPolicy(full_day=full, night=night, foreign_percent=foreign_percent)
    years = {2026: R2026, 2027: R2027}
    results = calculate_trip(t, years.__getitem__, lambda year: policy, lambda year: T_MADE_UP)
    assert [r.rule_year for r in results] == sorted({d.year for d in days})
    counted = [d["date"] for r in results for d in r.details["days"]]
    assert counted == [d.isoformat() for d in days]  # every day once, in its own year
    for result in results:
        paid = sum(D(d["paid"]) - D(d["reduction"]) for d in result.details["days"])
        if result.details["nights"]:
            paid += sum(D(n["paid"]) for n in result.details["nights"]["list"])
        # Tax-free + taxable = what is paid (after meal deductions); benefits are not paid.
        assert result.tax_free + result.taxable == paid
        assert result.tax_free >= 0 and result.taxable >= 0 and result.benefit >= 0
        for day in result.details["days"]:
            # Tax-free never above the day's maximum.
            assert 0 <= D(day["tax_free"]) <= D(day["max"]) - D(day["reduction"])
        for n in (result.details["nights"] or {}).get("list", []):
            assert 0 <= D(n["tax_free"]) <= D(n["max"])
        benefit_cap = result.details["days"] and len(result.details["days"]) * D(315)
        assert result.benefit <= (benefit_cap or 0)
