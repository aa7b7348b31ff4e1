"""In Chromium: an invited approver chooses a password, logs in for the first time, is made to
set up two-step verification (as her organization requires), and logs in with a code; a
forgotten password is reset through the e-mail the local mail sink receives."""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import expect
from sqlalchemy import update

from tests.sync.helpers import work
from webapp.extensions import db
from webapp.models import Organization, Role

SARA = "sara@testbolaget.se"
HER_PASSWORD = "blåbärsskogen i augusti"


def test_invitation_first_login_mfa_enrolment_and_a_login_with_a_code(
    page, live_server, live_app, app, people, login, mailbox
):
    login(people.user(Role.ADMIN))
    page.get_by_role("navigation").get_by_role("link", name="Personer").click()
    page.get_by_label("Namn").fill("Sara Ek")
    page.get_by_label("E-post").fill(SARA)
    page.get_by_label("Roll").select_option(label="Attestant")
    page.get_by_role("button", name="Skicka inbjudan").click()
    expect(page.get_by_role("status")).to_contain_text("En inbjudan är skickad till " + SARA)
    expect(page.get_by_role("row", name=re.compile("Sara Ek"))).to_contain_text("Inbjuden")
    with app.app_context():  # the organization requires a second factor of approvers
        db.session.execute(update(Organization).values(mfa_required=True))
        db.session.commit()
    page.get_by_role("button", name="Logga ut", exact=True).click()

    # Sara opens the link in her invitation and chooses her own password.
    page.goto(live_server + mailbox.link(SARA, "invitation"))
    expect(page.get_by_role("heading", name="Välkommen till Brygga")).to_be_visible()
    page.get_by_label("Nytt lösenord (minst 10 tecken)").fill(HER_PASSWORD)
    page.get_by_label("Upprepa lösenordet").fill(HER_PASSWORD)
    page.get_by_role("button", name="Spara lösenordet").click()
    expect(page.get_by_role("status")).to_contain_text("Välkommen! Logga in med ditt nya lösenord.")

    # Her first login: the e-mail is filled in; she is sent to set up two-step verification.
    expect(page.get_by_label("E-post")).to_have_value(SARA)
    page.get_by_label("Lösenord").fill(HER_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Slå på tvåstegsverifiering")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(
        "Din organisation kräver tvåstegsverifiering"
    )
    page.get_by_role("link", name="Att attestera").click()  # nothing else opens before it
    expect(page.get_by_role("heading", name="Slå på tvåstegsverifiering")).to_be_visible()
    page.get_by_role("button", name="Börja").click()
    expect(page.get_by_role("img", name="QR-kod för autentiseringsappen")).to_be_visible()
    page.get_by_text("Kan du inte skanna? Skriv in nyckeln").click()
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    authenticator = pyotp.TOTP(secret)  # what her phone's app computes from the QR code
    page.get_by_label("Sexsiffrig kod från appen").fill(authenticator.now())
    page.get_by_role("button", name="Slå på").click()
    expect(page.get_by_role("heading", name="Tvåstegsverifieringen är på")).to_be_visible()
    expect(page.get_by_role("list", name="Reservkoder").get_by_role("listitem")).to_have_count(10)
    page.get_by_role("link", name="Jag har sparat koderna").click()
    page.get_by_role("button", name="Logga ut", exact=True).click()

    # The next login asks for a code after the password.
    page.get_by_label("E-post").fill(SARA)
    page.get_by_label("Lösenord").fill(HER_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Tvåstegsverifiering")).to_be_visible()
    page.get_by_label("Kod från autentiseringsappen eller en reservkod").fill(
        authenticator.at(time.time() + 30)  # the next step's code: the last one is used up
    )
    page.get_by_role("button", name="Fortsätt").click()
    expect(page.get_by_role("link", name="Att attestera")).to_be_visible()
    page.get_by_role("link", name="Att attestera").click()
    expect(page.get_by_role("heading", name="Att attestera")).to_be_visible()


def test_a_forgotten_password_is_reset_through_the_mailed_link(
    page, live_server, app, people, login, mailbox, jobs_in_process
):
    email = people.user(Role.ADMIN)
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name="Glömt lösenordet?").click()
    page.get_by_label("E-post").fill(email)
    page.get_by_role("button", name="Skicka länk").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Om adressen hör till ett konto i Brygga har vi skickat en länk dit."
    )
    work(app)  # the worker sends the mail to the mail sink
    page.goto(live_server + mailbox.link(email, "password/reset"))
    expect(page.get_by_role("heading", name="Nytt lösenord")).to_be_visible()
    page.get_by_label("Nytt lösenord (minst 10 tecken)").fill("password123")
    page.get_by_label("Upprepa lösenordet").fill("password123")
    page.get_by_role("button", name="Spara lösenordet").click()
    expect(page.get_by_role("alert")).to_contain_text("Lösenordet är för vanligt")
    page.get_by_label("Nytt lösenord (minst 10 tecken)").fill("en ny vår i fjällen")
    page.get_by_label("Upprepa lösenordet").fill("en ny vår i fjällen")
    page.get_by_role("button", name="Spara lösenordet").click()
    expect(page.get_by_role("status")).to_contain_text("Lösenordet är bytt.")
    page.get_by_label("Lösenord").fill("en ny vår i fjällen")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Inställningar")).to_be_visible()
