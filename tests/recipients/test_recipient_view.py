"""The recipient view: catalogues, Avancerade inställningar, employee mapping, secrets."""

import logging

import pytest

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    CostCenter,
    PayItemSetting,
    PayrollEmployee,
    Role,
    User,
    WageType,
)
from webapp.payitems import PayItem
from webapp.services import employee_mapping

from .helpers import OTHER_TOKEN, active, add_single_company_nmbrs


@pytest.fixture
def nmbrs_recipient(app, client, admin, nmbrs_sandbox):
    add_single_company_nmbrs(client)
    [recipient] = active(app)
    with app.app_context():
        db.session.add_all(
            [
                WageType(recipient_id=recipient.id, nmbrs_id=5100, code="5100",
                         description="Milersättning egen bil skattefri"),
                WageType(recipient_id=recipient.id, nmbrs_id=5101, code="5101",
                         description="Milersättning egen bil skattepliktig"),
                WageType(recipient_id=recipient.id, nmbrs_id=900, code="900",
                         description="Gammal löneart", archived=True),
                CostCenter(recipient_id=recipient.id, nmbrs_id=1, code="10", description="Stab"),
                CostCenter(recipient_id=recipient.id, nmbrs_id=2, code="9", description="Lager"),
            ]
        )  # fmt: skip
        db.session.commit()
    return recipient.id


def advanced_form(**choices):
    """All items included with no wage type, then the given overrides."""
    form = {f"include-{item.value}": "on" for item in PayItem}
    for key, value in choices.items():
        form[key] = value
    return form


def test_view_lists_catalogues_with_counts_and_marks_archived(client, nmbrs_recipient):
    page = client.get(f"/settings/recipients/{nmbrs_recipient}")
    assert "Hämta senaste data från Nmbrs" in page.text
    assert "Lönearter" in page.text and "Kostnadsställen" in page.text
    assert "Kostnadsenheter" in page.text
    assert "Milersättning egen bil skattefri" in page.text
    assert "arkiverad" in page.text  # the archived wage type is listed, marked
    centers = client.get(f"/settings/recipients/{nmbrs_recipient}?tab=cost_centers").text
    assert centers.index(">9<") < centers.index(">10<")  # numeric codes in numeric order


def test_filter_box_narrows_the_table(client, nmbrs_recipient):
    table = client.get(
        f"/settings/recipients/{nmbrs_recipient}/catalog/wage_types?q=skattepliktig",
        headers={"HX-Request": "true"},
    ).text
    assert "5101" in table and "5100" not in table
    assert "<html" not in table


def test_advanced_settings_save_the_chosen_wage_types(app, client, nmbrs_recipient):
    form = advanced_form(**{f"wage-{PayItem.MILEAGE_OWN_CAR_TAX_FREE.value}": "5100"})
    del form[f"include-{PayItem.MILEAGE_OWN_CAR_TAXABLE.value}"]
    response = client.post(f"/settings/recipients/{nmbrs_recipient}/advanced", data=form)
    assert response.status_code == 302
    with app.app_context():
        settings = {
            s.item: (s.included, s.wage_code) for s in db.session.scalars(db.select(PayItemSetting))
        }
        actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert settings[PayItem.MILEAGE_OWN_CAR_TAX_FREE.value] == (True, "5100")
    assert settings[PayItem.MILEAGE_OWN_CAR_TAXABLE.value] == (False, None)
    assert "recipient.advanced_settings_changed" in actions


