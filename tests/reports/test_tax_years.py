"""A payroll year without a release: amounts derived from the prisbasbelopp, next year's values
entered and confirmed, Skatteverket's table read as published, the notice and the reminder."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal as D
from importlib import resources

import pytest

from webapp.extensions import db
from webapp.models import Role, TaxYearReminder, TaxYearValues
from webapp.services import tax_years
from webapp.services.rates import (
    MEAL_PERCENT_DOMESTIC,
    MEAL_PERCENT_FOREIGN,
    derive_domestic,
    known_countries,
    meal_reductions,
    read_published_table,
    rules_for_year,
    shipped_foreign_table,
)

from .helpers import add_mileage, add_trip, company, login, new_report, text_of

# A MADE-UP prisbasbelopp for 2027, for the tests only: Skatteverket had not published 2027's
# when this was written. 61 000 × 0,5 % = 305 → 310 kr full day.
MADE_UP_PBB_2027 = 61_000
VALUES_2027 = {
    "year": "2027",
    "price_base_amount": str(MADE_UP_PBB_2027),
    "own_car": "25",
    "company_car": "12",
    "electric_company_car": "9,50",
    "benefit_whole_day": "315",
    "benefit_lunch_or_dinner": "126",
    "benefit_breakfast": "63",
}


@pytest.fixture
def december_2026(monkeypatch):
    monkeypatch.setattr(tax_years, "today", lambda: date(2026, 12, 4))


# --- the law: domestic amounts follow from the prisbasbelopp ------------------------------------


@pytest.mark.parametrize(
    ("year", "pbb", "full", "half", "three_months", "two_years"),
    [
        # Skatteverket: 2024 pbb 57 300 → 0,5 % = 286,50 → 290; 2025 58 800 → 294 → 290;
        # 2026 59 200 → 296 → 300. Half day and night half; 70 % after 3 months; 50 % after 2 years.
        (2024, 57_300, 290, 145, 203, 145),
        (2025, 58_800, 290, 145, 203, 145),
        (2026, 59_200, 300, 150, 210, 150),
    ],
)
def test_shipped_years_follow_from_their_prisbasbelopp(
    year, pbb, full, half, three_months, two_years
):
    rules = rules_for_year(year)
    assert rules.price_base_amount == pbb
    derived = derive_domestic(pbb)
    assert derived == rules.domestic
    assert (derived.full_day, derived.half_day, derived.night) == (D(full), D(half), D(half))
    assert (derived.after_3_months, derived.after_2_years) == (D(three_months), D(two_years))
    assert rules.meal_percent_domestic == MEAL_PERCENT_DOMESTIC
    assert rules.meal_percent_foreign == MEAL_PERCENT_FOREIGN


@pytest.mark.parametrize(
    ("pbb", "reductions"),
    [
        # Skatteverket's table of meal reductions on 290 (2024/2025) and on 300 (2026).
        (57_300, {"breakfast": 58, "lunch_or_dinner": 102, "lunch_and_dinner": 203,
                  "breakfast_and_one": 160, "all_three": 261}),
        (59_200, {"breakfast": 60, "lunch_or_dinner": 105, "lunch_and_dinner": 210,
                  "breakfast_and_one": 165, "all_three": 270}),
    ],
)  # fmt: skip
def test_meal_reductions_follow_from_the_full_day(pbb, reductions):
    assert meal_reductions(derive_domestic(pbb)) == {k: D(v) for k, v in reductions.items()}


def test_rounding_to_the_nearest_ten_kronor():
    assert derive_domestic(60_000).full_day == D(300)  # 300,00
    assert derive_domestic(60_900).full_day == D(300)  # 304,50 → 300
    assert derive_domestic(61_000).full_day == D(310)  # 305,00 → 310


# --- Skatteverket's table as published ----------------------------------------------------------


def _codes():
    return {name: code for code, name in known_countries()}


def test_copied_text_of_the_allmanna_rad_is_read():
    text = (
        "Land eller område\tLandskod\tNormalbelopp\n"
        "Danmark DK 1 274\n"
        "Finland FI 948\n"
        "Grönland, se Danmark\n"
        "Kanada CA 1.009\n"
        "Sidhuvud som inte är en rad\n"
        "Övriga länder och områden 493\n"
    )
    reading = read_published_table(text, 2027, _codes())
    table = reading.table
    assert table.amount_for("DK") == D(1274)
    assert table.amount_for("CA") == D(1009)  # "1.274"-style thousands separator
    assert table.amount_for("GL") == D(1274)  # Grönland, se Danmark (code from its name)
    assert table.other_countries == D(493)
    assert table.amount_for("JP") == D(493)  # missing: Övriga länder och områden
    assert reading.not_understood == [(6, "Sidhuvud som inte är en rad")]


@pytest.mark.parametrize(
    "text",
    [
        "År;Land eller område;Normalbelopp\n2027;Danmark;1274\n2027;Grönland;Se Danmark\n"
        "2027;Frankrike;935\n2027;Övriga länder och områden;493\n",
        'Land,Landskod,Belopp\nDanmark,DK,"1 274"\nGrönland,GL,se Danmark\nFrankrike,FR,935\n'
        "Övriga länder och områden,,493\n",
        "Danmark;DK;1.274\nGrönland;GL;Se Danmark\nFrankrike;FR;935\n"
        "Övriga länder och områden;;493\n",
    ],
    ids=["open-data-semicolon", "comma-csv", "semicolon-with-codes"],
)
def test_csv_with_semicolons_or_commas_is_read(text):
    reading = read_published_table(text, 2027, _codes())
    assert reading.not_understood == []
    table = reading.table
    assert (table.amount_for("DK"), table.amount_for("GL"), table.amount_for("FR")) == (
        D(1274), D(1274), D(935),
    )  # fmt: skip
    assert table.other_countries == D(493)


def test_the_shipped_2024_table_reads_back_the_same():
    path = resources.files("webapp.rules") / "foreign" / "utlandstraktamente-2024.csv"
    reading = read_published_table(path.read_text(encoding="utf-8"), 2024)
    shipped = shipped_foreign_table(2024)
    assert reading.not_understood == []
    assert reading.table.amounts == shipped.amounts
    assert reading.table.other_countries == shipped.other_countries == D(493)


# --- an admin enters next year's values ---------------------------------------------------------


def test_2027_is_refused_until_an_admin_confirms_its_values_then_works_end_to_end(
    app, people, december_2026
):
    staff = company(people, org="Årsskiftet AB")
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    # Never last year's amounts: a 2027 line is refused with a way forward.
    refused = add_trip(maria, report_id, departure_date="2027-01-11", return_date="2027-01-12")
    assert refused.status_code == 422
    assert "Brygga har inga regler för år 2027" in refused.text
    assert add_mileage(maria, report_id, date="2027-01-11").status_code == 422

    admin = login(app, staff["admin"])
    settings = admin.get("/settings/")
    assert "Den 1 januari börjar 2027" in settings.text
    preview = admin.post("/reports/years", data={**VALUES_2027, "action": "preview"})
    assert preview.status_code == 200
    page = text_of(preview)
    assert "Prisbasbelopp 61000 kr ger:" in page
    for label, amount in [
        ("Heldag inrikes", "310,00 kr"),
        ("Halvdag inrikes", "155,00 kr"),
        ("Nattraktamente", "155,00 kr"),
        ("Efter tre månader", "217,00 kr"),
        ("Efter två år", "155,00 kr"),
        ("Måltidsavdrag lunch eller middag", "109,00 kr"),
    ]:
        assert f'<th scope="row">{label}</th><td>{amount}</td>' in page
    with app.app_context():
        assert db.session.scalar(db.select(TaxYearValues)) is None  # nothing applies yet

    confirmed = admin.post("/reports/years", data={**VALUES_2027, "action": "confirm"})
    assert confirmed.status_code == 302
    assert "Prisbasbelopp 61000" in admin.get("/reports/years").text
    assert "Den 1 januari börjar 2027. Brygga saknar årets prisbasbelopp" not in (
        admin.get("/settings/").text
    )

    # The employee's 2027 trip and mileage now use 2027's amounts.
    lunch = [("2027-01-11", "lunch")]
    saved = add_trip(
        maria, report_id, departure_date="2027-01-11", return_date="2027-01-12", meals=lunch
    )
    assert saved.status_code == 302, saved.text
    assert add_mileage(maria, report_id, date="2027-01-11").status_code == 302
    page = text_of(maria.get(f"/reports/{report_id}"))
    # 2 full days at 310 − lunch 35 % of 310 (109) = 511 tax-free; 30 mil × 25 = 750.
    assert "Skattefritt <strong>511,00 kr</strong>" in page
    assert "Kostförmån <strong>126,00 kr</strong>" in page  # 2027's entered lunch value
    assert "Skattefritt <strong>750,00 kr</strong>" in page
    assert "Skatteverkets belopp för 2027." in page


def test_year_values_that_cannot_be_are_refused_and_nothing_changes(app, people, december_2026):
    admin = login(app, company(people, org="Felvärden AB")["admin"])
    cases = [
        ({"price_base_amount": "5"}, "Prisbasbeloppet måste vara mellan 20 000 och 200 000 kr."),
        ({"year": "2026"}, "Brygga har redan Skatteverkets belopp för 2026."),
        ({"year": "2029"}, "Året måste vara mellan 2020 och 2027."),
        ({"own_car": "0"}, "Milersättningen måste vara större än 0"),
        ({"benefit_whole_day": "10"}, "Kostförmån för en hel dag kan inte vara lägre"),
    ]
    for change, message in cases:
        response = admin.post("/reports/years", data={**VALUES_2027, **change, "action": "confirm"})
        assert response.status_code == 422
        assert message in response.text
    with app.app_context():
        assert db.session.scalar(db.select(TaxYearValues)) is None


def test_an_employee_cannot_enter_year_values(app, people):
    maria = login(app, company(people, org="Anställd AB")["maria"])
    response = maria.post("/reports/years", data={**VALUES_2027, "action": "confirm"})
    assert response.status_code in (302, 403, 404)
    with app.app_context():
        assert db.session.scalar(db.select(TaxYearValues)) is None


def test_the_notice_shows_from_the_first_of_december(app, people, monkeypatch):
    admin = login(app, company(people, org="Notis AB")["admin"])
    monkeypatch.setattr(tax_years, "today", lambda: date(2026, 11, 30))
    assert "Den 1 januari börjar 2027" not in admin.get("/settings/").text
    monkeypatch.setattr(tax_years, "today", lambda: date(2026, 12, 1))
    assert "Den 1 januari börjar 2027" in admin.get("/settings/").text


# --- the foreign table for next year, read before it is saved -----------------------------------


def test_admin_imports_skatteverkets_text_for_2027_and_sees_changes_first(
    app, people, december_2026
):
    admin = login(app, company(people, org="Utland AB")["admin"])
    # Last year's (2026) table, so that 2027 can be compared with it.
    base = "Danmark DK 1 274\nNorge NO 1 054\nÖvriga länder och områden 493\n"
    admin.post("/reports/foreign-tables", data={"year": "2026", "text": base, "action": "save"})
    text = (
        "Danmark DK 1 300\nNorge NO 1 054\nGrönland, se Danmark\nTyskland DE 1.012\n"
        "Atlantis 12 13 14\nÖvriga länder och områden 500\n"
    )
    response = admin.post("/reports/foreign-tables", data={"year": "2027", "text": text})
    assert response.status_code == 200
    page = text_of(response)
    assert "4 länder med belopp." in page  # DK, NO, GL (se Danmark), DE
    assert "Övriga länder och områden: 500,00 kr." in page
    assert "Ändringar mot 2026 (4)" in page
    assert "<td>Danmark</td><td>1 274,00 kr</td><td>1 300,00 kr</td>" in page
    assert "Rad 5: Atlantis 12 13 14" in page
    with app.app_context():
        assert tax_years.foreign_table_for(staff_org(app, "Utland AB"), 2027) is None
    saved = admin.post(
        "/reports/foreign-tables", data={"year": "2027", "text": text, "action": "save"}
    )
    assert saved.status_code == 302
    with app.app_context():
        table = tax_years.foreign_table_for(staff_org(app, "Utland AB"), 2027)
        assert (table.amount_for("DK"), table.amount_for("GL")) == (D(1300), D(1300))


def test_a_file_in_excels_swedish_encoding_is_read(app, people, december_2026):
    admin = login(app, company(people, org="Excel AB")["admin"])
    data = "Land;Kod;Belopp\nÖsterrike;AT;1 001\nÖvriga länder och områden;;493\n".encode("cp1252")
    response = admin.post(
        "/reports/foreign-tables",
        data={"year": "2027", "table": (io.BytesIO(data), "normalbelopp.csv")},
        content_type="multipart/form-data",
    )
    assert "1 länder med belopp." in text_of(response)
    assert "Österrike" not in text_of(response) or "Rader som inte förstods" not in text_of(
        response
    )


def staff_org(app, name):
    from tests.conftest import get_org

    return get_org(name).id


# --- the reminder the clock sends once ----------------------------------------------------------


def test_the_clock_mails_admins_once_from_the_first_of_december(app, people, mailbox):
    staff = company(people, org="Påminnelse AB")
    with app.app_context():
        assert tax_years.remind_admins(datetime(2026, 11, 30, 12, tzinfo=UTC)) == 0
        first = tax_years.remind_admins(datetime(2026, 12, 1, 6, tzinfo=UTC))
        again = tax_years.remind_admins(datetime(2026, 12, 2, 6, tzinfo=UTC))
    assert first >= 1 and again == 0
    mails = mailbox.to(staff["admin"])
    assert len(mails) == 1
    assert mails[0]["Subject"] == "Brygga behöver värdena för 2027"
    body = mails[0].get_content()
    assert "prisbasbelopp, milersättning och kostförmån för 2027" in body
    assert "https://brygga.example.se/reports/years" in body
    assert mailbox.to(staff["maria"]) == []  # admins only
    with app.app_context():
        assert (
            db.session.scalar(
                db.select(db.func.count(TaxYearReminder.id)).where(
                    TaxYearReminder.organization_id == staff_org(app, "Påminnelse AB")
                )
            )
            == 1
        )


def test_no_reminder_when_next_years_values_are_there(app, people, mailbox, runner, monkeypatch):
    monkeypatch.setattr(tax_years, "today", lambda: date(2026, 12, 4))
    staff = company(people, org="Förberedd AB")
    result = runner.invoke(
        args=[
            "tax-year", "set", "--year", "2027", "--prisbasbelopp", str(MADE_UP_PBB_2027),
            "--own-car", "25", "--company-car", "12", "--electric-company-car", "9.50",
            "--benefit-day", "315", "--benefit-lunch", "126", "--benefit-breakfast", "63",
            "--org", "Förberedd AB", "--yes",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = "Danmark;DK;1300\nÖvriga länder och områden;;500\n"
    with app.app_context():
        admin = db.session.scalar(
            db.select(TaxYearValues).where(
                TaxYearValues.organization_id == staff_org(app, "Förberedd AB")
            )
        )
        assert admin.confirmed_by_operator
        from tests.conftest import get_user

        tax_years.import_table(get_user(staff["admin"]), 2027, table, date(2026, 12, 4))
        db.session.commit()
        tax_years.remind_admins(datetime(2026, 12, 4, 6, tzinfo=UTC))
    assert mailbox.to(staff["admin"]) == []


# --- the operator's command ---------------------------------------------------------------------


def test_operator_sees_the_derived_amounts_and_must_confirm(app, people, runner, monkeypatch):
    monkeypatch.setattr(tax_years, "today", lambda: date(2026, 12, 4))
    people.user(Role.ADMIN, org="Kommando AB", email="admin@kommando.se")
    args = [
        "tax-year", "set", "--year", "2027", "--prisbasbelopp", str(MADE_UP_PBB_2027),
        "--own-car", "25", "--company-car", "12", "--electric-company-car", "9.50",
        "--benefit-day", "315", "--benefit-lunch", "126", "--benefit-breakfast", "63",
        "--org", "Kommando AB",
    ]  # fmt: skip
    declined = runner.invoke(args=args, input="n\n")
    assert "full day 310, half day 155, night 155, after 3 months 217" in declined.output
    assert "Nothing changed." in declined.output
    with app.app_context():
        assert tax_years.entered_values(staff_org(app, "Kommando AB"), 2027) is None
    accepted = runner.invoke(args=args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Values for 2027 apply to 1 organization(s)." in accepted.output
    with app.app_context():
        rules = tax_years.rules_for(staff_org(app, "Kommando AB"), 2027)
        assert rules.domestic.full_day == D(310)
        assert rules.meal_benefit.lunch_or_dinner == D(126)
    bad = runner.invoke(args=[*args[:5], "5", *args[6:], "--yes"])
    assert bad.exit_code != 0
    assert "Prisbasbeloppet måste vara mellan" in bad.output


# --- a trip over New Year, filed as one line -----------------------------------------------------


def _year_2027_for(app, org_name):
    from tests.conftest import get_user

    with app.app_context():
        org = staff_org(app, org_name)
        data = tax_years.YearValuesInput(
            2027, MADE_UP_PBB_2027, D(25), D(12), D("9.50"), D(315), D(126), D(63)
        )
        tax_years.save_values(org, data, date(2026, 12, 4))
        admin = get_user(f"admin@{org_name.split()[0].lower()}.se")
        table = "Norge NO 1 054\nÖvriga länder och områden 500\n"
        tax_years.import_table(admin, 2026, table, date(2026, 12, 4))
        tax_years.import_table(admin, 2027, table.replace("1 054", "1 100"), date(2026, 12, 4))
        db.session.commit()


def test_employee_files_one_trip_over_new_year_and_gets_a_line_per_year(app, people, december_2026):
    staff = company(people, org="Nyår AB")
    _year_2027_for(app, "Nyår AB")
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    response = add_trip(
        maria, report_id, country="NO", departure_date="2026-12-30", departure_time="07:00",
        return_date="2027-01-02", return_time="12:00", lodging_paid_by_employer=None,
        meals=[("2027-01-01", "lunch")],
        **{"leg-1-country": "SE", "leg-1-date": "2027-01-01", "leg-1-time": "18:00"},
    )  # fmt: skip
    assert response.status_code == 302, text_of(response)
    with app.app_context():
        from webapp.models import ExpenseLine

        lines = list(db.session.scalars(db.select(ExpenseLine).order_by(ExpenseLine.id)))
        assert [line.rule_year for line in lines] == [2026, 2027]
        assert lines[0].trip_id and lines[0].trip_id == lines[1].trip_id
        assert lines[1].meal_kinds == {"2027-01-01": {"lunch": "free"}}
        assert [leg["country"] for leg in lines[0].legs] == ["NO", "SE"]
        # 2026: 30 and 31 December in Norway at 1 054, two nights at 527.
        assert lines[0].tax_free == D(2108 + 1054)
        # 2027: 1 January in Norway (1 100 − lunch 35 % = 385), the night in Sweden (155),
        # home at noon: a domestic half day (155).
        assert lines[1].tax_free == D(1100 - 385 + 155 + 155)
        assert lines[1].benefit == D(126)
    page = text_of(maria.get(f"/reports/{report_id}"))
    assert "inkomstår 2026" in page and "inkomstår 2027" in page
    assert "Norge → Sverige" in page
    assert "Kostförmån <strong>126,00 kr</strong>" in page
    line_id = lines[0].id
    deleted = maria.post(f"/reports/{report_id}/lines/{line_id}/delete")
    assert deleted.status_code == 302
    with app.app_context():
        from webapp.models import ExpenseLine

        assert db.session.scalars(db.select(ExpenseLine)).all() == []  # both parts went


def test_a_leg_filled_in_part_is_refused(app, people):
    maria = login(app, company(people, org="Ben AB")["maria"])
    report_id = new_report(maria)
    response = add_trip(maria, report_id, **{"leg-1-country": "DK"})
    assert response.status_code == 422
    assert "Ange land, datum och tid för varje land på resan." in response.text


def test_the_overnight_question_must_be_answered(app, people):
    maria = login(app, company(people, org="Fråga AB")["maria"])
    report_id = new_report(maria)
    response = add_trip(maria, report_id, stayed_overnight=None)
    assert response.status_code == 422
    assert "Svara om du övernattade." in response.text


def test_every_country_of_an_imported_table_is_offered_with_ovriga_lander(
    app, people, december_2026
):
    staff = company(people, org="Bhutan AB")
    admin = login(app, staff["admin"])
    text = "Bhutan BT 900\nÖvriga länder och områden 500\n"  # Bhutan is not in 2024's table
    assert (
        admin.post(
            "/reports/foreign-tables", data={"year": "2027", "text": text, "action": "save"}
        ).status_code
        == 302
    )
    _year_values_2027(app, "Bhutan AB")
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    page = maria.get(f"/reports/{report_id}").text
    assert '<option value="BT">Bhutan</option>' in page
    assert '<option value="ZZ">Övriga länder och områden</option>' in page
    response = add_trip(
        maria, report_id, country="BT", departure_date="2027-03-01", return_date="2027-03-02"
    )
    assert response.status_code == 302, text_of(response)
    assert "Skattefritt <strong>1 800,00 kr</strong>" in text_of(maria.get(f"/reports/{report_id}"))


def _year_values_2027(app, org_name):
    with app.app_context():
        data = tax_years.YearValuesInput(
            2027, MADE_UP_PBB_2027, D(25), D(12), D("9.50"), D(315), D(126), D(63)
        )
        tax_years.save_values(staff_org(app, org_name), data, date(2026, 12, 4))
        db.session.commit()


def test_the_clock_process_mails_the_reminder_once(app, people, mailbox, december_2026):
    from jobs.clock import tick

    staff = company(people, org="Klocka AB")
    tick(app)
    tick(app)
    assert [m["Subject"] for m in mailbox.to(staff["admin"])] == ["Brygga behöver värdena för 2027"]
