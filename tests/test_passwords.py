"""Changing one's password (the current one required, every other session ended) and resetting
a forgotten one by e-mail (a single-use link valid for 30 minutes, the same answer whether or
not the address is someone's, rate limited); common passwords refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.conftest import get_user
from tests.support import PASSWORD
from tests.sync.helpers import work
from webapp.extensions import db
from webapp.models import AccountToken, AuditEvent, Role, UserSession
from webapp.models.base import utcnow
from webapp.services import accounts

NEW_PASSWORD = "tre små grodor i en bäck"


def change(client, current: str, new: str = NEW_PASSWORD, confirm: str | None = None):
    return client.post(
        "/account/password",
        data={"current": current, "password": new, "confirm": confirm or new},
    )


def login(app, email: str, password: str = PASSWORD):
    browser = app.test_client()
    assert browser.post("/login", data={"email": email, "password": password}).status_code == 302
    return browser


@pytest.mark.parametrize(
    "password",
    ["password1234", "qwertyuiop", "1234567890", "Iloveyou123", "admin@testbolaget.se"],
)
def test_common_passwords_and_the_email_itself_are_refused(app_ctx, password):
    with pytest.raises(accounts.AccountError, match="för vanligt"):
        accounts.check_password_rules(password, "admin@testbolaget.se")


def test_a_long_uncommon_passphrase_is_accepted(app_ctx):
    accounts.check_password_rules(NEW_PASSWORD, "admin@testbolaget.se")


def test_changing_the_password_needs_the_current_one_and_ends_the_other_sessions(app, people):
    email = people.user(Role.ADMIN)
    here, elsewhere = login(app, email), login(app, email)
    wrong = change(here, "inte-mitt-lösenord")
    assert wrong.status_code == 422
    assert "Det nuvarande lösenordet stämmer inte." in wrong.text
    assert elsewhere.get("/settings/").status_code == 200  # nothing changed

    done = change(here, PASSWORD)
    assert done.status_code == 302
    assert "Inloggningar på andra ställen har avslutats (1)" in here.get("/account/").text
    assert here.get("/settings/").status_code == 200  # this browser stays logged in
    assert elsewhere.get("/settings/").status_code == 302  # the other one is logged out
    assert (
        app.test_client().post("/login", data={"email": email, "password": PASSWORD}).status_code
        == 401
    )
    login(app, email, NEW_PASSWORD)
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "auth.password_changed")
        )
        assert event.details == {"other_sessions_ended": 1}


def test_a_common_new_password_is_refused_and_nothing_changes(app, people):
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    refused = change(browser, PASSWORD, "password123")
    assert "Lösenordet är för vanligt" in refused.text
    with app.app_context():
        assert get_user(email).check_password(PASSWORD)


def test_guessing_the_current_password_in_a_stolen_session_is_slowed_down(app, people):
    browser = login(app, people.user(Role.ADMIN))
    answers = [change(browser, f"gissning-{n}-abc").status_code for n in range(7)]
    assert answers[:5] == [422] * 5 and answers[5:] == [429, 429]


# --- reset by e-mail ------------------------------------------------------------------------------


def forgot(client, email: str):
    return client.post("/password/forgot", data={"email": email}, follow_redirects=True)


def test_a_forgotten_password_is_reset_through_the_mailed_link(
    app, client, people, mailbox, jobs_in_process
):
    email = people.user(Role.ADMIN)
    logged_in = login(app, email)
    answer = forgot(client, email)
    assert "Om adressen hör till ett konto i Brygga har vi skickat en länk dit." in answer.text
    assert "gäller i 30 minuter" in answer.text
    work(app)  # the worker sends the mail
    [mail] = mailbox.to(email)
    assert mail["Subject"] == "Återställ ditt lösenord i Brygga"
    link = mailbox.link(email, "password/reset")

    chosen = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert chosen.status_code == 302
    login(app, email, NEW_PASSWORD)
    assert logged_in.get("/settings/").status_code == 302  # every session ended
    again = client.post(
        link, data={"password": "ännu ett lösenord 42", "confirm": "ännu ett lösenord 42"}
    )
    assert again.status_code == 410  # single use
    with app.app_context():
        ended = db.session.scalars(select(UserSession.end_reason)).all()
        assert "password_reset" in ended
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert "auth.password_reset_requested" in actions and "auth.password_reset" in actions
        logged = json.dumps(db.session.scalars(select(AuditEvent.details)).all())
    assert link.rsplit("/", 1)[1] not in logged and NEW_PASSWORD not in logged


def test_the_answer_is_the_same_whether_or_not_the_address_is_someones(
    app, client, people, mailbox, jobs_in_process
):
    email = people.user(Role.ADMIN)
    known = forgot(client, email)
    unknown = forgot(client, "ingen@finns.se")
    assert known.status_code == unknown.status_code == 200
    flash = "Om adressen hör till ett konto i Brygga har vi skickat en länk dit."
    assert flash in known.text and flash in unknown.text
    work(app)
    assert [m["X-Rcpt"] for m in mailbox.messages] == [email]


def test_a_reset_link_expires_after_thirty_minutes(app, client, people, mailbox, jobs_in_process):
    email = people.user(Role.ADMIN)
    forgot(client, email)
    work(app)
    link = mailbox.link(email, "password/reset")
    with app.app_context():
        token = db.session.scalar(select(AccountToken))
        assert (
            timedelta(minutes=29)
            < token.expires_at.replace(tzinfo=None) - token.created_at.replace(tzinfo=None)
            <= timedelta(minutes=30)
        )
        db.session.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    expired = client.get(link)
    assert expired.status_code == 410 and "Skicka en ny länk" in expired.text


def test_reset_requests_are_rate_limited_alike_for_known_and_unknown_addresses(
    app, client, people, mailbox, jobs_in_process
):
    email = people.user(Role.ADMIN)
    for address in (email, "ingen@finns.se"):
        answers = [forgot(client, address).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429], address
    work(app)
    assert len(mailbox.to(email)) == 3
