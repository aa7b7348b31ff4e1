"""Hämta senaste data från Nmbrs in Chromium: click, watch the progress, see the result; a
hidden tab asks the server nothing until it is shown, then catches up at once."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from sandbox.data import OTHER_TOKEN, OTHER_USERNAME
from webapp.models import Role


def open_a_new_nmbrs_recipient(page, login, people) -> None:
    """An admin connects Nmbrs (Grannbolaget's key) on Settings and opens the recipient."""
    login(people.user(Role.ADMIN))
    page.get_by_role("navigation").get_by_role("link", name="Inställningar").click()
    page.get_by_role("link", name="Lägg till rapportmottagare").click()
    page.get_by_role("dialog").get_by_role("link", name=re.compile("^Nmbrs")).click()
    dialog = page.get_by_role("dialog", name="Anslut Nmbrs")
    dialog.get_by_label("E-postadress du loggar in i Nmbrs med").fill(OTHER_USERNAME)
    dialog.get_by_label("API-nyckel").fill(OTHER_TOKEN)
    dialog.get_by_role("button", name="Kontrollera och spara").click()
    page.locator("#recipient-box").get_by_text("Nmbrs – Grannbolaget AB").click()


def test_admin_fetches_the_latest_data_from_nmbrs_and_watches_it_arrive(
    page, live_server, people, login, nmbrs_sandbox, worker
):
    open_a_new_nmbrs_recipient(page, login, people)
    expect(page.get_by_text("Aldrig synkad")).to_be_visible()
    expect(page.get_by_text("Inget att visa. Hämta senaste data från Nmbrs")).to_be_visible()

    # Slow enough to watch: the longest chain of calls (2 × 1.5 s) outlasts a poll or two.
    nmbrs_sandbox.state.set_latency(1500)
    page.get_by_role("button", name="Hämta senaste data från Nmbrs").click()
    status = page.locator("#sync-status")
    expect(status.get_by_text(re.compile("^Hämtar"))).to_be_visible()
    expect(status.locator("progress")).to_be_visible()

    expect(status.get_by_text("Klart")).to_be_visible()
    expect(status.get_by_role("row", name=re.compile("^Lönearter"))).to_contain_text("30")
    expect(status.get_by_role("row", name=re.compile("^Anställda"))).to_contain_text("5")
    # The page catches up by itself: the badge, the history and the catalogues.
    expect(page.locator("#recipient-status")).to_contain_text("Senast synkad")
    expect(page.locator("#sync-history")).to_contain_text("49 tillagda")
    expect(page.get_by_role("tab", name=re.compile("Lönearter"))).to_contain_text("30")
    expect(page.locator("#catalog-table").get_by_text("Månadslön")).to_be_visible()
    page.get_by_role("tab", name=re.compile("Anställda")).click()
    expect(page.locator("#catalog-table tbody tr")).to_have_count(5)


# What the browser does when the person switches to another tab, and back.
SET_VISIBILITY = """(hidden) => {
  Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
  Object.defineProperty(document, "visibilityState", {
    configurable: true, get: () => (hidden ? "hidden" : "visible"),
  });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_hidden_tab_stops_polling_the_progress_and_catches_up_when_shown(
    page, live_server, people, login, nmbrs_sandbox, worker
):
    open_a_new_nmbrs_recipient(page, login, people)

    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if re.search(r"/sync/\d+$", r.url) else None)
    nmbrs_sandbox.state.set_latency(4000)  # a sync long enough to hide the tab during it
    page.get_by_role("button", name="Hämta senaste data från Nmbrs").click()
    status = page.locator("#sync-status")
    expect(status.get_by_text(re.compile("^Hämtar"))).to_be_visible()
    with page.expect_request(re.compile(r"/sync/\d+$")):
        pass  # the visible tab polls

    page.evaluate(SET_VISIBILITY, True)
    asked_while_visible = len(polls)
    page.wait_for_timeout(3000)  # three poll intervals
    assert len(polls) <= asked_while_visible + 1  # at most the one already on its way
    expect(status.get_by_text("Klart")).not_to_be_visible()

    nmbrs_sandbox.state.set_latency(0)
    page.evaluate(SET_VISIBILITY, False)
    expect(status.get_by_text("Klart")).to_be_visible()
    expect(page.locator("#sync-history")).to_contain_text("tillagda")
