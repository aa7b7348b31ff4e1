"""A transfer to Nmbrs is recorded in parts of whole employees, and the worker starts sending
the first part while the request records the rest. Whatever stops in between (the request, the
worker, a report taken by another transfer), nothing is lost and nothing goes twice. Against the
sandbox over HTTP."""

from __future__ import annotations

import threading

import pytest

from tests.reports.helpers import text_of
from tests.support import PATIENCE_SECONDS, wait_for
from tests.sync.helpers import work
from tests.transfers.helpers import (
    approved_report,
    connect_nmbrs,
    report_status,
    send,
    staff,
    stored,
    transfer_url,
    transfers,
)
from tests.transfers.test_exactly_once import (
    Crash,
    crash_at,
    run_until_crash,
    try_again,
    worker_found_dead,
)
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    ExpenseReport,
    LineStatus,
    ReportRecipient,
    ReportStatus,
    Transfer,
    TransferLine,
    TransferReport,
    TransferStatus,
)
from webapp.services.transfer import plan, recording
from webapp.tenancy import all_organizations

MARIA = [(1001, 5100, "750.00", None, 11), (1001, 5500, "1234.50", None, 11)]
JOHAN = [(1002, 5100, "300.00", None, 11), (1002, 5500, "99.90", None, 11)]


@pytest.fixture
def setup(app, people, nmbrs_sandbox, fast, monkeypatch):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    reports = [
        approved_report(s, "maria", km="300", outlay="1 234,50", cc=""),
        approved_report(s, "johan", km="120", outlay="99,90", cc="", title="Leverantör"),
    ]
    # A part per employee: Maria's report is recorded (and its job started) before Johan's.
    monkeypatch.setattr(recording, "PART_LINES", (1,))
    return s, rid, reports


def after_first_part(monkeypatch, then) -> None:
    """Once the request has committed its first part (and started the job), `then(id)` runs."""
    state = {"armed": True}

    def hook(reached: str, transfer_id: int) -> None:
        if reached == "part_recorded" and state["armed"]:
            state["armed"] = False
            then(transfer_id)

    monkeypatch.setattr(recording, "crash_hook", hook)


def test_a_request_that_dies_between_parts_sends_what_it_recorded_and_leaves_the_rest_waiting(
    app, nmbrs_sandbox, setup, monkeypatch
):
    s, rid, reports = setup

    def dies(transfer_id: int) -> None:
        raise Crash("part_recorded")

    after_first_part(monkeypatch, dies)
    with pytest.raises(Crash):
        send(s.admin, rid, reports)
    # The worker sends Maria's lines, waits for the rest, and after a long silence (here short)
    # finishes with what was recorded.
    app.config["TRANSFER_RECORDING_STALL_SECONDS"] = 0.5
    work(app)
    assert stored(nmbrs_sandbox) == MARIA
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert not t.recording
    assert (t.lines_total, t.lines_sent) == (2, 2)
    assert [r.report_id for r in t.reports] == [reports[0]]
    assert report_status(app, reports[0]) == ReportStatus.TRANSFERRED
    # Johan's report was never claimed: it waits in Redo att skickas, and goes once when sent.
    assert report_status(app, reports[1]) == ReportStatus.APPROVED
    assert "Leverantör" in text_of(s.admin.get("/transfers/"))
    with app.app_context():
        requested = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.action == "transfer.requested")
        ).all()
        assert [e.details["reports"] for e in requested] == [[reports[0]]]
    monkeypatch.setattr(recording, "crash_hook", lambda reached, transfer_id: None)
    assert send(s.admin, rid, [reports[1]]).status_code == 302
    work(app)
    assert stored(nmbrs_sandbox) == sorted(MARIA + JOHAN)
    assert report_status(app, reports[1]) == ReportStatus.TRANSFERRED


