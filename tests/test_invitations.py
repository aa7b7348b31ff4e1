"""Invitations instead of passwords set by admins: the admin adds a person, Brygga e-mails a
single-use, time-limited link, and the person chooses their own password."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from tests.conftest import get_user
from webapp.extensions import db
from webapp.models import AccountToken, AuditEvent, User
from webapp.models.base import utcnow

SARA = "sara@testbolaget.se"
HER_PASSWORD = "sommarstugan vid sjön 7"


def invite(client, email: str = SARA, role: str = "approver"):
    return client.post(
        "/people/",
        data={"name": "Sara Ek", "email": email, "employee_number": "1007", "role": role},
    )


def choose(client, link: str, password: str = HER_PASSWORD, confirm: str | None = None):
    return client.post(link, data={"password": password, "confirm": confirm or password})


def test_admin_invites_a_person_who_chooses_their_own_password(app, client, admin, mailbox):
    form = client.get("/people/").text
    assert 'type="password"' not in form  # the admin has nowhere to type someone's password
    response = invite(client)
    assert response.status_code == 302
    page = client.get("/people/").text
    assert "En inbjudan är skickad till sara@testbolaget.se" in page
    assert "Inbjuden" in page
    [mail] = mailbox.to(SARA)
    assert mail["Subject"] == "Inbjudan till Brygga från Testbolaget AB"
    assert "gäller i 72 timmar" in mail.get_content()
    link = mailbox.link(SARA, "invitation")

    sara = app.test_client()
    assert sara.post("/login", data={"email": SARA, "password": HER_PASSWORD}).status_code == 401
    page = sara.get(link)
    assert (
        page.status_code == 200
        and "Sara Ek, välj ett lösenord för sara@testbolaget.se" in page.text
    )
    chosen = choose(sara, link)
    assert chosen.status_code == 302
    assert chosen.headers["Location"].startswith("/login")
    assert sara.post("/login", data={"email": SARA, "password": HER_PASSWORD}).status_code == 302
    assert sara.get("/reports/approvals").status_code == 200


def test_an_invitation_link_works_once(app, client, admin, mailbox):
    invite(client)
    link = mailbox.link(SARA, "invitation")
    assert choose(app.test_client(), link).status_code == 302
    again = choose(app.test_client(), link, "någon annans lösenord 123")
    assert again.status_code == 410
    assert "Länken gäller inte längre" in again.text
    with app.app_context():
        assert get_user(SARA).check_password(HER_PASSWORD)


def test_an_invitation_link_expires(app, client, admin, mailbox):
    invite(client)
    link = mailbox.link(SARA, "invitation")
    with app.app_context():
        db.session.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    expired = app.test_client().get(link)
    assert expired.status_code == 410
    assert "Be en administratör i din organisation att skicka en ny inbjudan." in expired.text


def test_sending_the_invitation_again_replaces_the_first_link(app, client, admin, mailbox):
    invite(client)
    first = mailbox.link(SARA, "invitation")
    with app.app_context():
        uid = get_user(SARA).id
    assert client.post(f"/people/{uid}/invite").status_code == 302
    second = mailbox.link(SARA, "invitation")
    assert first != second
    assert app.test_client().get(first).status_code == 410
    assert choose(app.test_client(), second).status_code == 302


def test_a_common_or_mistyped_password_is_refused_and_keeps_the_link(app, client, admin, mailbox):
    invite(client)
    link = mailbox.link(SARA, "invitation")
    sara = app.test_client()
    common = choose(sara, link, "password123")
    assert common.status_code == 422
    assert "Lösenordet är för vanligt" in common.text
    mistyped = choose(sara, link, HER_PASSWORD, HER_PASSWORD + "x")
    assert "Lösenorden är inte likadana." in mistyped.text
    assert choose(sara, link).status_code == 302  # the link still works


def test_the_invitation_and_its_acceptance_are_in_the_audit_log_without_secrets(
    app, client, admin, mailbox
):
    invite(client)
    link = mailbox.link(SARA, "invitation")
    choose(app.test_client(), link)
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        logged = json.dumps([[e.action, e.details] for e in events], ensure_ascii=False)
        hashes = db.session.scalars(select(AccountToken.token_hash)).all()
        password_hash = db.session.scalar(select(User.password_hash).where(User.email == SARA))
    assert [e.action for e in events][-2:] == ["person.invited", "auth.invitation_accepted"]
    token = link.rsplit("/", 1)[1]
    for secret in (token, HER_PASSWORD, password_hash, *hashes):
        assert secret not in logged
    assert token not in hashes  # only the hash of the link is stored
    page = client.get("/audit/").text
    assert "Person inbjuden" in page and "Inbjudan accepterad" in page


def test_an_invitation_that_could_not_be_mailed_says_so_and_can_be_sent_again(
    app, client, admin, monkeypatch
):
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", 9)  # nothing listens there
    monkeypatch.setitem(app.config, "SMTP_USE_TLS", False)
    invite(client)
    page = client.get("/people/").text
    assert "e-postet med inbjudan kunde inte skickas" in page
    with app.app_context():
        assert get_user(SARA).password_hash is None
