"""Anslut med Nmbrs-inloggning in Chromium: click, approve on Nmbrs' (the sandbox's) consent
page, land back in Brygga connected over REST, and the mapping sync finishes."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from sandbox.data import OTHER_TOKEN, OTHER_USERNAME
from tests.support import use_sandbox_oauth
from webapp.models import Role


def test_admin_moves_a_recipient_to_rest_with_one_consent(
    page,
    live_app,
    live_server,
    people,
    login,
    nmbrs_sandbox,
    worker,
    monkeypatch,
):
    use_sandbox_oauth(live_app, nmbrs_sandbox.url, monkeypatch)
    login(people.user(Role.ADMIN))
    page.get_by_role("navigation").get_by_role("link", name="Inställningar").click()
    page.get_by_role("link", name="Lägg till rapportmottagare").click()
    page.get_by_role("dialog").get_by_role("link", name=re.compile("^Nmbrs")).click()
    dialog = page.get_by_role("dialog", name="Anslut Nmbrs")
    dialog.get_by_label("E-postadress du loggar in i Nmbrs med").fill(OTHER_USERNAME)
    dialog.get_by_label("API-nyckel").fill(OTHER_TOKEN)
    dialog.get_by_role("button", name="Kontrollera och spara").click()
    page.locator("#recipient-box").get_by_text("Nmbrs – Grannbolaget AB").click()
    expect(page.locator("#nmbrs-api")).to_have_text("SOAP, med API-nyckel")

    page.get_by_role("button", name="Anslut med Nmbrs-inloggning (REST)").click()
    # Nmbrs' consent page (the sandbox's): choose the Nmbrs user and approve.
    expect(page).to_have_url(re.compile(re.escape(nmbrs_sandbox.url) + "/connect/authorize"))
    page.get_by_label("Logga in som").select_option(OTHER_USERNAME)
    page.get_by_role("button", name="Godkänn").click()

    expect(page).to_have_url(re.compile(re.escape(live_server) + r"/settings/recipients/\d+$"))
    expect(page.get_by_text("är ansluten med Nmbrs-inloggning (REST)")).to_be_visible()
    expect(page.locator("#nmbrs-api")).to_have_text("REST, ansluten med Nmbrs-inloggning")
    expect(page.locator("#consent-expires")).to_contain_text("förlängs automatiskt")
    status = page.locator("#sync-status")
    expect(status.get_by_text("Klart")).to_be_visible()
    expect(status.get_by_role("row", name=re.compile("^Anställda"))).to_contain_text("5")
    expect(page.get_by_role("button", name="Anslut med Nmbrs-inloggning (REST)")).to_have_count(0)
