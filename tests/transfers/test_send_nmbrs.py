"""Sending approved reports to Nmbrs: preview, Skicka, the worker, the result, the sandbox."""

from __future__ import annotations

from decimal import Decimal

from tests.reports.helpers import text_of
from tests.sync.helpers import work
from tests.transfers.helpers import (
    approved_report,
    connect_nmbrs,
    cost_center_id,
    employee_id,
    line_statuses,
    report_status,
    send,
    staff,
    stored,
    transfer_url,
    transfers,
)
from tests.transfers.test_exactly_once import component_ids
from webapp.models import LineStatus, ReportStatus, TransferStatus


def test_admin_previews_sends_and_sees_the_components_in_nmbrs(app, people, nmbrs_sandbox, fast):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    report = approved_report(s, "maria", km="300", outlay="1 234,50", cc="200")

    ready = text_of(s.admin.get("/transfers/"))
    assert "Kundbesök Göteborg" in ready and "1 984,50 kr" in ready

    page = text_of(s.admin.get(f"/transfers/preview?recipient_id={rid}&report_id={report}"))
    assert "Nmbrs aktuella period är 2026-11." in page
    assert "Skickas (2 rader, 1 984,50 kr)" in page
    assert "5100 Milersättning egen bil skattefri" in page and "(nr 1001)" in page
    assert "200 Produktion" in page  # the cost center as synced from Nmbrs

    response = send(s.admin, rid, [report])
    assert response.status_code == 302
    url = transfer_url(response)
    running = s.admin.get(url).text
    assert 'hx-trigger="load delay:1s, poll"' in running  # queued: the fragment polls
    assert "2 rader, 1 984,50 kr" in running.replace("\u00a0", " ")
    assert "Varav kostförmån" not in running  # no free meal: the total is all paid out
    work(app)

    fragment = text_of(s.admin.get(url + "/progress", headers={"HX-Request": "true"}))
    assert "hx-trigger" not in fragment  # done: polling stops
    assert "2 av 2 rader skickade till Nmbrs, 1 984,50 kr." in fragment
    assert 'data-outcome="sent"' in fragment
    assert report_status(app, report) == ReportStatus.TRANSFERRED
    cc_id = cost_center_id(nmbrs_sandbox, "200")
    assert stored(nmbrs_sandbox) == [
        (1001, 5100, "750.00", None, 11),
        (1001, 5500, "1234.50", cc_id, 11),
    ]
    comments = {c["comment"] for c in nmbrs_sandbox.state.components()}
    assert all(c.startswith(f"Brygga rapport {report} [") for c in comments)
    # The ids: SOAP's batch reply gives none; one read per employee finds them for undo.
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    ids = {str(c["id"]) for c in nmbrs_sandbox.state.components()}
    assert component_ids(app, t.id) == ids
    assert line_statuses(app, t.id) == [LineStatus.SENT, LineStatus.SENT]
    # And the report is no longer waiting.
    assert "Kundbesök Göteborg" not in s.admin.get("/transfers/").text
    assert employee_id(nmbrs_sandbox, 1001) in {
        c["employee_id"] for c in nmbrs_sandbox.state.components()
    }
    assert Decimal(nmbrs_sandbox.state.components()[0]["value"])  # dot decimal parsed
