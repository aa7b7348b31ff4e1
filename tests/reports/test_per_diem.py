from datetime import date, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.payitems import PayItem
from webapp.services.per_diem import (
    DayMeals,
    PerDiemPolicy,
    Trip,
    TripError,
    calculate_per_diem,
)
from webapp.services.rates import parse_foreign_table, rules_for_year, shipped_foreign_table

R2024, R2025, R2026 = rules_for_year(2024), rules_for_year(2025), rules_for_year(2026)
DK_2024 = shipped_foreign_table(2024)


def amounts(calculation):
    return {part.item: part.amount for part in calculation.parts}


def trip(start, end, **kwargs):
    return Trip(datetime.fromisoformat(start), datetime.fromisoformat(end), **kwargs)


def one_full_day_with(meals: DayMeals, rules=R2026, year=2026):
    """The middle day of a three-day trip with lodging paid: a plain full day."""
    t = trip(
        f"{year}-03-02T07:00",
        f"{year}-03-04T20:00",
        lodging_paid_by_employer=True,
        meals={date(year, 3, 3): meals},
    )
    return calculate_per_diem(t, rules).details["days"][1]


def test_full_day_with_free_lunch_2026_is_300_minus_105():
    day = one_full_day_with(DayMeals(lunch=True))
    assert (day["max"], day["reduction"], day["tax_free"]) == ("300.00", "105.00", "195.00")


@pytest.mark.parametrize(
    ("meals", "reduction"),
    [
        (DayMeals(breakfast=True), "58.00"),
        (DayMeals(lunch=True), "102.00"),
        (DayMeals(dinner=True), "102.00"),
        (DayMeals(lunch=True, dinner=True), "203.00"),
        (DayMeals(breakfast=True, lunch=True), "160.00"),
        (DayMeals(breakfast=True, lunch=True, dinner=True), "261.00"),
    ],
)
def test_meal_reductions_on_290_match_skatteverkets_table(meals, reduction):
    day = one_full_day_with(meals, R2024, 2024)
    assert day["reduction"] == reduction
    assert D(day["tax_free"]) == D(290) - D(reduction)


def test_meal_reductions_on_300_in_2026():
    assert one_full_day_with(DayMeals(breakfast=True))["reduction"] == "60.00"
    all_meals = one_full_day_with(DayMeals(breakfast=True, lunch=True, dinner=True))
    assert all_meals["reduction"] == "270.00"


def test_three_day_trip_with_half_days_and_nights_2026():
    # Leaves 13:00 (half day), back 18:00 (half day), own lodging: two nights.
    result = calculate_per_diem(trip("2026-03-02T13:00", "2026-03-04T18:00"), R2026)
    assert [d["kind"] for d in result.details["days"]] == ["half", "full", "half"]
    assert amounts(result) == {
        PayItem.DOMESTIC_HALF_DAY_TAX_FREE: D("300.00"),
        PayItem.DOMESTIC_FULL_DAY_TAX_FREE: D("300.00"),
        PayItem.DOMESTIC_NIGHT_TAX_FREE: D("300.00"),
    }
    assert (result.tax_free, result.taxable) == (D("900.00"), 0)


def test_departure_before_noon_and_return_after_seven_are_full_days():
    result = calculate_per_diem(trip("2024-03-02T11:59", "2024-03-03T19:01"), R2024)
    assert [d["kind"] for d in result.details["days"]] == ["full", "full"]


def test_departure_at_noon_and_return_at_seven_are_half_days():
    result = calculate_per_diem(trip("2024-03-02T12:00", "2024-03-03T19:00"), R2024)
    assert [d["kind"] for d in result.details["days"]] == ["half", "half"]


def test_lodging_paid_by_the_employer_gives_no_night_allowance():
    result = calculate_per_diem(
        trip("2026-03-02T07:00", "2026-03-04T20:00", lodging_paid_by_employer=True), R2026
    )
    assert PayItem.DOMESTIC_NIGHT_TAX_FREE not in amounts(result)
    assert result.tax_free == D("900.00")


def test_half_day_with_lunch_reduces_the_lower_base():
    t = trip("2024-03-02T13:00", "2024-03-03T20:00", meals={date(2024, 3, 2): DayMeals(lunch=True)})
    first = calculate_per_diem(t, R2024).details["days"][0]
    assert (first["max"], first["reduction"], first["tax_free"]) == ("145.00", "51.00", "94.00")


def test_one_day_trip_is_taxable_only():
    t = trip("2026-03-02T06:00", "2026-03-02T22:00")
    result = calculate_per_diem(t, R2026, PerDiemPolicy(one_day=D(120)))
    assert amounts(result) == {PayItem.DOMESTIC_ONE_DAY_TAXABLE: D("120.00")}
    assert result.tax_free == 0


