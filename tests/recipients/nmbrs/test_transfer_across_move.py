"""Transfers across the SOAP → REST move (issue 8): what went over SOAP is never sent again over
REST, an undo over REST removes exactly what SOAP sent, and a transfer over REST lands in Nmbrs
as the same transfer over SOAP would, exactly once even when a write's answer is lost."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.rest import rest_id
from tests.reports.helpers import text_of
from tests.sync.helpers import work
from tests.transfers import helpers as h
from tests.transfers.conftest import fast  # noqa: F401 - fixture
from tests.transfers.test_exactly_once import (
    crash_at,
    run_until_crash,
    try_again,
    worker_found_dead,
)
from webapp.extensions import db
from webapp.models import LineStatus, NmbrsApi, ReportStatus, TransferLine, TransferStatus

from .conftest import connection, consent, sandbox_control

pytestmark = pytest.mark.usefixtures("fast")  # short retries; jobs run on the test's app


def _move_to_rest(app, nmbrs_sandbox, s, rid: int) -> None:
    """One consent, then the sync that maps every SOAP id to its REST GUID."""
    assert consent(s.admin, nmbrs_sandbox, rid).status_code == 302
    work(app)
    assert connection(app, rid).api == NmbrsApi.REST


def _send(app, s, rid: int, report_ids) -> int:
    response = h.send(s.admin, rid, report_ids)
    assert response.status_code == 302, response.text
    work(app)
    return int(h.transfer_url(response).rsplit("/", 1)[1])


def _transfer(app, transfer_id: int):
    return next(t for t in h.transfers(app) if t.id == transfer_id)


def _rest_calls(nmbrs_sandbox, endpoint: str) -> int:
    calls = sandbox_control(nmbrs_sandbox, "rest", "calls")
    return sum(1 for c in calls if c["endpoint"] == endpoint)


@pytest.fixture
def soap_sent(app, people, nmbrs_sandbox):
    """Maria's report sent over SOAP, then the recipient moved to REST (after `fast`: the
    module's usefixtures come first)."""
    s = h.staff(app, people)
    rid = h.connect_nmbrs(app, s.admin)
    report = h.approved_report(s, "maria", km="300", outlay="1 234,50", cc="200")
    transfer_id = _send(app, s, rid, [report])
    assert _transfer(app, transfer_id).status == TransferStatus.SUCCEEDED
    sent = h.stored(nmbrs_sandbox)
    assert sent == [
        (1001, 5100, "750.00", None, 11),
        (1001, 5500, "1234.50", h.cost_center_id(nmbrs_sandbox, "200"), 11),
    ]
    _move_to_rest(app, nmbrs_sandbox, s, rid)
    return s, rid, report, transfer_id, sent


def test_reports_sent_over_soap_are_not_sent_again_over_rest(app, nmbrs_sandbox, soap_sent):
    s, rid, report, _transfer_id, sent = soap_sent
    before = nmbrs_sandbox.state.components()

    page = text_of(s.admin.get(f"/transfers/preview?recipient_id={rid}&report_id={report}"))
    assert "Redan skickad i en tidigare överföring." in page
    assert "Skickas (0 rader" in page

    response = h.send(s.admin, rid, [report])
    work(app)
    assert response.status_code in (200, 302)
    assert nmbrs_sandbox.state.components() == before  # nothing new reached Nmbrs
    assert h.stored(nmbrs_sandbox) == sent
    assert _rest_calls(nmbrs_sandbox, "insert_component") == 0
    assert len(h.transfers(app)) == 1


def test_undo_over_rest_deletes_exactly_what_soap_sent(app, nmbrs_sandbox, soap_sent):
    s, rid, report, transfer_id, _sent = soap_sent
    # Something else of Maria's in the same period, equal in code and value, entered in Nmbrs.
    maria = h.employee_id(nmbrs_sandbox, 1001)
    other = nmbrs_sandbox.state.store_component(
        employee_id=maria, code=5100, value=Decimal("750.00"),
        year=2026, period=11, cost_center_id=None, cost_unit_id=None, comment="Manuell",
    )  # fmt: skip

    assert s.admin.post(f"/transfers/{transfer_id}/undo", data=h.CONFIRMED).status_code == 302
    work(app)

    t = _transfer(app, transfer_id)
    assert t.status == TransferStatus.UNDONE, t.error_message
    assert [c["id"] for c in nmbrs_sandbox.state.components()] == [other]
    assert h.report_status(app, report) == ReportStatus.APPROVED
    assert _rest_calls(nmbrs_sandbox, "delete_component") == 2
    # The REST ids were found by reading back; the lines now name what REST calls them.
    with app.app_context():
        lines = db.session.scalars(
            db.select(TransferLine).where(
                TransferLine.transfer_id == transfer_id, TransferLine.skip_reason.is_(None)
            )
        ).all()
        assert {line.status for line in lines} == {LineStatus.DELETED}
        assert {line.employee_ref for line in lines} == {rest_id("employee", maria)}

    # The report can be sent again, now over REST.
    again = _send(app, s, rid, [report])
    assert _transfer(app, again).status == TransferStatus.SUCCEEDED
    assert h.stored(nmbrs_sandbox) == sorted(
        [
            (1001, 5100, "750.00", None, 11),  # the manual one
            (1001, 5100, "750.00", None, 11),
            (1001, 5500, "1234.50", h.cost_center_id(nmbrs_sandbox, "200"), 11),
        ]
    )


