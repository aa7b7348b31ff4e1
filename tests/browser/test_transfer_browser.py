"""Skicka till lön in Chromium: the admin of the demo company previews the approved demo report,
sends it to Nmbrs, watches the progress and sees the result."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.recipients.helpers import add_demo_nmbrs
from tests.support import wait_for
from tests.sync.helpers import start_sync
from tests.transfers.helpers import choose_wage_types, recipient_id
from webapp.extensions import db
from webapp.models import ReportRecipient
from webapp.services import demo
from webapp.services.demo import DEMO_ORG, DEMO_PASSWORD


def synced(app, rid: int) -> bool:
    with app.app_context():
        done = db.session.get(ReportRecipient, rid).last_synced_at is not None
        db.session.remove()
        return done


def test_admin_previews_and_sends_the_demo_report_to_nmbrs(
    live_app,
    page,
    live_server,
    login,
    nmbrs_sandbox,
    worker,
    monkeypatch,
):
    # `make dev` up to "connect Nmbrs and sync", on the live app (its key encrypts the token).
    with live_app.app_context():
        demo.seed()
        db.session.commit()
    monkeypatch.setitem(live_app.config, "WTF_CSRF_ENABLED", False)
    client = live_app.test_client()
    assert client.post("/login", data={"email": "admin@demo.se", "password": DEMO_PASSWORD})
    assert add_demo_nmbrs(client).status_code == 302
    rid = recipient_id(live_app, DEMO_ORG)
    start_sync(client, rid)
    wait_for(lambda: synced(live_app, rid))
    choose_wage_types(live_app, rid)
    live_app.config["WTF_CSRF_ENABLED"] = True

    login("admin@demo.se", DEMO_PASSWORD)
    page.get_by_role("navigation", name="Huvudmeny").get_by_role(
        "link", name="Redo att skickas"
    ).click()
    expect(page.get_by_role("row", name=re.compile("Kundbesök Uppsala"))).to_be_visible()
    page.get_by_role("button", name="Förhandsgranska").click()

    expect(page.locator("#current-period")).to_have_text("Nmbrs aktuella period är 2026-11.")
    to_send = page.locator("#to-send")
    mileage = to_send.get_by_role("row", name=re.compile("Milersättning egen bil skattefri"))
    expect(mileage).to_contain_text("355,00")
    expect(to_send).to_contain_text("Kostnadsstället KS-100 finns inte i Nmbrs")
    nmbrs_sandbox.state.set_latency(300)  # slow enough to watch
    page.get_by_role("button", name="Skicka").click()

    status = page.locator("#transfer-status")
    expect(status).to_have_attribute("data-status", "succeeded")
    expect(status).to_contain_text("2 av 2 rader skickade till Nmbrs, 475,00 kr.")
    result = status.get_by_role("row", name=re.compile("Kundbesök Uppsala"))
    expect(result).to_contain_text("Skickad")
    assert sorted(c["value"] for c in nmbrs_sandbox.state.components()) == ["120.00", "355.00"]

    page.get_by_role("navigation", name="Huvudmeny").get_by_role(
        "link", name="Redo att skickas"
    ).click()
    expect(page.get_by_text("Inga attesterade rapporter väntar.")).to_be_visible()
    expect(page.locator(".transfer-history")).to_contain_text("Skickad")
