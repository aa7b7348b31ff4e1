"""E-mail to the admins when a nightly sync fails or Nmbrs rejects the key — once per problem.
A real SMTP server (aiosmtpd) on loopback receives the mails."""

from __future__ import annotations

import pytest

import jobs.sync
from tests.sync.helpers import start_sync, work
from webapp.models import Role


@pytest.fixture
def inbox(mailbox):
    """The local mail sink of tests/conftest.py (aiosmtpd on loopback)."""
    return mailbox


@pytest.fixture
def no_retries(app, monkeypatch):
    monkeypatch.setitem(app.config, "SYNC_RETRY_INTERVALS", [])


def nightly(app, recipient_id):
    jobs.sync.nightly(recipient_id)
    work(app)


def test_a_failed_nightly_sync_mails_the_admins_once_until_a_sync_succeeds(
    app, recipient_id, nmbrs_sandbox, inbox, people, no_retries
):
    people.user(Role.ADMIN, email="ekonomi@testbolaget.se")
    people.user(Role.EMPLOYEE, email="anna@testbolaget.se")
    nmbrs_sandbox.state.set_failure(mode="html503")
    nightly(app, recipient_id)

    [mail] = inbox.messages
    assert sorted(mail["X-Rcpt"].split(", ")) == ["admin@testbolaget.se", "ekonomi@testbolaget.se"]
    assert (
        mail["Subject"] == "Brygga: nattens synk med Nmbrs misslyckades för Nmbrs – Grannbolaget AB"
    )
    body = mail.get_content()
    assert "Nmbrs svarar inte just nu" in body
    assert "Brygga försöker igen nästa natt" in body
    assert f"https://brygga.example.se/settings/recipients/{recipient_id}" in body

    nightly(app, recipient_id)  # the next night fails the same way: no second mail
    assert len(inbox.messages) == 1

    nmbrs_sandbox.state.clear_failure()
    nightly(app, recipient_id)  # fixed: resets
    nmbrs_sandbox.state.set_failure(mode="html503")
    nightly(app, recipient_id)
    assert len(inbox.messages) == 2


def test_a_failed_manual_sync_is_not_mailed(
    app, client, recipient_id, nmbrs_sandbox, inbox, no_retries
):
    nmbrs_sandbox.state.set_failure(mode="html503")
    start_sync(client, recipient_id)
    work(app)
    assert inbox.messages == []  # the admin saw it on the page


def test_a_rejected_key_is_mailed_once_and_again_after_a_new_key(
    app, client, recipient_id, nmbrs_sandbox, inbox
):
    state = nmbrs_sandbox.state
    state.reset_token("lon@grannbolaget.se")
    start_sync(client, recipient_id)
    work(app)
    [mail] = inbox.messages
    assert mail["Subject"] == "Brygga: Nmbrs nekade API-nyckeln för Nmbrs – Grannbolaget AB"
    assert "Användarprofil → API-token" in mail.get_content()

    start_sync(client, recipient_id)
    work(app)
    assert len(inbox.messages) == 1  # same problem

    new_token = state.summary()["accounts"][1]["token"]
    saved = client.post(
        f"/settings/recipients/{recipient_id}/key?back=view",
        data={"username": "lon@grannbolaget.se", "token": new_token, "environment": "se"},
    )
    assert saved.status_code == 302
    state.reset_token("lon@grannbolaget.se")  # … and that key is reset too: a new problem
    start_sync(client, recipient_id)
    work(app)
    assert len(inbox.messages) == 2