def test_a_transfer_over_rest_lands_as_it_would_over_soap_and_a_lost_answer_sends_nothing_twice(
    app,
    people,
    nmbrs_sandbox,
):
    s = h.staff(app, people)
    rid = h.connect_nmbrs(app, s.admin)
    soap_report = h.approved_report(s, "maria", km="300", outlay="1 234,50", cc="200")
    soap_transfer = _send(app, s, rid, [soap_report])
    assert _transfer(app, soap_transfer).status == TransferStatus.SUCCEEDED
    soap_rows = _components_of(nmbrs_sandbox, 1001)

    _move_to_rest(app, nmbrs_sandbox, s, rid)
    rest_report = h.approved_report(s, "johan", km="300", outlay="1 234,50", cc="200")
    # The first write's answer is lost after Nmbrs stored it (a dropped connection).
    sandbox_control(
        nmbrs_sandbox, "rest", "set_failure", mode="drop", times=1,
        endpoints=["insert_component"], after=True,
    )  # fmt: skip
    rest_transfer = _send(app, s, rid, [rest_report])
    t = _transfer(app, rest_transfer)
    assert t.status == TransferStatus.SUCCEEDED, t.error_message
    assert h.report_status(app, rest_report) == ReportStatus.TRANSFERRED

    rest_rows = _components_of(nmbrs_sandbox, 1002)
    # Same code, value, cost center, period; only the employee differs. Nothing twice.
    assert rest_rows == soap_rows
    assert h.stored(nmbrs_sandbox, 1002) == [
        (1002, 5100, "750.00", None, 11),
        (1002, 5500, "1234.50", h.cost_center_id(nmbrs_sandbox, "200"), 11),
    ]
    assert nmbrs_sandbox.state.rest.failure.times == 0  # the answer was lost indeed
    assert _rest_calls(nmbrs_sandbox, "insert_component") == 2  # the lost one was not resent
    # The lines hold the REST GUIDs Nmbrs gave (read back for the lost answer).
    johan = h.employee_id(nmbrs_sandbox, 1002)
    ids = {rest_id("component", c["id"]) for c in nmbrs_sandbox.state.components(johan)}
    assert {line.component_id for line in t.lines if line.component_id} == ids
    assert {line.employee_ref for line in t.lines if line.component_id} == {
        rest_id("employee", johan)
    }

    # Sending both reports again over REST sends nothing.
    before = nmbrs_sandbox.state.components()
    h.send(s.admin, rid, [soap_report, rest_report])
    work(app)
    assert nmbrs_sandbox.state.components() == before


@pytest.mark.parametrize("point", ["before_send", "after_send"])
def test_a_soap_transfer_cut_off_mid_send_is_finished_over_rest_exactly_once(
    app,
    people,
    nmbrs_sandbox,
    monkeypatch,
    point,
):
    """The worker dies while a batch goes out over SOAP; the recipient moves to REST; "Försök
    igen" settles the lines in doubt over REST (SOAP baselines mean nothing there)."""
    s = h.staff(app, people)
    rid = h.connect_nmbrs(app, s.admin)
    reports = [
        h.approved_report(s, "maria", km="300", outlay="1 234,50", cc="200"),
        h.approved_report(s, "johan", km="120", outlay="99,90", cc="", title="Leverantör"),
    ]
    cc = h.cost_center_id(nmbrs_sandbox, "200")
    expected = sorted(
        [
            (1001, 5100, "750.00", None, 11),
            (1001, 5500, "1234.50", cc, 11),
            (1002, 5100, "300.00", None, 11),
            (1002, 5500, "99.90", None, 11),
        ]
    )
    url = h.transfer_url(h.send(s.admin, rid, reports))
    [t] = h.transfers(app)
    crash_at(monkeypatch, point)
    run_until_crash(app, t.id)
    assert h.stored(nmbrs_sandbox) == ([] if point == "before_send" else expected)
    worker_found_dead(app, s.admin, url)

    _move_to_rest(app, nmbrs_sandbox, s, rid)
    try_again(app, s.admin, url)

    assert h.stored(nmbrs_sandbox) == expected  # nothing twice, nothing lost
    [t] = h.transfers(app)
    assert t.status == TransferStatus.SUCCEEDED, t.error_message
    assert {line.status for line in t.lines} == {LineStatus.SENT}
    ids = {rest_id("component", c["id"]) for c in nmbrs_sandbox.state.components()}
    assert {line.component_id for line in t.lines} == ids  # each line owns its component
    assert _rest_calls(nmbrs_sandbox, "insert_component") == (4 if point == "before_send" else 0)
    assert all(h.report_status(app, r) == ReportStatus.TRANSFERRED for r in reports)


def _components_of(nmbrs_sandbox, number: int) -> list[tuple]:
    """An employee's components without ids and the report part of the comment."""
    employee = h.employee_id(nmbrs_sandbox, number)
    return sorted(
        (c["code"], c["value"], c["cost_center_id"], c["year"], c["period"], _key_part(c))
        for c in nmbrs_sandbox.state.components(employee)
    )


def _key_part(component: dict) -> str:
    """ "Brygga rapport 7 [12:outlay]" → "Brygga rapport [outlay]": the same for the same part."""
    comment = component["comment"] or ""
    return "Brygga rapport [" + comment.rsplit(":", 1)[-1] if comment else ""
