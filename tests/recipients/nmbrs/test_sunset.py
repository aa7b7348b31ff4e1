"""Issue 17, the sunset: Nmbrs closes the SOAP API key on 1 March 2027. A recipient still on the
key does not fail night after night: its page says "Nmbrs har stängt API-nyckeln — anslut med
inloggning" with the button, the nightly sync skips it, its admins get one e-mail; operators
count who is still on SOAP. The clock runs on 28 February and 1 March 2027."""

from __future__ import annotations

from datetime import date

import jobs.sync
from tests.sync.helpers import runs, start_sync, work
from tests.sync.test_nightly import at
from webapp.extensions import db
from webapp.models import NmbrsConnection, SyncStatus
from webapp.recipients.nmbrs import sunset
from webapp.services import sync

from .conftest import consent

CLOSED = "Nmbrs har stängt API-nyckeln — anslut med inloggning"
CLOSING = "Nmbrs stänger API-nyckeln 1 mars 2027 — anslut med inloggning"


def _today(monkeypatch, day: date) -> None:
    monkeypatch.setattr(sunset, "today", lambda: day)


def _soap_calls(nmbrs_sandbox) -> int:
    return nmbrs_sandbox.state.calls


def test_the_clock_on_28_february_and_1_march_2027(
    app, client, admin, nmbrs_sandbox, recipient_id, mails, monkeypatch
):
    # 28 February: still on the key, warned, and synced like every night.
    _today(monkeypatch, date(2027, 2, 28))
    with app.app_context():
        planned = sync.clock_tick(at("2027-02-28T02:00:30"))
    assert [p.recipient_id for p in planned] == [recipient_id]
    work(app)
    assert runs(app)[-1].status == SyncStatus.SUCCEEDED
    view = client.get(f"/settings/recipients/{recipient_id}").text
    assert CLOSING in view and CLOSED not in view
    assert mails == []

    # 1 March: skipped by the clock, the admins told once, the page says what to do.
    _today(monkeypatch, date(2027, 3, 1))
    calls = _soap_calls(nmbrs_sandbox)
    with app.app_context():
        assert sync.clock_tick(at("2027-03-01T02:00:30")) == []
    assert jobs.sync.nightly(recipient_id) == "skipped"  # a job queued before the day, too
    work(app)
    [(to, subject, body)] = mails
    assert to == [admin]
    assert "Nmbrs har stängt API-nyckeln" in subject
    assert "Anslut med Nmbrs-inloggning" in body
    last = runs(app)[-1]
    assert (last.status, last.error_code) == (SyncStatus.FAILED, "soap_retired")
    view = client.get(f"/settings/recipients/{recipient_id}").text
    assert CLOSED in view and CLOSING not in view and 'id="soap-retired"' in view
    assert "Anslut med Nmbrs-inloggning (REST)" in view  # the reconnect button
    assert "Byt API-nyckel" not in view  # a new key would not help
    assert CLOSED in client.get("/settings/").text  # the recipient's row says it too

    # The nights after: still skipped, no second e-mail, not one call to Nmbrs' SOAP API.
    for night in ("2027-03-02", "2027-03-03"):
        _today(monkeypatch, date.fromisoformat(night))
        with app.app_context():
            assert sync.clock_tick(at(f"{night}T02:00:30")) == []
        work(app)
    assert len(mails) == 1
    # A click on Hämta senaste data fails with the same words, without calling Nmbrs.
    start_sync(client, recipient_id)
    work(app)
    assert runs(app)[-1].error_code == "soap_retired"
    assert CLOSED in client.get(f"/settings/recipients/{recipient_id}").text
    assert len(mails) == 1
    assert _soap_calls(nmbrs_sandbox) == calls

    # Connected with Nmbrs login, it is synced again.
    assert consent(client, nmbrs_sandbox, recipient_id).status_code == 302
    work(app)
    assert runs(app)[-1].status == SyncStatus.SUCCEEDED
    view = client.get(f"/settings/recipients/{recipient_id}").text
    assert 'id="soap-retired"' not in view  # only the history remembers the failed nights


def test_operators_see_how_many_organizations_are_still_on_soap(
    app, runner, client, nmbrs_sandbox, recipient_id
):
    result = runner.invoke(args=["nmbrs-soap-organizations"])
    assert result.exit_code == 0, result.output
    assert "1 organization(s) still on the Nmbrs SOAP API key (1 recipient(s))" in result.output
    assert "Testbolaget AB: 1 recipient(s)" in result.output
    assert "2027-03-01" in result.output

    assert consent(client, nmbrs_sandbox, recipient_id).status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(NmbrsConnection.api)) == "rest"
    result = runner.invoke(args=["nmbrs-soap-organizations"])
    assert "0 organization(s) still on the Nmbrs SOAP API key" in result.output
