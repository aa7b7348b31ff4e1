"""SOAP → REST for one recipient: the consent in the recipient view, then the sync that maps
every synced item from its SOAP id to its REST GUID, with mappings, advanced settings and
history carried over, and a REST sync that matches what SOAP would have done."""

from __future__ import annotations

import json
from datetime import date

from sandbox.data import DEMO_USERNAME
from sandbox.rest import rest_id
from tests.sync.helpers import runs, work
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    CostCenter,
    CostUnit,
    Department,
    NmbrsApi,
    NmbrsConnection,
    PayItemSetting,
    PayrollEmployee,
    Role,
    SyncStatus,
    User,
    WageType,
)
from webapp.recipients.nmbrs import sunset

from .conftest import connection, consent, soap_sync

CATALOGS = {
    WageType: None,
    CostCenter: "costcenter",
    CostUnit: "costunit",
    Department: "department",
    PayrollEmployee: "employee",
}


def _snapshot(app, recipient_id: int) -> dict:
    """Every catalogue row: id → (code, description, archived, nmbrs_id, rest_id)."""
    with app.app_context():
        return {
            model.__name__: {
                row.id: (row.code, row.description, row.archived, row.nmbrs_id, row.rest_id)
                for row in db.session.scalars(
                    db.select(model).where(model.recipient_id == recipient_id)
                )
            }
            for model in CATALOGS
        }


def _prepare_soap_recipient(app, client, people, recipient_id: int) -> dict:
    """Synced over SOAP, one employee mapped by hand, two wage types chosen, and one cost
    center only SOAP knows (REST will not find it)."""
    assert soap_sync(app, client, recipient_id).status == SyncStatus.SUCCEEDED
    people.user(Role.EMPLOYEE, email="kalle@testbolaget.se", name="Kalle Manuell")
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == "kalle@testbolaget.se"))
        employee = db.session.scalars(
            db.select(PayrollEmployee)
            .where(PayrollEmployee.recipient_id == recipient_id)
            .order_by(PayrollEmployee.code)
        ).first()
        employee.user_id, employee.mapping_source = user.id, "manual"
        codes = db.session.scalars(
            db.select(WageType.code)
            .where(WageType.recipient_id == recipient_id)
            .order_by(WageType.code)
        ).all()
        db.session.add_all(
            [
                PayItemSetting(
                    recipient_id=recipient_id,
                    item="mileage.own_car.tax_free",
                    included=True,
                    wage_code=codes[0],
                ),
                PayItemSetting(
                    recipient_id=recipient_id,
                    item="mileage.own_car.taxable",
                    included=True,
                    wage_code=codes[1],
                ),
            ]
        )
        db.session.add(
            CostCenter(
                recipient_id=recipient_id, nmbrs_id=987654, code="ZZ9", description="Nedlagt"
            )
        )
        db.session.commit()
        return {"employee_id": employee.id, "user_id": user.id, "codes": codes[:2]}


def test_consent_moves_the_recipient_to_rest_and_the_sync_maps_every_item(
    app, client, admin, people, nmbrs_sandbox, recipient_id, company_id
):
    before = _prepare_soap_recipient(app, client, people, recipient_id)
    soap_rows = _snapshot(app, recipient_id)

    done = consent(client, nmbrs_sandbox, recipient_id)
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/settings/recipients/{recipient_id}")

    conn = connection(app, recipient_id)
    assert conn.api == NmbrsApi.REST
    assert conn.consent_status == "ok"
    assert conn.rest_company_id == rest_id("company", company_id)
    assert conn.rest_debtor_id
    assert conn.consent_expires_at is not None
    with app.app_context():
        stored = json.loads(db.session.get(NmbrsConnection, conn.id).oauth_tokens)
    assert stored["refresh_token"] not in conn.oauth_tokens_encrypted  # encrypted at rest
    assert conn.token_encrypted  # the SOAP key is kept until Nmbrs retires SOAP
    with app.app_context():
        event = db.session.scalar(
            db.select(AuditEvent).where(AuditEvent.action == "recipient.nmbrs_rest_connected")
        )
        assert event is not None and "token" not in json.dumps(event.details)

    # The callback started the sync that maps SOAP ids to REST GUIDs.
    assert runs(app)[-1].status == SyncStatus.QUEUED
    work(app)
    run = runs(app)[-1]
    assert run.status == SyncStatus.SUCCEEDED, run.error_message
    after = _snapshot(app, recipient_id)

    for model, kind in CATALOGS.items():
        name = model.__name__
        # The same rows (ids), nothing added, and each carries its REST GUID.
        assert set(after[name]) == set(soap_rows[name]), name
        for row_id, (code, _desc, archived, nmbrs_id, guid) in after[name].items():
            if nmbrs_id == 987654:
                assert archived and guid is None  # only SOAP knew it: kept, archived, listed
                continue
            expected = code if kind is None else rest_id(kind, nmbrs_id)
            assert guid == expected, (name, code)
            assert soap_rows[name][row_id][:3] == (code, _desc, archived)
    counts = run.counts
    assert counts["cost_centers"]["unmatched"] == ["ZZ9 Nedlagt"]
    assert counts["employees"]["mapped"] == len(soap_rows["PayrollEmployee"])
    assert all(c["added"] == 0 for c in counts.values())

    with app.app_context():
        employee = db.session.get(PayrollEmployee, before["employee_id"])
        assert (employee.user_id, employee.mapping_source) == (before["user_id"], "manual")
        chosen = db.session.scalars(
            db.select(PayItemSetting.wage_code)
            .where(PayItemSetting.recipient_id == recipient_id)
            .order_by(PayItemSetting.item)
        ).all()
        assert sorted(chosen) == sorted(before["codes"])

    page = client.get(f"/settings/recipients/{recipient_id}").text
    assert "REST, ansluten med Nmbrs-inloggning" in page
    assert "Godkännandet gäller till" in page
    assert "ZZ9 Nedlagt" in page  # the unmatched item is listed in the run's result
    assert "Anslut med Nmbrs-inloggning (REST)" not in page

    # A second REST sync changes nothing: REST now gives what SOAP gave.
    again = soap_sync(app, client, recipient_id)
    assert again.status == SyncStatus.SUCCEEDED
    assert all(
        (c["added"], c["changed"], c["archived"]) == (0, 0, 0) for c in again.counts.values()
    )
    assert _snapshot(app, recipient_id) == after


