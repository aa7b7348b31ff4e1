from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.payitems import PayItem
from webapp.services.mileage import MileageError, calculate_mileage
from webapp.services.rates import VehicleKind, rules_for_year

R2026 = rules_for_year(2026)


def amounts(calculation):
    return {part.item: part.amount for part in calculation.parts}


def test_skatteverkets_example_30_mil_at_30_kr():
    result = calculate_mileage(D(300), VehicleKind.OWN_CAR, R2026, paid_rate=D(30))
    assert result.tax_free == D("750.00")
    assert result.taxable == D("150.00")
    assert amounts(result) == {
        PayItem.MILEAGE_OWN_CAR_TAX_FREE: D("750.00"),
        PayItem.MILEAGE_OWN_CAR_TAXABLE: D("150.00"),
    }


def test_default_rate_is_the_tax_free_rate():
    result = calculate_mileage(D(123), VehicleKind.OWN_CAR, R2026)
    assert result.tax_free == D("307.50")  # 12,3 mil × 25 kr
    assert result.taxable == 0


def test_electric_company_car_at_9_50():
    result = calculate_mileage(D(100), VehicleKind.ELECTRIC_COMPANY_CAR, R2026)
    assert amounts(result) == {PayItem.MILEAGE_ELECTRIC_CAR_TAX_FREE: D("95.00")}


def test_company_car_without_paid_fuel_is_all_taxable():
    result = calculate_mileage(
        D(100), VehicleKind.COMPANY_CAR, R2026, paid_rate=D(12), employee_paid_fuel=False
    )
    assert amounts(result) == {PayItem.MILEAGE_COMPANY_CAR_TAXABLE: D("120.00")}


def test_paying_less_than_the_tax_free_rate_is_all_tax_free():
    result = calculate_mileage(D(100), VehicleKind.OWN_CAR, R2026, paid_rate=D(18))
    assert (result.tax_free, result.taxable) == (D("180.00"), 0)


@pytest.mark.parametrize("km", [D(0), D(-10), D(20001)])
def test_impossible_distances_are_refused(km):
    with pytest.raises(MileageError):
        calculate_mileage(km, VehicleKind.OWN_CAR, R2026)


@given(
    km=st.decimals(min_value="0.1", max_value="20000", places=1),
    rate=st.decimals(min_value="0", max_value="100", places=2),
    vehicle=st.sampled_from(list(VehicleKind)),
    fuel=st.booleans(),
    year=st.sampled_from([2024, 2025, 2026]),
)
def test_tax_free_plus_taxable_is_what_is_paid(km, rate, vehicle, fuel, year):
    rules = rules_for_year(year)
    result = calculate_mileage(km, vehicle, rules, paid_rate=rate, employee_paid_fuel=fuel)
    paid = (km / 10 * rate).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    tax_free_rate = rules.mileage_per_mil.get(vehicle, D(0))  # cars only
    year_max = (km / 10 * tax_free_rate).quantize(D("0.01"), ROUND_HALF_UP)
    assert result.tax_free + result.taxable == paid
    assert 0 <= result.tax_free <= year_max
    assert result.taxable >= 0


@pytest.mark.parametrize(
    ("vehicle", "item"),
    [
        (VehicleKind.MOTORCYCLE, PayItem.MILEAGE_MOTORCYCLE_TAXABLE),
        (VehicleKind.MOPED, PayItem.MILEAGE_MOPED_TAXABLE),
        (VehicleKind.OTHER_VEHICLE, PayItem.MILEAGE_OTHER_VEHICLE_TAXABLE),
    ],
)
def test_motorcycle_moped_and_other_vehicles_are_all_taxable(vehicle, item):
    # Skatteverket: tax-free milersättning is for cars (egen bil 25 kr/mil, förmånsbil 12 / 9,50);
    # for a motorcycle or moped what is paid is taxable salary. 30 mil at 18 kr = 540 taxable.
    result = calculate_mileage(D(300), vehicle, R2026, paid_rate=D(18))
    assert [(p.item, p.amount) for p in result.parts] == [(item, D("540.00"))]
    assert (result.tax_free, result.taxable) == (0, D("540.00"))


def test_a_vehicle_without_a_tax_free_rate_needs_the_organizations_rate():
    with pytest.raises(MileageError, match="ingen ersättning för det fordonet"):
        calculate_mileage(D(300), VehicleKind.MOTORCYCLE, R2026)