def test_near_home_nothing_is_tax_free():
    t = trip("2026-03-02T07:00", "2026-03-03T20:00", far_from_home=False)
    policy = PerDiemPolicy(full_day=D(300), night=D(150))
    result = calculate_per_diem(t, R2026, policy)
    assert result.tax_free == 0
    assert result.taxable == D("750.00")


def test_paying_above_the_maximum_makes_the_excess_taxable():
    t = trip(
        "2026-03-02T07:00",
        "2026-03-03T20:00",
        lodging_paid_by_employer=True,
        meals={date(2026, 3, 2): DayMeals(lunch=True)},
    )
    result = calculate_per_diem(t, R2026, PerDiemPolicy(full_day=D(350)))
    assert amounts(result) == {
        PayItem.DOMESTIC_FULL_DAY_TAX_FREE: D("600.00"),
        PayItem.DOMESTIC_FULL_DAY_TAXABLE: D("100.00"),
        PayItem.DOMESTIC_MEAL_REDUCTION_LUNCH: D("-105.00"),
        # The free lunch is also a kostförmån (2026: 124 kr), a value, not money paid.
        PayItem.DOMESTIC_MEAL_BENEFIT_LUNCH: D("124.00"),
    }
    assert (result.tax_free, result.taxable) == (D("495.00"), D("100.00"))


def test_after_three_months_70_percent_and_no_tax_free_half_day():
    # Work at the same place since 1 January; this trip is in April.
    t = trip(
        "2024-04-08T07:00",
        "2024-04-10T17:00",
        assignment_start=date(2024, 1, 1),
        lodging_paid_by_employer=True,
    )
    result = calculate_per_diem(t, R2024, PerDiemPolicy(half_day=D(145)))
    days = result.details["days"]
    assert [(d["kind"], d["stage"], d["max"]) for d in days] == [
        ("full", "3m", "203.00"),
        ("full", "3m", "203.00"),
        ("half", "3m", "0.00"),
    ]
    assert amounts(result) == {
        PayItem.DOMESTIC_FULL_DAY_TAX_FREE: D("406.00"),
        PayItem.DOMESTIC_HALF_DAY_TAXABLE: D("145.00"),
    }


def test_three_months_start_the_day_after_the_third_month_ends():
    t = trip(
        "2026-03-31T07:00", "2026-04-01T20:00", assignment_start=date(2026, 1, 1),
        lodging_paid_by_employer=True,
    )  # fmt: skip
    days = calculate_per_diem(t, R2026).details["days"]
    assert [(d["stage"], d["max"]) for d in days] == [("", "300.00"), ("3m", "210.00")]


def test_after_two_years_50_percent_with_meals_on_the_lower_base():
    t = trip(
        "2025-03-03T07:00",
        "2025-03-04T20:00",
        assignment_start=date(2023, 3, 1),
        lodging_paid_by_employer=True,
        meals={date(2025, 3, 3): DayMeals(lunch=True)},
    )
    days = calculate_per_diem(t, R2025).details["days"]
    # 35 % of 145 = 50,75, rounded to 51 like Skatteverket's table.
    assert [(d["max"], d["reduction"]) for d in days] == [("145.00", "51.00"), ("145.00", "0.00")]


def test_a_foreign_day_in_denmark_2024_is_1274():
    t = trip("2024-05-02T07:00", "2024-05-03T20:00", country_code="DK")
    result = calculate_per_diem(t, R2024, foreign_table=DK_2024)
    assert amounts(result) == {
        PayItem.FOREIGN_FULL_DAY_TAX_FREE: D("2548.00"),
        PayItem.FOREIGN_NIGHT_TAX_FREE: D("637.00"),  # half the normalbelopp
    }
    assert all(part.note == "DK" for part in result.parts)


def test_foreign_meals_use_the_foreign_shares():
    t = trip(
        "2024-05-02T07:00",
        "2024-05-03T20:00",
        country_code="FI",
        lodging_paid_by_employer=True,
        meals={date(2024, 5, 2): DayMeals(breakfast=True, lunch=True, dinner=True)},
    )
    first = calculate_per_diem(t, R2024, foreign_table=DK_2024).details["days"][0]
    # 85 % of 948 = 805,80 → 806.
    assert (first["max"], first["reduction"]) == ("948.00", "806.00")


def test_foreign_half_day_and_three_month_percentages():
    t = trip(
        "2024-05-02T13:00",
        "2024-05-03T20:00",
        country_code="FR",
        assignment_start=date(2024, 1, 1),
        lodging_paid_by_employer=True,
    )
    days = calculate_per_diem(t, R2024, foreign_table=DK_2024).details["days"]
    assert [(d["kind"], d["max"]) for d in days] == [("half", "0.00"), ("full", "654.50")]
    fresh = trip("2024-05-02T13:00", "2024-05-03T20:00", country_code="FR")
    days = calculate_per_diem(fresh, R2024, foreign_table=DK_2024).details["days"]
    assert [(d["kind"], d["max"]) for d in days] == [("half", "467.50"), ("full", "935.00")]


