"""The session cookie is checked once per process and kept (webapp/cookies.py): a kept cookie
is believed only as it was signed, and only as long as Flask would believe it."""

from __future__ import annotations

import time

from tests.test_sessions import login
from webapp.models import Role


def kept_login(app, people):
    """A logged-in browser whose cookie the app has checked and kept (the first page after the
    login adds the form token: a new cookie)."""
    browser = login(app, people.user(Role.ADMIN))
    for _ in range(2):
        assert browser.get("/settings/").status_code == 200
    cookie = browser.get_cookie("session").value
    assert browser.get("/settings/").status_code == 200
    assert browser.get_cookie("session").value == cookie
    return browser


def test_a_changed_cookie_is_not_believed_after_the_genuine_one_was_kept(app, people):
    browser = kept_login(app, people)
    genuine = browser.get_cookie("session").value
    # (Not a last character: base64 may not use all of its bits.)
    for at in (len(genuine) - 5, len(genuine) // 2):
        other = "A" if genuine[at] != "A" else "B"
        browser.set_cookie("session", genuine[:at] + other + genuine[at + 1 :])
        assert browser.get("/settings/").status_code == 302
    browser.set_cookie("session", genuine)
    assert browser.get("/settings/").status_code == 200


def test_a_kept_cookie_is_not_believed_after_its_lifetime(app, people, monkeypatch):
    browser = kept_login(app, people)
    lifetime = app.permanent_session_lifetime.total_seconds()
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + lifetime + 2)
    assert browser.get("/settings/").status_code == 302
    monkeypatch.setattr(time, "time", lambda: now - 600)  # signed in its future: not believed
    assert browser.get("/settings/").status_code == 302