def test_an_archived_or_unknown_wage_type_is_refused_and_nothing_is_saved(
    app, client, nmbrs_recipient
):
    for code in ("900", "4242"):
        form = advanced_form(**{f"wage-{PayItem.OUTLAY.value}": code})
        response = client.post(
            f"/settings/recipients/{nmbrs_recipient}/advanced",
            data=form,
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 200
        assert "Inget sparades" in response.text
        assert "Lönearten finns inte i Nmbrs" in response.text
    with app.app_context():
        assert db.session.scalars(db.select(PayItemSetting)).all() == []


def test_a_wage_type_archived_by_a_later_sync_shows_in_red_in_view_and_box(
    app, client, nmbrs_recipient
):
    client.post(
        f"/settings/recipients/{nmbrs_recipient}/advanced",
        data=advanced_form(**{f"wage-{PayItem.MILEAGE_OWN_CAR_TAX_FREE.value}": "5100"}),
    )
    assert "Löneart saknas i Nmbrs" not in client.get("/settings/").text
    with app.app_context():
        wage_type = db.session.scalar(db.select(WageType).where(WageType.code == "5100"))
        wage_type.archived = True
        db.session.commit()
    view = client.get(f"/settings/recipients/{nmbrs_recipient}").text
    assert "Lönearter att åtgärda" in view
    assert "Löneart 5100 för Milersättning egen bil, skattefri finns inte längre" in view
    assert "Löneart saknas i Nmbrs" in client.get("/settings/").text


def test_employees_match_on_employee_number_and_can_be_overridden(
    app, client, people, nmbrs_recipient
):
    people.user(Role.EMPLOYEE, email="maria@testbolaget.se", employee_number="0042", name="Maria")
    people.user(Role.EMPLOYEE, email="johan@testbolaget.se", employee_number="77", name="Johan")
    with app.app_context():
        recipient_id = nmbrs_recipient
        db.session.add_all(
            [
                PayrollEmployee(recipient_id=recipient_id, nmbrs_id=1, code="42",
                                description="Maria Andersson"),
                PayrollEmployee(recipient_id=recipient_id, nmbrs_id=2, code="43",
                                description="Johan Karlsson"),
            ]
        )  # fmt: skip
        db.session.commit()
        from webapp.models import ReportRecipient

        employee_mapping.rematch(db.session.get(ReportRecipient, recipient_id))
        db.session.commit()
        maria = User.by_email("maria@testbolaget.se")
        johan = User.by_email("johan@testbolaget.se")
        rows = {e.code: e for e in db.session.scalars(db.select(PayrollEmployee))}
        assert rows["42"].user_id == maria.id  # "0042" and 42 are the same number
        assert rows["43"].user_id is None
        johan_id, row_43 = johan.id, rows["43"].id
    page = client.get(f"/settings/recipients/{nmbrs_recipient}?tab=employees").text
    assert "Personer utan anställd i Nmbrs" in page and "Johan" in page
    client.post(f"/settings/recipients/{nmbrs_recipient}/employees/{row_43}",
                data={"user_id": johan_id})  # fmt: skip
    with app.app_context():
        row = db.session.get(PayrollEmployee, row_43)
        assert (row.user_id, row.mapping_source) == (johan_id, "manual")
        # A later re-match (after a sync) keeps the admin's choice.
        from webapp.models import ReportRecipient

        employee_mapping.rematch(db.session.get(ReportRecipient, recipient_id))
        db.session.commit()
        assert db.session.get(PayrollEmployee, row_43).user_id == johan_id


def test_the_token_never_reaches_html_logs_or_the_audit_log(
    app, client, admin, nmbrs_sandbox, caplog
):
    caplog.set_level(logging.DEBUG)
    add_single_company_nmbrs(client)
    [recipient] = active(app)
    pages = [
        client.get("/settings/"),
        client.get(f"/settings/recipients/{recipient.id}"),
        client.get(f"/settings/recipients/{recipient.id}/menu"),
        client.get(f"/settings/recipients/{recipient.id}/key"),
        client.get(f"/settings/recipients/{recipient.id}/advanced"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert OTHER_TOKEN not in page.text
    assert OTHER_TOKEN not in caplog.text
    with app.app_context():
        events = db.session.scalars(db.select(AuditEvent)).all()
        assert {e.action for e in events} >= {"recipient.created", "auth.login"}
        assert all(OTHER_TOKEN not in repr(e.details) for e in events)


def test_an_employee_without_a_number_is_never_matched_to_a_person_without_one(
    app, people, nmbrs_recipient
):
    """Issue 12, item 1 / issue 17, item 2: Nmbrs may list an employee without a number (an
    applicant); a blank number matches nobody, also not a person whose number is blank."""
    people.user(Role.EMPLOYEE, email="blank@testbolaget.se", employee_number="  ", name="Blank")
    with app.app_context():
        from webapp.models import ReportRecipient

        db.session.add(
            PayrollEmployee(recipient_id=nmbrs_recipient, nmbrs_id=9, code="",
                            description="Sökande Utan Nummer")
        )  # fmt: skip
        db.session.commit()
        assert employee_mapping.rematch(db.session.get(ReportRecipient, nmbrs_recipient)) == 0
        db.session.commit()
        assert db.session.scalar(db.select(PayrollEmployee.user_id)) is None
