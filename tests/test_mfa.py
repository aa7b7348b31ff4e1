"""The second factor: TOTP as standard authenticator apps do it (RFC 6238), enrolment with a
QR code drawn by Brygga, one-time recovery codes, replayed codes refused, guessing slowed
down, and an organization that requires it of its admins and approvers."""

from __future__ import annotations

import json
import re
import time

import pyotp
from sqlalchemy import select

from tests.conftest import get_user
from tests.support import PASSWORD
from webapp.extensions import db
from webapp.models import AuditEvent, RecoveryCode, Role, User, UserSession
from webapp.services import mfa


def login(app, email: str):
    browser = app.test_client()
    response = browser.post("/login", data={"email": email, "password": PASSWORD})
    return browser, response


def enrol(browser) -> tuple[str, list[str]]:
    """Turn on the second factor as a person does: start, scan, type the first code."""
    assert browser.post("/account/mfa/start").status_code == 302
    page = browser.get("/account/mfa").text
    assert 'src="data:image/svg+xml' in page  # the QR code, drawn by Brygga itself
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    done = browser.post("/account/mfa/confirm", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.text
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", done.text)
    return secret, codes


def next_code(secret: str) -> str:
    """A code of the next 30-second step: a fresh code without waiting for the clock."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_codes_follow_rfc_6238(app_ctx):
    # RFC 6238 appendix B, SHA-1, T = 59 s: 94287082; authenticator apps show its last 6 digits.
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890"
    assert mfa._matching_step(secret, "287082", 59.0) == 1
    assert mfa._matching_step(secret, "287081", 59.0) is None


def test_a_person_enrols_and_then_logs_in_with_password_and_code(app, people):
    email = people.user(Role.EMPLOYEE)
    browser, _ = login(app, email)
    secret, codes = enrol(browser)
    assert len(codes) == 10
    browser.post("/logout")

    again, response = login(app, email)
    assert response.headers["Location"] == "/login/code"
    assert again.get("/reports/").status_code == 302  # the password alone does not open Brygga
    done = again.post("/login/code", data={"code": next_code(secret)})
    assert done.status_code == 302
    assert again.get("/reports/").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(UserSession.mfa_used)).all()[-1] is True


def test_a_used_code_is_refused_the_second_time(app, people):
    email = people.user(Role.EMPLOYEE)
    browser, _ = login(app, email)
    secret, _codes = enrol(browser)
    code = next_code(secret)
    first, _ = login(app, email)
    assert first.post("/login/code", data={"code": code}).status_code == 302
    replay, _ = login(app, email)
    refused = replay.post("/login/code", data={"code": code})
    assert refused.status_code == 401
    assert "Koden stämmer inte eller är redan använd." in refused.text


def test_a_recovery_code_works_once(app, people):
    email = people.user(Role.EMPLOYEE)
    browser, _ = login(app, email)
    _secret, codes = enrol(browser)
    first, _ = login(app, email)
    assert first.post("/login/code", data={"code": codes[0].upper()}).status_code == 302
    second, _ = login(app, email)
    assert second.post("/login/code", data={"code": codes[0]}).status_code == 401
    assert "9 oanvända reservkoder finns kvar." in first.get("/account/").text
    with app.app_context():
        stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert not {c.replace("-", "") for c in codes} & set(stored)  # only hashes are kept


def test_guessing_codes_is_slowed_down(app, people):
    email = people.user(Role.EMPLOYEE)
    browser, _ = login(app, email)
    secret, _codes = enrol(browser)
    guesser, _ = login(app, email)
    answers = [guesser.post("/login/code", data={"code": f"{n:06d}"}).status_code for n in range(7)]
    assert answers[:5] == [401] * 5 and answers[5:] == [429, 429]
    assert guesser.post("/login/code", data={"code": next_code(secret)}).status_code == 429


def test_a_wrong_first_code_does_not_turn_it_on(app, people):
    email = people.user(Role.EMPLOYEE)
    browser, _ = login(app, email)
    browser.post("/account/mfa/start")
    wrong = browser.post("/account/mfa/confirm", data={"code": "000000"})
    assert wrong.status_code == 422 and "Koden stämmer inte" in wrong.text
    with app.app_context():
        assert not get_user(email).mfa_enabled


def test_an_organization_requires_it_of_admins_and_approvers(app, client, admin, people):
    approver = people.user(Role.APPROVER, email="attest@testbolaget.se")
    employee = people.user(Role.EMPLOYEE, email="anna@testbolaget.se")
    assert client.post("/people/security", data={"mfa_required": "y"}).status_code == 302
    # The admin who turned it on is asked to set it up before anything else.
    assert client.get("/settings/").headers["Location"] == "/account/mfa"
    browser, _ = login(app, approver)
    for url in ("/reports/approvals", "/account/", "/reports/"):
        assert browser.get(url).headers["Location"] == "/account/mfa", url
    secret, _codes = enrol(browser)
    assert browser.get("/reports/approvals").status_code == 200
    staff, _ = login(app, employee)
    assert staff.get("/reports/").status_code == 200  # employees may choose
    # Required: it cannot be turned off by the person.
    off = browser.post("/account/mfa/off", data={"password": PASSWORD}, follow_redirects=True)
    assert "kan inte stängas av" in off.text
    with app.app_context():
        assert get_user(approver).mfa_enabled
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "organization.mfa_policy_changed")
        )
        assert event.details == {"mfa_required": True}
    assert secret


def test_enabling_it_ends_the_logins_made_with_the_password_alone(app, people):
    email = people.user(Role.EMPLOYEE)
    other, _ = login(app, email)
    browser, _ = login(app, email)
    enrol(browser)
    assert other.get("/reports/").status_code == 302
    assert browser.get("/reports/").status_code == 200


def test_an_admin_resets_the_second_factor_of_a_person_who_lost_the_phone(
    app, client, admin, people
):
    email = people.user(Role.EMPLOYEE, email="anna@testbolaget.se")
    browser, _ = login(app, email)
    enrol(browser)
    with app.app_context():
        uid = get_user(email).id
    assert client.post(f"/people/{uid}/mfa-reset").status_code == 302
    assert browser.get("/reports/").status_code == 302  # logged out
    again, response = login(app, email)
    assert response.headers["Location"] == "/"  # the password alone again, until re-enrolled
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.mfa_reset"))
        assert event.details == {"sessions_ended": 1}
        assert db.session.scalar(select(RecoveryCode)) is None


def test_turning_it_off_needs_the_password(app, people):
    email = people.user(Role.EMPLOYEE)
    browser, _ = login(app, email)
    enrol(browser)
    refused = browser.post(
        "/account/mfa/off", data={"password": "fel-fel-fel-1"}, follow_redirects=True
    )
    assert "Tvåstegsverifieringen är kvar." in refused.text
    done = browser.post("/account/mfa/off", data={"password": PASSWORD}, follow_redirects=True)
    assert "Tvåstegsverifieringen är avstängd." in done.text
    with app.app_context():
        assert not get_user(email).mfa_enabled


def test_the_secret_is_stored_encrypted_and_nothing_secret_reaches_the_audit_log(app, people):
    email = people.user(Role.EMPLOYEE)
    browser, _ = login(app, email)
    secret, codes = enrol(browser)
    with app.app_context():
        stored = db.session.scalar(select(User.totp_secret_encrypted).where(User.email == email))
        logged = json.dumps(db.session.scalars(select(AuditEvent.details)).all())
        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert secret not in stored and stored.startswith("g1.")
    for value in (secret, *codes):
        assert value not in logged
    assert "auth.mfa_enabled" in actions
