from tests.support import PASSWORD
from webapp.models import Role


def test_admin_logs_in_and_lands_on_settings(client, people, auth):
    email = people.user(Role.ADMIN)
    response = auth.login(email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/", follow_redirects=True)
    assert "Inställningar" in page.text
    assert "Testbolaget AB" in page.text


def test_wrong_password_gets_a_swedish_message_and_no_session(client, people, auth):
    email = people.user(Role.ADMIN)
    response = auth.login(email, "fel-lösenord-999")
    assert response.status_code == 401
    assert "Fel e-postadress eller lösenord." in response.text
    assert client.get("/settings/").status_code == 302  # still sent to the login page


def test_unknown_email_gets_the_same_message(client, auth):
    response = auth.login("ingen@finns.se", "vad-som-helst-123")
    assert response.status_code == 401
    assert "Fel e-postadress eller lösenord." in response.text


def test_email_is_case_insensitive(client, people, auth):
    email = people.user(Role.ADMIN)
    assert auth.login(email.upper()).status_code == 302


def test_logout_ends_this_session_only(app, people):
    """Logging out ends the browser's own session; the other browser stays logged in until
    its owner chooses "log out everywhere" (tests/test_sessions.py)."""
    email = people.user(Role.ADMIN)
    browser_a = app.test_client()
    browser_b = app.test_client()
    for browser in (browser_a, browser_b):
        browser.post("/login", data={"email": email, "password": PASSWORD})
        assert browser.get("/settings/").status_code == 200
    old_cookie = browser_a.get_cookie("session").value
    browser_a.post("/logout")
    assert browser_a.get("/settings/").status_code == 302
    assert browser_b.get("/settings/").status_code == 200
    # The logged-out cookie, replayed, no longer opens anything: the server ended its session.
    thief = app.test_client()
    thief.set_cookie("session", old_cookie)
    assert thief.get("/settings/").status_code == 302


def test_session_cookie_is_httponly_and_samesite(client, people, auth):
    email = people.user(Role.ADMIN)
    response = auth.login(email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_next_parameter_cannot_redirect_off_site(client, people):
    email = people.user(Role.ADMIN)
    response = client.post(
        "/login?next=//evil.example/", data={"email": email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


def test_login_is_recorded_in_the_audit_log(app, client, people, auth):
    from webapp.extensions import db
    from webapp.models import AuditEvent

    email = people.user(Role.ADMIN)
    auth.login(email)
    with app.app_context():
        actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert actions == ["auth.login"]
