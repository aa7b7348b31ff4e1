from playwright.sync_api import expect

from webapp.models import Role


def test_admin_logs_in_and_sees_settings_in_the_menu(page, live_server, people, login):
    email = people.user(Role.ADMIN)
    login(email)
    menu = page.get_by_role("navigation")
    expect(menu.get_by_role("link", name="Inställningar")).to_be_visible()
    menu.get_by_role("link", name="Inställningar").click()
    expect(page.get_by_role("heading", name="Inställningar")).to_be_visible()
    expect(page.get_by_text("Testbolaget AB").first).to_be_visible()


def test_wrong_password_shows_a_swedish_message(page, live_server, people, login):
    email = people.user(Role.ADMIN)
    login(email, "fel-lösenord-999")
    expect(page.get_by_role("alert")).to_have_text("Fel e-postadress eller lösenord.")


def test_employee_has_no_settings_menu_and_gets_403(page, live_server, people, login):
    login(people.user(Role.EMPLOYEE))
    expect(page.get_by_role("heading", name="Välkommen, Employee Testsson")).to_be_visible()
    expect(page.get_by_role("link", name="Inställningar")).to_have_count(0)
    response = page.goto(f"{live_server}/settings/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Ingen behörighet")).to_be_visible()


def test_admin_switches_to_english_and_logs_out(page, live_server, people, login):
    login(people.user(Role.ADMIN))
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("link", name="Settings")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
