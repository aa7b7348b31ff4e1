import re

from playwright.sync_api import expect

from webapp.models import Role

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _add_form(page, kind: str):
    section = page.locator("details", has=page.locator("summary", has_text=re.compile(f"^{kind}$")))
    section.locator("summary").click()
    return section


def test_employee_files_a_report_with_each_kind_and_an_approver_approves_it(
    page, live_server, people, login
):
    employee = people.user(Role.EMPLOYEE, name="Maria Anställd")
    approver = people.user(Role.APPROVER, name="Erik Attest")

    login(employee)
    page.get_by_role("navigation").get_by_role("link", name="Mina utlägg").click()
    page.get_by_label("Namn på rapporten").fill("Mässa i Malmö")
    page.get_by_role("button", name="Skapa rapport").click()
    expect(page.get_by_role("heading", name="Mässa i Malmö")).to_be_visible()

    outlay = _add_form(page, "Utlägg")
    outlay.get_by_label("Datum").fill("2026-03-02")
    outlay.get_by_label("Beskrivning").fill("Tågbiljett")
    outlay.get_by_label("Belopp inkl. moms (kr)").fill("1 234,50")
    outlay.get_by_label("Varav moms (kr)").fill("74,07")
    outlay.get_by_label("Kostnadsställe").fill("KS-100")
    outlay.get_by_label("Kvitto").set_input_files(
        {"name": "kvitto.png", "mimeType": "image/png", "buffer": PNG}
    )
    outlay.get_by_role("button", name="Spara utlägg").click()
    expect(page.get_by_role("status")).to_have_text("Raden är sparad.")
    expect(page.get_by_role("article", name="Utlägg Tågbiljett")).to_contain_text("1\u00a0234,50")

    mileage = _add_form(page, "Milersättning")
    mileage.get_by_label("Datum").fill("2026-03-02")
    mileage.get_by_label("Syfte").fill("Kundmöte")
    mileage.get_by_label("Från").fill("Stockholm")
    mileage.get_by_label("Till").fill("Uppsala")
    mileage.get_by_label("Kilometer").fill("300")
    mileage.get_by_role("button", name="Spara milersättning").click()
    expect(page.get_by_role("article", name="Milersättning Kundmöte")).to_contain_text("750,00")

    trip = _add_form(page, "Traktamente")
    trip.get_by_label("Syfte").fill("Mässa")
    trip.get_by_label("Ort", exact=True).fill("Malmö")
    trip.get_by_label("Avresedag").fill("2026-03-02")
    trip.get_by_label("Avresetid").fill("07:00")
    trip.get_by_label("Hemkomstdag").fill("2026-03-04")
    trip.get_by_label("Hemkomsttid").fill("20:00")
    trip.get_by_label("Arbetsgivaren betalar logi").check()
    trip.get_by_role(
        "radio", name="Ja", exact=True
    ).check()  # stayed overnight: asked, not inferred from the dates
    # htmx fetches one row of meal choices per day once the dates are known.
    trip.get_by_label("Lunch 2026-03-03").select_option("free")
    trip.get_by_role("button", name="Spara traktamente").click()
    line = page.get_by_role("article", name="Traktamente Mässa")
    line.get_by_text("Beräkning").click()
    expect(line).to_contain_text("−105,00")  # free lunch on a full day in 2026
    expect(line).to_contain_text("795,00")  # 3 × 300 − 105
    expect(page.get_by_test_id("report-total")).to_have_text("2\u00a0779,50\u00a0kr")

    page.get_by_role("button", name="Skicka in för attest").click()
    expect(page.get_by_text("Väntar på attest")).to_be_visible()
    page.get_by_role("button", name="Logga ut").click()

    login(approver)
    page.get_by_role("navigation").get_by_role("link", name="Att attestera").click()
    page.get_by_role("link", name="Mässa i Malmö").click()
    expect(page.get_by_role("article")).to_have_count(3)
    page.get_by_role("button", name="Attestera").click()
    expect(page.get_by_role("status")).to_have_text("Rapporten är attesterad.")
    expect(page.get_by_text("Inga rapporter väntar på attest.")).to_be_visible()


def test_an_employee_attaching_a_too_large_receipt_is_told_so(page, live_server, people, login):
    login(people.user(Role.EMPLOYEE, name="Maria Anställd"))
    page.get_by_role("navigation").get_by_role("link", name="Mina utlägg").click()
    page.get_by_label("Namn på rapporten").fill("Mässa i Malmö")
    page.get_by_role("button", name="Skapa rapport").click()

    outlay = _add_form(page, "Utlägg")
    outlay.get_by_label("Datum").fill("2026-03-02")
    outlay.get_by_label("Beskrivning").fill("Hotell")
    outlay.get_by_label("Belopp inkl. moms (kr)").fill("1 200,00")
    outlay.get_by_label("Varav moms (kr)").fill("128,57")

    def attach(size: int):
        photo = PNG + b"\0" * (size - len(PNG))
        outlay = page.locator("details[open]", has=page.get_by_label("Kvitto"))
        outlay.get_by_label("Kvitto").set_input_files(
            {"name": "hotell.png", "mimeType": "image/png", "buffer": photo}
        )
        outlay.get_by_role("button", name="Spara utlägg").click()

    # Just over 10 MB: the form says so itself, and keeps what was typed.
    attach(10 * 1024 * 1024 + 100_000)
    expect(page.get_by_text("Kvittot är större än 10 MB.")).to_be_visible()
    expect(page.get_by_label("Beskrivning")).to_have_value("Hotell")
    # Far over: refused before the upload is read, with a page that says why.
    attach(16 * 1024 * 1024)
    expect(page.get_by_role("heading", name="Det du skickade är för stort")).to_be_visible()
    expect(page.get_by_text("Ett kvitto får vara högst 10 MB.")).to_be_visible()
