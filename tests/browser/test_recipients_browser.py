"""The manual's flow, walked in Chromium against the Nmbrs sandbox."""

import re

from playwright.sync_api import expect

from sandbox.data import DEMO_TOKEN, DEMO_USERNAME, OTHER_TOKEN, OTHER_USERNAME
from webapp.models import Role, User


def open_settings(page, live_server):
    page.get_by_role("navigation").get_by_role("link", name="Inställningar").click()
    expect(page.get_by_role("heading", name="Rapportmottagare")).to_be_visible()


def test_admin_adds_nmbrs_with_plus_wrong_key_first(
    page, live_server, people, login, nmbrs_sandbox
):
    login(people.user(Role.ADMIN))
    open_settings(page, live_server)
    page.get_by_role("link", name="Lägg till rapportmottagare").click()
    page.get_by_role("dialog").get_by_role("link", name=re.compile("^Nmbrs")).click()
    dialog = page.get_by_role("dialog", name="Anslut Nmbrs")
    dialog.get_by_label("E-postadress du loggar in i Nmbrs med").fill(DEMO_USERNAME)
    dialog.get_by_label("API-nyckel").fill("helt-fel-nyckel-123")
    dialog.get_by_role("button", name="Kontrollera och spara").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Nmbrs godkände inte API-nyckeln")
    expect(dialog).to_be_visible()  # the dialog stays open, nothing saved
    dialog.get_by_label("API-nyckel").fill(DEMO_TOKEN)
    dialog.get_by_role("button", name="Kontrollera och spara").click()
    company = page.get_by_role("dialog", name="Välj företag")
    company.get_by_label(re.compile("Fjällviks Bygg AB")).check()
    company.get_by_role("button", name="Spara").click()
    box = page.locator("#recipient-box")
    expect(box.get_by_text("Nmbrs – Fjällviks Bygg AB")).to_be_visible()
    expect(box.get_by_text("••••" + DEMO_TOKEN[-4:])).to_be_visible()
    expect(box.get_by_text("Aldrig synkad")).to_be_visible()
    assert DEMO_TOKEN not in page.content()


def test_admin_replaces_paxml_with_nmbrs_via_the_pen_and_sets_advanced_settings(
    page, live_server, people, login, nmbrs_sandbox
):
    login(people.user(Role.ADMIN))
    open_settings(page, live_server)
    page.get_by_role("link", name="Lägg till rapportmottagare").click()
    page.get_by_role("dialog").get_by_role("link", name=re.compile("^PAXml-fil")).click()
    paxml = page.get_by_role("dialog", name="Lägg till PAXml-fil")
    paxml.get_by_label("Namn i listan").fill("Lönefil Crona")
    paxml.get_by_role("button", name="Spara").click()
    expect(page.locator("#recipient-box").get_by_text("Lönefil Crona")).to_be_visible()

    page.get_by_role("link", name="Ändra eller ersätt Lönefil Crona").click()
    page.get_by_role("dialog").get_by_role("link", name=re.compile("^Nmbrs")).click()
    confirm = page.get_by_role("dialog", name=re.compile("Ersätt Lönefil Crona med Nmbrs"))
    expect(confirm).to_contain_text("arkiveras med sin historik")
    confirm.get_by_role("link", name="Fortsätt").click()
    dialog = page.get_by_role("dialog", name="Anslut Nmbrs")
    dialog.get_by_label("E-postadress du loggar in i Nmbrs med").fill(OTHER_USERNAME)
    dialog.get_by_label("API-nyckel").fill(OTHER_TOKEN)
    dialog.get_by_role("button", name="Kontrollera och spara").click()
    box = page.locator("#recipient-box")
    expect(box.get_by_text("Nmbrs – Grannbolaget AB")).to_be_visible()
    expect(box.get_by_text("Lönefil Crona")).to_have_count(0)

    # The row's middle opens the recipient view (the pen does not).
    box.get_by_text("Nmbrs – Grannbolaget AB").click()
    expect(page.get_by_role("heading", name="Nmbrs – Grannbolaget AB")).to_be_visible()
    expect(page.get_by_role("tab", name=re.compile("Lönearter"))).to_be_visible()
    page.get_by_role("link", name="Ändra avancerade inställningar").click()
    advanced = page.get_by_role("dialog", name="Avancerade inställningar")
    expect(advanced.get_by_role("row", name=re.compile("^Egen bil"))).to_be_visible()
    advanced.get_by_label("Skicka Utlägg").uncheck()
    advanced.get_by_role("button", name="Spara").click()
    expect(page.get_by_text("Avancerade inställningar är sparade.")).to_be_visible()
    summary = page.locator("#advanced-summary")
    # Not synced yet: no wage types, so nothing included can be sent (and the summary says so).
    expect(summary).to_contain_text("0 av 36 värden skickas.")
    expect(summary).to_contain_text("35 saknar löneart och skickas inte förrän en väljs")
    summary.get_by_text("Visa alla val").click()
    expect(summary.get_by_role("row", name=re.compile("^Utlägg skickas inte"))).to_be_visible()