def test_a_foreign_trip_without_the_years_table_says_so():
    t = trip("2026-05-02T07:00", "2026-05-03T20:00", country_code="DK")
    with pytest.raises(TripError, match="utlandstraktamente 2026 saknas"):
        calculate_per_diem(t, R2026, foreign_table=None)


def test_an_imported_table_gives_the_amounts():
    table = parse_foreign_table("country_sv,iso_code,amount_sek,see_also\nNorge,NO,1054,\n", 2026)
    t = trip(
        "2026-05-02T07:00", "2026-05-03T20:00", country_code="NO", lodging_paid_by_employer=True
    )
    assert calculate_per_diem(t, R2026, foreign_table=table).tax_free == D("2108.00")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-03-04T07:00", "2026-03-02T20:00", "Hemkomsten måste vara efter avresan"),
        ("2025-01-01T07:00", "2026-02-04T20:00", "högst 366 dagar"),
    ],
)
def test_impossible_trips_are_refused(start, end, message):
    with pytest.raises(TripError, match=message):
        calculate_per_diem(trip(start, end), R2026)


def test_an_unknown_country_is_refused():
    t = trip("2024-05-02T07:00", "2024-05-03T20:00", country_code="QQ")
    with pytest.raises(TripError, match="Okänt land"):
        calculate_per_diem(t, R2024, foreign_table=DK_2024)


meals_strategy = st.builds(DayMeals, st.booleans(), st.booleans(), st.booleans())
money = st.one_of(st.none(), st.decimals(min_value="0", max_value="1000", places=2))


@settings(max_examples=150, deadline=None)
@given(
    year=st.sampled_from([2024, 2025, 2026]),
    start_day=st.integers(min_value=0, max_value=300),
    length=st.integers(min_value=0, max_value=40),
    departure_minute=st.integers(min_value=0, max_value=24 * 60 - 1),
    return_minute=st.integers(min_value=0, max_value=24 * 60 - 1),
    months_before=st.integers(min_value=0, max_value=30),
    country=st.sampled_from(["SE", "SE", "DK", "US", "JP"]),
    far=st.booleans(),
    lodging=st.booleans(),
    meals=st.lists(meals_strategy, min_size=41, max_size=41),
    full=money,
    half=money,
    night=money,
    one_day=st.decimals(min_value="0", max_value="500", places=2),
    foreign_percent=st.decimals(min_value="0", max_value="200", places=0),
)
def test_per_diem_properties(
    year, start_day, length, departure_minute, return_minute, months_before, country, far,
    lodging, meals, full, half, night, one_day, foreign_percent,
):  # fmt: skip
    first = date(year, 1, 1) + timedelta(days=start_day)
    last = min(first + timedelta(days=length), date(year, 12, 31))
    departs = datetime.combine(first, datetime.min.time()) + timedelta(minutes=departure_minute)
    returns = datetime.combine(last, datetime.min.time()) + timedelta(minutes=return_minute)
    if returns <= departs:
        returns = departs + timedelta(minutes=1)
        if returns.year != year:
            return
    days = [first + timedelta(days=i) for i in range((returns.date() - first).days + 1)]
    t = Trip(
        departs,
        returns,
        country_code=country,
        far_from_home=far,
        lodging_paid_by_employer=lodging,
        assignment_start=first - timedelta(days=31 * months_before),
        meals=dict(zip(days, meals, strict=False)),
    )
    rules = rules_for_year(year)
    policy = PerDiemPolicy(full, half, night, one_day, foreign_percent)
    result = calculate_per_diem(t, rules, policy, foreign_table=DK_2024)

    total_paid = sum(D(d["paid"]) - D(d["reduction"]) for d in result.details["days"])
    if result.details["nights"]:
        total_paid += sum(D(n["paid"]) for n in result.details["nights"]["list"])
    # Tax-free + taxable = what is paid (after the meal deductions).
    assert result.tax_free + result.taxable == total_paid
    assert result.taxable >= 0
    # Tax-free never above the year's maximum, and never below zero.
    assert result.tax_free >= 0
    biggest_day = DK_2024.amount_for(country) if country != "SE" else rules.domestic.full_day
    assert result.tax_free <= biggest_day * len(days) * D("1.5")
    for day in result.details["days"]:
        assert D(day["reduction"]) >= 0
        assert 0 <= D(day["tax_free"]) <= D(day["max"]) - D(day["reduction"])
        assert D(day["tax_free"]) + D(day["taxable"]) == D(day["paid"]) - D(day["reduction"])
        if day["stage"] and day["kind"] == "half":
            assert D(day["tax_free"]) == 0
        if not far:
            assert D(day["tax_free"]) == 0