def test_a_worker_that_dies_while_the_request_still_records_loses_and_doubles_nothing(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """The worker takes Maria's lines, records them as going out and dies, while the request
    goes on to record Johan's. Försök igen reads Maria's batch back and sends every line once."""
    s, rid, reports = setup
    crash_at(monkeypatch, "marked")
    after_first_part(monkeypatch, lambda transfer_id: run_until_crash(app, transfer_id))
    url = transfer_url(send(s.admin, rid, reports))
    assert stored(nmbrs_sandbox) == []
    [t] = transfers(app)
    assert not t.recording and t.lines_total == 4  # the request recorded everything
    worker_found_dead(app, s.admin, url)
    try_again(app, s.admin, url)
    assert stored(nmbrs_sandbox) == sorted(MARIA + JOHAN)
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert all(report_status(app, r) == ReportStatus.TRANSFERRED for r in reports)


def test_a_later_part_whose_report_another_transfer_took_is_left_out_and_the_admin_is_told(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """While Maria's part is being sent, Johan's report is taken by a transfer to another
    recipient: his part is not recorded, Maria's goes, and the admin reads why."""
    s, rid, reports = setup

    def taken(transfer_id: int) -> None:
        with app.app_context():
            mine = db.session.get(Transfer, transfer_id)
            other = Transfer(
                organization_id=mine.organization_id, recipient_id=rid, kind="paxml",
                status=TransferStatus.READY,
            )  # fmt: skip
            db.session.add(other)
            db.session.flush()
            db.session.add(TransferReport(transfer_id=other.id, report_id=reports[1]))
            db.session.commit()
            db.session.remove()

    after_first_part(monkeypatch, taken)
    response = send(s.admin, rid, reports, follow=True)
    assert "Bara 1 av rapporterna kom med i överföringen" in text_of(response)
    work(app)
    assert stored(nmbrs_sandbox) == MARIA
    mine = transfers(app)[0]
    assert mine.status == TransferStatus.SUCCEEDED
    assert [r.report_id for r in mine.reports] == [reports[0]]
    assert {line.report_id for line in mine.lines} == {reports[0]}
    assert report_status(app, reports[0]) == ReportStatus.TRANSFERRED
    assert report_status(app, reports[1]) == ReportStatus.APPROVED  # held by the other one


def test_the_worker_sends_the_first_part_then_waits_for_the_rest_before_it_finishes(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """The worker has sent Maria's part and the request has not recorded Johan's yet: the
    worker waits for it, sends it too, and only then settles the transfer."""
    s, rid, reports = setup
    worker = threading.Thread(target=work, args=(app,))

    def worker_sent_first_part(transfer_id: int) -> None:
        worker.start()
        wait_for(lambda: sent_lines(app, transfer_id) >= 2)  # the first part is in Nmbrs

    after_first_part(monkeypatch, worker_sent_first_part)
    url = transfer_url(send(s.admin, rid, reports))
    worker.join(timeout=PATIENCE_SECONDS)
    assert not worker.is_alive()
    assert stored(nmbrs_sandbox) == sorted(MARIA + JOHAN)
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED and (t.lines_total, t.lines_sent) == (4, 4)
    assert all(report_status(app, r) == ReportStatus.TRANSFERRED for r in reports)
    assert "4 av 4 rader skickade till Nmbrs" in text_of(s.admin.get(url))


def sent_lines(app, transfer_id: int) -> int:
    with app.app_context():
        try:
            return db.session.scalar(
                db.select(db.func.count(TransferLine.id)).where(
                    TransferLine.transfer_id == transfer_id,
                    TransferLine.status == LineStatus.SENT,
                )
            )
        finally:
            db.session.remove()


def test_parts_read_an_employee_at_a_time_are_still_whole_employees_sent_once(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """The request reads lines a few employees at a time (the first part goes without every
    report read): a part still ends only after whole employees, across those reads."""
    s, rid, reports = setup
    monkeypatch.setattr(plan, "READ_FIRST", 1)
    monkeypatch.setattr(recording, "PART_LINES", (3,))  # more than Maria's 2 lines
    with app.app_context(), all_organizations():
        recipient = db.session.get(ReportRecipient, rid)
        loaded = list(
            db.session.scalars(
                db.select(ExpenseReport).where(ExpenseReport.id.in_(reports)).order_by("id")
            )
        )
        parts = list(plan.previews(recipient, loaded, None, None, False, recording.PART_LINES))
        assert [sorted(r.id for r in p.reports) for p in parts] == [sorted(reports)]
        db.session.remove()
    send(s.admin, rid, reports)
    work(app)
    assert stored(nmbrs_sandbox) == sorted(MARIA + JOHAN)
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED and (t.lines_total, t.lines_sent) == (4, 4)