def test_admin_maps_an_employee_by_hand_and_the_mapping_survives_reload_and_resave(
    app, page, live_server, people, login, nmbrs_sandbox
):
    """Issue 12, item 1: the chosen person once reached the browser as escaped text, so the
    row showed "– ingen –" after a reload and saving it again erased the mapping."""
    from webapp.extensions import db
    from webapp.models import PayrollEmployee, ReportRecipient

    login(people.user(Role.ADMIN))
    people.user(Role.EMPLOYEE, email="johan@testbolaget.se", employee_number="77", name="Johan")
    people.user(Role.EMPLOYEE, email="lisa@testbolaget.se", name="Lisa")
    open_settings(page, live_server)
    page.get_by_role("link", name="Lägg till rapportmottagare").click()
    page.get_by_role("dialog").get_by_role("link", name=re.compile("^Nmbrs")).click()
    dialog = page.get_by_role("dialog", name="Anslut Nmbrs")
    dialog.get_by_label("E-postadress du loggar in i Nmbrs med").fill(OTHER_USERNAME)
    dialog.get_by_label("API-nyckel").fill(OTHER_TOKEN)
    dialog.get_by_role("button", name="Kontrollera och spara").click()
    expect(page.locator("#recipient-box").get_by_text("Nmbrs – Grannbolaget AB")).to_be_visible()
    with app.app_context():
        recipient = db.session.scalar(db.select(ReportRecipient))
        row = PayrollEmployee(
            recipient_id=recipient.id, nmbrs_id=43, code="43", description="Johan Karlsson"
        )
        db.session.add(row)
        db.session.commit()
        recipient_id, row_id = recipient.id, row.id

    page.goto(f"{live_server}/settings/recipients/{recipient_id}?tab=employees")
    person = page.get_by_label("Person för Johan Karlsson")
    person.select_option(label="Johan (77)")
    page.get_by_role("row", name=re.compile("Johan Karlsson")).get_by_role(
        "button", name="Spara"
    ).click()
    expect(page.get_by_text("Kopplingen är sparad.")).to_be_visible()

    page.reload()
    person = page.get_by_label("Person för Johan Karlsson")
    expect(person.locator("option:checked")).to_have_text("Johan (77)")
    assert "&lt;option" not in page.content()
    page.get_by_role("row", name=re.compile("Johan Karlsson")).get_by_role(
        "button", name="Spara"
    ).click()  # saved again, unchanged
    expect(page.get_by_text("Kopplingen är sparad.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Person för Johan Karlsson").locator("option:checked")).to_have_text(
        "Johan (77)"
    )
    with app.app_context():
        employee = db.session.get(PayrollEmployee, row_id)
        johan = db.session.scalar(db.select(User).where(User.email == "johan@testbolaget.se"))
        assert (employee.user_id, employee.mapping_source) == (johan.id, "manual")


def test_a_click_that_meets_a_404_or_403_says_so_on_the_page(
    app, page, live_server, people, login, nmbrs_sandbox
):
    """Issue 12, item 9: htmx swaps no error response, so such a click once showed nothing."""
    from webapp.extensions import db
    from webapp.models import RecipientStatus, ReportRecipient

    admin = people.user(Role.ADMIN)
    login(admin)
    open_settings(page, live_server)
    page.get_by_role("link", name="Lägg till rapportmottagare").click()
    page.get_by_role("dialog").get_by_role("link", name=re.compile("^PAXml-fil")).click()
    paxml = page.get_by_role("dialog", name="Lägg till PAXml-fil")
    paxml.get_by_label("Namn i listan").fill("Lönefil Crona")
    paxml.get_by_role("button", name="Spara").click()
    page.locator("#recipient-box").get_by_text("Lönefil Crona").click()
    expect(page.get_by_role("heading", name="Lönefil Crona")).to_be_visible()

    # Meanwhile another admin removes the recipient: the pen's dialog no longer exists.
    with app.app_context():
        db.session.scalar(db.select(ReportRecipient)).status = RecipientStatus.REMOVED
        db.session.commit()
    page.get_by_role("link", name="Ändra avancerade inställningar").click()
    error = page.locator("#htmx-error").get_by_role("alert")
    expect(error).to_contain_text("Sidan finns inte")
    expect(error).to_contain_text("finns inte, eller tillhör en annan organisation")

    # And a right taken away while the page is open: the admin is now an employee.
    page.goto(f"{live_server}/settings/")
    with app.app_context():
        db.session.scalar(db.select(User).where(User.email == admin)).role = Role.EMPLOYEE
        db.session.commit()
    page.get_by_role("link", name="Lägg till rapportmottagare").click()
    expect(page.locator("#htmx-error").get_by_role("alert")).to_contain_text("Ingen behörighet")