def test_a_rest_sync_matches_what_a_soap_sync_does(app, client, admin, nmbrs_sandbox, recipient_id):
    """Changes made in Nmbrs arrive the same over REST as over SOAP."""
    soap_sync(app, client, recipient_id)
    consent(client, nmbrs_sandbox, recipient_id)
    work(app)
    baseline = _snapshot(app, recipient_id)
    state = nmbrs_sandbox.state
    summary = state.summary()
    [account] = [a for a in summary["accounts"] if a["username"] == "lon@grannbolaget.se"]
    company = state.data.companies[account["debtors"][0]["companies"][0]["id"]]
    # Rename one cost center and remove another, in Nmbrs.
    first, second = list(company.cost_centers.values())[:2]
    first.description = "Omdöpt i Nmbrs"
    del company.cost_centers[second.id]

    run = soap_sync(app, client, recipient_id)
    assert run.status == SyncStatus.SUCCEEDED, run.error_message
    assert run.counts["cost_centers"]["changed"] == 1
    assert run.counts["cost_centers"]["archived"] == 1
    after = _snapshot(app, recipient_id)["CostCenter"]
    by_guid = {v[4]: v for v in after.values()}
    assert by_guid[rest_id("costcenter", first.id)][1] == "Omdöpt i Nmbrs"
    assert by_guid[rest_id("costcenter", second.id)][2] is True  # archived, not deleted
    assert set(after) == set(baseline["CostCenter"])


def test_declined_consent_changes_nothing(app, client, admin, nmbrs_sandbox, recipient_id):
    response = consent(client, nmbrs_sandbox, recipient_id, decision="deny")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "Anslutningen avbröts i Nmbrs och inget godkändes" in page
    conn = connection(app, recipient_id)
    assert conn.api == NmbrsApi.SOAP and conn.oauth_tokens_encrypted is None


def test_a_callback_with_the_wrong_state_changes_nothing(
    app, client, admin, nmbrs_sandbox, recipient_id
):
    client.post(f"/settings/recipients/{recipient_id}/nmbrs/connect")
    response = client.get("/settings/nmbrs/callback?code=stolen&state=not-the-one")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "Anslutningen till Nmbrs blev inte klar" in page
    assert connection(app, recipient_id).api == NmbrsApi.SOAP
    # The parked consent was used up: replaying the callback does not work either.
    again = client.get("/settings/nmbrs/callback?code=x&state=y")
    assert "påbörjades inte här" in client.get(again.headers["Location"]).text


def test_a_callback_nobody_started_changes_nothing(app, client, admin, recipient_id):
    response = client.get("/settings/nmbrs/callback?code=abc&state=def")
    assert response.status_code == 302
    assert "påbörjades inte här" in client.get(response.headers["Location"]).text
    assert connection(app, recipient_id).api == NmbrsApi.SOAP


def test_an_nmbrs_user_who_cannot_see_the_company_changes_nothing(
    app, client, admin, nmbrs_sandbox, recipient_id
):
    response = consent(client, nmbrs_sandbox, recipient_id, username=DEMO_USERNAME)
    page = client.get(response.headers["Location"]).text
    assert "ser inte företaget Grannbolaget AB" in page
    conn = connection(app, recipient_id)
    assert conn.api == NmbrsApi.SOAP and conn.oauth_tokens_encrypted is None


def test_soap_recipients_are_warned_from_december_2026(
    app, client, admin, nmbrs_sandbox, recipient_id, monkeypatch
):
    banner = "Nmbrs stänger API-nyckeln 1 mars 2027 — anslut med inloggning"
    monkeypatch.setattr(sunset, "today", lambda: date(2026, 11, 30))
    assert banner not in client.get("/settings/").text
    assert banner not in client.get(f"/settings/recipients/{recipient_id}").text

    monkeypatch.setattr(sunset, "today", lambda: date(2026, 12, 1))
    assert banner in client.get("/settings/").text  # in the box row
    view = client.get(f"/settings/recipients/{recipient_id}").text
    assert banner in view
    assert "SOAP, med API-nyckel" in view
    assert "Anslut med Nmbrs-inloggning (REST)" in view

    consent(client, nmbrs_sandbox, recipient_id)
    assert banner not in client.get("/settings/").text
    assert banner not in client.get(f"/settings/recipients/{recipient_id}").text
