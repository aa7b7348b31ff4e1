"""What Nmbrs refuses, line by line or as a whole, and taking a transfer back."""

from __future__ import annotations

import re

from tests.reports.helpers import text_of
from tests.sync.helpers import work
from tests.transfers.helpers import (
    CONFIRMED,
    approved_report,
    company_id,
    connect_nmbrs,
    cost_center_id,
    report_status,
    send,
    staff,
    stored,
    transfer_url,
    transfers,
)
from webapp.extensions import db
from webapp.models import PayrollEmployee, ReportStatus, TransferStatus


def test_a_wage_code_nmbrs_rejects_fails_its_lines_and_the_rest_go_through(
    app, people, nmbrs_sandbox, fast
):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    reports = [
        approved_report(s, "maria", km="300", outlay="1 234,50", cc="200"),
        approved_report(s, "johan", km="120", outlay="", title="Leverantör"),
    ]
    company = company_id(nmbrs_sandbox)
    nmbrs_sandbox.state.remove_wage_type(company, 5500)  # gone in Nmbrs since the last sync
    url = transfer_url(send(s.admin, rid, reports))
    work(app)

    page = text_of(s.admin.get(url))
    assert "2 av 3 rader skickade till Nmbrs, 1 050,00 kr." in page
    assert "Lönearten finns inte i Nmbrs. Hämta lönearterna på nytt" in page
    assert re.search(rf'data-report="{reports[0]}" data-outcome="partly_sent"', page)
    assert re.search(rf'data-report="{reports[1]}" data-outcome="sent"', page)
    assert stored(nmbrs_sandbox) == [
        (1001, 5100, "750.00", None, 11),
        (1002, 5100, "300.00", None, 11),
    ]
    assert report_status(app, reports[0]) == ReportStatus.APPROVED  # back in Redo att skickas
    assert report_status(app, reports[1]) == ReportStatus.TRANSFERRED
    assert transfers(app)[0].status == TransferStatus.PARTLY_FAILED

    # The wage type is back; the next transfer sends only what is missing.
    nmbrs_sandbox.state.add_wage_type(company, 5500, "Utlägg")
    preview = text_of(s.admin.get(f"/transfers/preview?recipient_id={rid}&report_id={reports[0]}"))
    assert "Redan skickad i en tidigare överföring." in preview
    assert "Skickas (1 rader, 1 234,50 kr)" in preview
    r2 = text_of(send(s.admin, rid, [reports[0]], follow=True))
    assert f"Överföring {transfers(app)[-1].id} till" in r2 and len(transfers(app)) == 2
    work(app)
    cc = cost_center_id(nmbrs_sandbox, "200")
    assert stored(nmbrs_sandbox) == sorted(
        [(1001, 5100, "750.00", None, 11), (1002, 5100, "300.00", None, 11),
         (1001, 5500, "1234.50", cc, 11)]
    )  # fmt: skip
    assert report_status(app, reports[0]) == ReportStatus.TRANSFERRED


def test_an_unknown_cost_center_and_a_foreign_employee_fail_only_their_lines(
    app, people, nmbrs_sandbox, fast
):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    reports = [
        approved_report(s, "maria", km="300", outlay="100", cc="300"),
        approved_report(s, "johan", km="120", outlay="", title="Leverantör"),
    ]
    company = company_id(nmbrs_sandbox)
    nmbrs_sandbox.state.remove_cost_center(company, cost_center_id(nmbrs_sandbox, "300"))
    # Johan's mapping points at an employee of another customer's company (2003).
    demo = next(c for c in nmbrs_sandbox.state.data.companies.values() if c.id != company)
    with app.app_context():
        pe = db.session.scalar(db.select(PayrollEmployee).where(PayrollEmployee.code == "1002"))
        pe.nmbrs_id = next(iter(demo.employees))
        db.session.commit()
    url = transfer_url(send(s.admin, rid, reports))
    work(app)
    page = text_of(s.admin.get(url))
    assert "1 av 3 rader skickade till Nmbrs, 750,00 kr." in page
    assert "Kostnadsstället finns inte i Nmbrs." in page
    assert "har inte behörighet till den anställda" in page
    assert stored(nmbrs_sandbox) == [(1001, 5100, "750.00", None, 11)]


def test_a_period_locked_since_the_preview_fails_with_perioden_ar_last(
    app, people, nmbrs_sandbox, fast
):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    report = approved_report(s, "maria", km="300", outlay="")
    url = transfer_url(send(s.admin, rid, [report]))
    nmbrs_sandbox.state.set_current_period(company_id(nmbrs_sandbox), 2026, 12)  # payroll ran
    work(app)
    page = text_of(s.admin.get(url))
    assert "Perioden är låst i Nmbrs" in page
    assert stored(nmbrs_sandbox) == []
    assert transfers(app)[0].status == TransferStatus.FAILED
    assert report_status(app, report) == ReportStatus.APPROVED
    assert "Kundbesök Göteborg" in s.admin.get("/transfers/").text  # waiting again


