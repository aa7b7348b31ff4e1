"""Issue 14 in Chromium: in December an admin enters next year's values, sees the amounts that
follow and confirms them; an employee files one trip over New Year with a free lunch abroad and
a night in Sweden on the way home; the transfer preview shows the kostförmån as its own line and
each year's amounts."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from tests.conftest import get_org, get_user
from tests.reports.helpers import login as client_login
from tests.transfers.helpers import add_paxml, staff
from webapp.extensions import db
from webapp.models import ExpenseReport
from webapp.services import tax_years

TABLE = "Norge NO 1 054\nÖvriga länder och områden 500\n"


@pytest.fixture
def december_2026(monkeypatch):
    monkeypatch.setattr(tax_years, "today", lambda: date(2026, 12, 4))


def test_admin_confirms_2027_and_a_trip_over_new_year_reaches_the_preview(
    app, page, live_server, people, login, december_2026
):
    s = staff(app, people)
    rid = add_paxml(app, s.admin)
    with app.app_context():  # Skatteverket's tables for Norway, imported earlier
        admin = get_user("admin@testbolaget.se")
        tax_years.import_table(admin, 2026, TABLE, date(2026, 12, 4))
        tax_years.import_table(admin, 2027, TABLE.replace("1 054", "1 100"), date(2026, 12, 4))
        db.session.commit()

    # The admin, in December: Inställningar says 2027's values are missing.
    login("admin@testbolaget.se")
    page.get_by_role("navigation", name="Huvudmeny").get_by_role(
        "link", name="Inställningar"
    ).click()
    notice = page.locator("#year-notice")
    expect(notice).to_contain_text("Den 1 januari börjar 2027")
    notice.get_by_role("link", name="Lägg in värdena för 2027").click()
    expect(page.get_by_label("Inkomstår")).to_have_value("2027")
    # A MADE-UP prisbasbelopp for 2027 (not Skatteverket's): 61 000 × 0,5 % = 305 → 310 kr.
    page.get_by_label("Prisbasbelopp (kr)").fill("61000")
    page.get_by_label("Milersättning egen bil, kr per mil").fill("25")
    page.get_by_label("Milersättning förmånsbil (ej el), kr per mil").fill("12")
    page.get_by_label("Milersättning elförmånsbil, kr per mil").fill("9,50")
    page.get_by_label("Kostförmån hel dag (frukost, lunch och middag), kr").fill("315")
    page.get_by_label("Kostförmån lunch eller middag, kr").fill("126")
    page.get_by_label("Kostförmån frukost, kr").fill("63")
    page.get_by_role("button", name="Visa beloppen").click()
    derived = page.get_by_test_id("derived")
    expect(derived.get_by_role("row", name="Heldag inrikes")).to_contain_text("310,00")
    expect(derived.get_by_role("row", name="Halvdag inrikes")).to_contain_text("155,00")
    expect(derived.get_by_role("row", name="Efter tre månader")).to_contain_text("217,00")
    page.get_by_role("button", name="Bekräfta och använd beloppen för 2027").click()
    expect(page.get_by_role("status")).to_have_text("Värdena för 2027 gäller nu i Brygga.")
    page.get_by_role("button", name="Logga ut").click()

    # The employee files one trip: Oslo from 30 December, back in Sweden on New Year's evening
    # for a hotel night in Sweden, home at noon on 2 January; a free lunch in Oslo on 1 January.
    login("maria@testbolaget.se")
    page.get_by_role("navigation").get_by_role("link", name="Mina utlägg").click()
    page.get_by_label("Namn på rapporten").fill("Oslo över nyår")
    page.get_by_role("button", name="Skapa rapport").click()
    trip = page.locator(
        "details", has=page.locator("summary", has_text=re.compile("^Traktamente$"))
    )
    trip.locator("summary").click()
    trip.get_by_label("Syfte").fill("Kundprojekt")
    trip.get_by_label("Ort", exact=True).fill("Oslo")
    trip.locator('select[name="trip-country"]').select_option(label="Norge")
    trip.get_by_label("Avresedag").fill("2026-12-30")
    trip.get_by_label("Avresetid").fill("07:00")
    trip.get_by_label("Hemkomstdag").fill("2027-01-02")
    trip.get_by_label("Hemkomsttid").fill("12:00")
    trip.get_by_role("radio", name="Ja", exact=True).check()
    leg = trip.locator(".leg").first
    leg.locator('select[name="trip-leg-1-country"]').select_option(label="Sverige")
    leg.get_by_label("Från dag").fill("2027-01-01")
    leg.get_by_label("Från tid").fill("18:00")
    trip.get_by_label("Lunch 2027-01-01").select_option(label="Fri måltid")
    trip.get_by_role("button", name="Spara traktamente").click()
    expect(page.get_by_role("status")).to_have_text("Raden är sparad.")
    lines = page.get_by_role("article", name="Traktamente Kundprojekt")
    expect(lines).to_have_count(2)  # one line per income year, by itself
    expect(lines.nth(0)).to_contain_text("inkomstår 2026")
    expect(lines.nth(1)).to_contain_text("inkomstår 2027")
    expect(lines.nth(1).get_by_test_id("benefit")).to_contain_text("126,00")
    page.get_by_role("button", name="Skicka in för attest").click()
    expect(page.get_by_text("Väntar på attest")).to_be_visible()
    page.get_by_role("button", name="Logga ut").click()

    with app.app_context():
        report_id = db.session.scalar(db.select(ExpenseReport.id))
        assert get_org("Testbolaget AB") is not None
    approver = client_login(app, "attest@testbolaget.se")
    assert approver.post(f"/reports/{report_id}/approve").status_code == 302

    # The admin previews the transfer to the PAXml file.
    login("admin@testbolaget.se")
    page.get_by_role("navigation", name="Huvudmeny").get_by_role(
        "link", name="Redo att skickas"
    ).click()
    page.get_by_role("button", name="Förhandsgranska").click()
    to_send = page.locator("#to-send")
    benefit = to_send.get_by_role("row", name=re.compile("UTRFRM_LCH"))
    expect(benefit).to_contain_text("Kostförmån utrikes, lunch")
    expect(benefit).to_contain_text("126,00")
    full_days = to_send.get_by_role("row", name=re.compile("UTRHEL_FRI"))
    expect(full_days).to_have_count(2)
    expect(full_days.nth(0)).to_contain_text("2\u00a0108,00")  # 2026: 2 × 1 054
    expect(full_days.nth(1)).to_contain_text("1\u00a0100,00")  # 2027: 1 × 1 100
    expect(to_send.get_by_role("row", name=re.compile("INRNAT_FRI"))).to_contain_text("155,00")
    assert rid
