"""An outlay's cost center: the organization's synced cost centers are offered, an unknown code
is named at entry, and the last one used is prefilled only while payroll still knows it
(issue 12, item 12)."""

from __future__ import annotations

import re

from tests.conftest import get_user
from webapp.extensions import db
from webapp.models import CostCenter, RecipientKind, ReportRecipient

from .helpers import add_outlay, company, login, new_report, text_of


def _synced_cost_centers(app, email: str) -> None:
    """The organization's Nmbrs recipient, synced: cost centers 100 Ledning and 200 Produktion."""
    with app.app_context():
        org = get_user(email).organization_id
        recipient = ReportRecipient(
            organization_id=org, kind=RecipientKind.NMBRS, display_name="Nmbrs – Testbolaget AB"
        )
        db.session.add(recipient)
        db.session.flush()
        db.session.add_all(
            [
                CostCenter(recipient_id=recipient.id, nmbrs_id=1, code="100",
                           description="Ledning"),
                CostCenter(recipient_id=recipient.id, nmbrs_id=2, code="200",
                           description="Produktion"),
                CostCenter(recipient_id=recipient.id, nmbrs_id=3, code="900",
                           description="Nedlagd", archived=True),
            ]
        )  # fmt: skip
        db.session.commit()


def _offered(page: str) -> list[str]:
    datalist = re.search(r'<datalist id="cost-centers">(.*?)</datalist>', page, re.S).group(1)
    return re.findall(r'<option value="([^"]*)">', datalist)


def _prefilled(page: str) -> str | None:
    match = re.search(r'<input[^>]*name="outlay-cost_center"[^>]*>', page)
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else None


def test_the_synced_cost_centers_are_offered_and_an_unknown_code_is_not_prefilled(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    assert add_outlay(maria, report_id, cost_center="KS-100").status_code == 302
    _synced_cost_centers(app, staff["maria"])

    page = maria.get(f"/reports/{report_id}").text
    assert _offered(page) == ["100", "200"]  # payroll's list, not the typed KS-100
    assert "100 Ledning" in page
    assert _prefilled(page) in (None, "")  # KS-100 is unknown to Nmbrs: not suggested again

    assert add_outlay(maria, report_id, cost_center="200").status_code == 302
    assert _prefilled(maria.get(f"/reports/{report_id}").text) == "200"


def test_an_unknown_cost_center_is_named_while_typing_and_when_saved(app, people):
    staff = company(people)
    _synced_cost_centers(app, staff["maria"])
    maria = login(app, staff["maria"])
    report_id = new_report(maria)

    hint = maria.get(f"/reports/{report_id}/cost-center?outlay-cost_center=KS-100",
                     headers={"HX-Request": "true"})  # fmt: skip
    assert "Kostnadsstället KS-100 finns inte i Nmbrs." in text_of(hint)
    known = maria.get(f"/reports/{report_id}/cost-center?outlay-cost_center=200")
    assert "finns inte" not in known.text
    archived = maria.get(f"/reports/{report_id}/cost-center?outlay-cost_center=900")
    assert "Kostnadsstället 900 finns inte i Nmbrs." in text_of(archived)

    response = add_outlay(maria, report_id, cost_center="KS-100")
    assert response.status_code == 302
    page = text_of(maria.get(f"/reports/{report_id}"))
    assert "Raden är sparad." in page
    assert "Kostnadsstället KS-100 finns inte i Nmbrs. Välj ett ur listan" in page


def test_without_a_synced_list_the_codes_used_are_offered_and_nothing_is_warned(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    assert add_outlay(maria, report_id, cost_center="KS-100").status_code == 302
    page = maria.get(f"/reports/{report_id}").text
    assert _offered(page) == ["KS-100"] and _prefilled(page) == "KS-100"
    assert "finns inte i Nmbrs" not in page


def test_another_employees_report_gives_no_cost_center_hint(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    johan = login(app, staff["johan"])
    assert johan.get(f"/reports/{report_id}/cost-center?outlay-cost_center=1").status_code == 404