def test_a_past_period_confirmed_by_the_admin_is_sent_unprotected_and_cannot_be_undone(
    app, people, nmbrs_sandbox, fast
):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    report = approved_report(s, "maria", km="300", outlay="")
    nmbrs_sandbox.state.set_current_period(company_id(nmbrs_sandbox), 2026, 12)
    refused = send(s.admin, rid, [report], period=11, follow=True)  # not confirmed
    assert "Inget av det valda kan skickas" in text_of(refused)
    url = transfer_url(send(s.admin, rid, [report], period=11, confirm=True))
    work(app)
    assert stored(nmbrs_sandbox) == [(1001, 5100, "750.00", None, 11)]
    page = text_of(s.admin.get(url))
    assert "passerad period, bekräftad" in page
    undo = text_of(s.admin.post(url + "/undo", data=CONFIRMED, follow_redirects=True))
    assert "Perioden 2026-11 är inte längre öppen i Nmbrs" in undo
    assert stored(nmbrs_sandbox) == [(1001, 5100, "750.00", None, 11)]


def test_undo_deletes_the_components_and_puts_the_reports_back(app, people, nmbrs_sandbox, fast):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    reports = [
        approved_report(s, "maria", km="300", outlay="1 234,50", cc="200"),
        approved_report(s, "johan", km="120", outlay="", title="Leverantör"),
    ]
    other = nmbrs_sandbox.state.store_component  # something else in the period stays untouched
    from decimal import Decimal

    from tests.transfers.helpers import employee_id

    other(employee_id=employee_id(nmbrs_sandbox, 1001), code=1000, value=Decimal("30000.00"),
          year=2026, period=11, cost_center_id=None, cost_unit_id=None, comment=None)  # fmt: skip
    url = transfer_url(send(s.admin, rid, reports))
    work(app)
    assert len(stored(nmbrs_sandbox)) == 4
    assert s.admin.post(url + "/undo", data=CONFIRMED).status_code == 302
    work(app)
    assert stored(nmbrs_sandbox) == [(1001, 1000, "30000.00", None, 11)]
    page = text_of(s.admin.get(url))
    assert "Överföringen är ångrad" in page and 'id="undo-form"' not in page
    assert all(report_status(app, r) == ReportStatus.APPROVED for r in reports)
    assert transfers(app)[0].status == TransferStatus.UNDONE
    # Back in Redo att skickas, and they can be sent again.
    ready = s.admin.get("/transfers/").text
    assert "Kundbesök Göteborg" in ready and "Leverantör" in ready
    send(s.admin, rid, reports)
    work(app)
    assert len(stored(nmbrs_sandbox)) == 4
    history = text_of(s.admin.get(f"/transfers/recipients/{rid}"))
    assert "Ångrad" in history and "Skickad" in history


def test_undo_asks_first_naming_the_lines_the_people_and_the_period(
    app, people, nmbrs_sandbox, fast
):
    """Issue 12, item 10: *Ångra* once deleted the lines in Nmbrs at one click."""
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    reports = [
        approved_report(s, "maria", km="300", outlay="1 234,50", cc="200"),
        approved_report(s, "johan", km="120", outlay="", title="Leverantör"),
    ]
    url = transfer_url(send(s.admin, rid, reports))
    work(app)
    assert len(stored(nmbrs_sandbox)) == 3
    page = s.admin.get(url).text
    assert f'hx-get="{url}/undo"' in page  # Ångra opens the confirmation

    dialog = text_of(s.admin.get(url + "/undo", headers={"HX-Request": "true"}))
    assert "Ångra överföringen?" in dialog
    assert "3 rader tas bort ur Nmbrs, period 2026-11, för:" in dialog
    assert "Johan Anställd" in dialog and "Maria Anställd" in dialog
    assert "Ångra och ta bort 3 rader" in dialog

    # A post without the confirmation (an old page, a stray click) only asks again.
    again = s.admin.post(url + "/undo")
    assert again.status_code == 200 and "3 rader tas bort ur Nmbrs" in text_of(again)
    work(app)
    assert len(stored(nmbrs_sandbox)) == 3
    assert transfers(app)[0].status == TransferStatus.SUCCEEDED

    assert s.admin.post(url + "/undo", data=CONFIRMED).status_code == 302
    work(app)
    assert stored(nmbrs_sandbox) == []
