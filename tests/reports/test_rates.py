from decimal import Decimal as D

import pytest

from webapp.services.rates import (
    ForeignTableError,
    RulesMissing,
    VehicleKind,
    available_years,
    known_countries,
    parse_foreign_table,
    rules_for_year,
    shipped_foreign_table,
)


def test_rules_ship_for_2024_to_2026():
    assert {2024, 2025, 2026} <= set(available_years())


@pytest.mark.parametrize(
    ("year", "full", "half", "night", "three_months", "two_years"),
    [
        (2024, "290", "145", "145", "203", "145"),
        (2025, "290", "145", "145", "203", "145"),
        (2026, "300", "150", "150", "210", "150"),
    ],
)
def test_domestic_amounts_match_skatteverket(year, full, half, night, three_months, two_years):
    dom = rules_for_year(year).domestic
    assert (dom.full_day, dom.half_day, dom.night) == (D(full), D(half), D(night))
    assert (dom.after_3_months, dom.after_2_years) == (D(three_months), D(two_years))


def test_mileage_rates_per_mil():
    rates = rules_for_year(2026).mileage_per_mil
    assert rates[VehicleKind.OWN_CAR] == D(25)
    assert rates[VehicleKind.COMPANY_CAR] == D(12)
    assert rates[VehicleKind.ELECTRIC_COMPANY_CAR] == D("9.50")


def test_a_year_without_rules_says_so():
    with pytest.raises(RulesMissing):
        rules_for_year(1999)


def test_shipped_2024_table_has_skatteverkets_amounts():
    table = shipped_foreign_table(2024)
    assert table.amount_for("DK") == D(1274)
    assert table.amount_for("FI") == D(948)
    assert table.amount_for("FR") == D(935)
    assert table.amount_for("CA") == D(1009)
    # References resolve to the referenced row: Grönland, se Danmark.
    assert table.amount_for("GL") == D(1274)
    assert table.amount_for("LB") == D(493)  # se Övriga länder och områden


def test_no_foreign_table_ships_for_2025_and_2026():
    assert shipped_foreign_table(2025) is None
    assert shipped_foreign_table(2026) is None


def test_known_countries_come_from_the_table():
    countries = dict(known_countries())
    assert countries["DK"] == "Danmark"
    assert "SE" not in countries


def test_imported_table_falls_back_to_other_countries():
    text = (
        "country_sv,iso_code,amount_sek,see_also\nNorge,NO,1054,\nÖvriga länder och områden,,500,\n"
    )
    table = parse_foreign_table(text, 2026)
    assert table.amount_for("NO") == D(1054)
    assert table.amount_for("DK") == D(500)


@pytest.mark.parametrize(
    "text",
    [
        "land;belopp\nNorge;1054\n",
        "country_sv,iso_code,amount_sek,see_also\nNorge,NO,tusen,\n",
        "country_sv,iso_code,amount_sek,see_also\nNorge,NO,-5,\n",
        "country_sv,iso_code,amount_sek,see_also\nGrönland,GL,,Danmark\n",
        "country_sv,iso_code,amount_sek,see_also\n",
    ],
)
def test_a_broken_table_is_refused(text):
    with pytest.raises(ForeignTableError):
        parse_foreign_table(text, 2026)
