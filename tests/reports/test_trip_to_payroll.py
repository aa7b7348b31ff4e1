"""A trip over New Year with a free lunch abroad, all the way to the PAXml file: each year's
amounts on its own lines, the kostförmån as its own value (UTRFRM_LCH), nothing paid for it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from lxml import etree

from tests.conftest import get_org, get_user
from tests.reports.helpers import add_trip, new_report, text_of
from tests.transfers.helpers import add_paxml, send, staff
from webapp.extensions import db
from webapp.recipients.paxml.file import schema
from webapp.services import tax_years

# MADE-UP 2027 values for the test (Skatteverket had not published them): pbb 61 000 → 310.
MADE_UP_2027 = tax_years.YearValuesInput(
    2027, 61_000, D(25), D(12), D("9.50"), D(315), D(126), D(63)
)
TABLE = "Norge NO 1 054\nÖvriga länder och områden 500\n"


@pytest.fixture
def december_2026(monkeypatch):
    monkeypatch.setattr(tax_years, "today", lambda: date(2026, 12, 4))


def test_new_year_trip_with_a_free_lunch_abroad_reaches_the_paxml_file(app, people, december_2026):
    s = staff(app, people)
    with app.app_context():
        org = get_org("Testbolaget AB").id
        tax_years.save_values(org, MADE_UP_2027, date(2026, 12, 4))
        admin = get_user("admin@testbolaget.se")
        tax_years.import_table(admin, 2026, TABLE, date(2026, 12, 4))
        tax_years.import_table(admin, 2027, TABLE.replace("1 054", "1 100"), date(2026, 12, 4))
        db.session.commit()
    rid = add_paxml(app, s.admin)
    report = new_report(s.maria, title="Oslo över nyår")
    response = add_trip(
        s.maria, report, country="NO", destination="Oslo",
        departure_date="2026-12-30", departure_time="07:00",
        return_date="2027-01-02", return_time="12:00", lodging_paid_by_employer=None,
        meals=[("2027-01-01", "lunch")],
        **{"leg-1-country": "SE", "leg-1-date": "2027-01-01", "leg-1-time": "18:00"},
    )  # fmt: skip
    assert response.status_code == 302, text_of(response)
    assert s.maria.post(f"/reports/{report}/submit").status_code == 302
    assert s.approver.post(f"/reports/{report}/approve").status_code == 302

    preview = text_of(s.admin.get(f"/transfers/preview?recipient_id={rid}&report_id={report}"))
    assert "UTRFRM_LCH" in preview and "Kostförmån utrikes, lunch" in preview
    assert "INRNAT_FRI" in preview  # the night in Sweden on the way home
    # 4 187 kr paid out and the free lunch's 126 kr, which the total must not pass off as pay.
    assert "Skickas (7 rader, 4 313,00 kr)" in preview
    assert "Varav kostförmån 126,00 kr: ett skattepliktigt värde för lönen" in preview

    url = send(s.admin, rid, [report]).headers["Location"]
    sent = text_of(s.admin.get(url))
    assert "7 rader, 4 313,00 kr" in sent
    assert "Varav kostförmån 126,00 kr: ett skattepliktigt värde för lönen" in sent
    data = s.admin.post(url + "/file").data
    root = etree.fromstring(data)
    assert schema().validate(root), schema().error_log
    rows = [
        (t.findtext("datum"), t.findtext("lonkod"), t.findtext("antal"), t.findtext("belopp"))
        for t in root.findall("lonetransaktioner/lonetrans")
    ]
    assert sorted(rows) == sorted([
        # 2026: 30 and 31 December in Norway at 1 054, two nights at 527.
        ("2026-12-30", "UTRHEL_FRI", "2", "2108.00"),
        ("2026-12-30", "UTRNAT_FRI", "2", "1054.00"),
        # 2027: New Year's Day in Norway at 1 100 with a free lunch (35 % = 385), the night in
        # Sweden (made-up 2027: 155), home at noon: a domestic half day (155).
        ("2027-01-01", "UTRHEL_FRI", "1", "1100.00"),
        ("2027-01-01", "UTRRED_LCH", "1", "-385.00"),
        ("2027-01-01", "INRHLV_FRI", "1", "155.00"),
        ("2027-01-01", "INRNAT_FRI", "1", "155.00"),
        # The kostförmån: its own value, at 2027's (made-up) 126 kr.
        ("2027-01-01", "UTRFRM_LCH", "1", "126.00"),
    ])  # fmt: skip
