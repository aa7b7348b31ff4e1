"""A transfer's end: Nmbrs' yes to the last batch is committed with the transfer's outcome (one
commit), which was counted and decided while that batch was on the wire. A job dying in between
leaves the batch in doubt, read back by Försök igen; what comes out is what a count after the
answer gives. Against the sandbox over HTTP."""

from __future__ import annotations

import re

import pytest

from tests.reports.helpers import text_of
from tests.sync.helpers import work
from tests.transfers import test_in_doubt_crashes
from tests.transfers.helpers import (
    approved_report,
    company_id,
    connect_nmbrs,
    report_status,
    send,
    staff,
    stored,
    transfer_url,
    transfers,
)
from tests.transfers.test_exactly_once import Crash, run_until_crash, try_again, worker_found_dead
from tests.transfers.test_in_doubt_crashes import calls
from webapp.extensions import db
from webapp.models import AuditEvent, LineStatus, ReportStatus, Transfer, TransferStatus
from webapp.recipients.nmbrs import delivery
from webapp.services import transfer as transfer_service
from webapp.services.transfer import ledger

# The two reports of the in-doubt tests, and what Nmbrs holds once they are sent.
setup = test_in_doubt_crashes.setup


def audited(app, action: str) -> list[str | None]:
    with app.app_context():
        found = db.session.scalars(
            db.select(AuditEvent.object_id).where(AuditEvent.action == action)
        ).all()
        db.session.remove()
        return sorted(found)


def read_back_and_sent_once(app, monkeypatch, nmbrs_sandbox, client, url: str, setup) -> None:
    """Försök igen on a transfer whose last batch is in doubt: read back and found, so nothing
    goes twice, and the transfer and its reports are sent."""
    _s, _rid, reports, expected = setup
    seen = calls(monkeypatch, nmbrs_sandbox)
    try_again(app, client, url)
    assert stored(nmbrs_sandbox) == expected  # read back and found: nothing twice
    assert "WageComponentVar_Insert_Batch" not in seen
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert {line.status for line in t.lines} == {LineStatus.SENT}
    assert all(report_status(app, r) == ReportStatus.TRANSFERRED for r in reports)


@pytest.mark.parametrize("batch_lines", [500, 2])  # the last batch is the only one, or the 2nd
def test_a_job_dying_after_the_last_yes_before_its_finish_is_read_back_and_sends_nothing_twice(
    app, nmbrs_sandbox, setup, monkeypatch, batch_lines
):
    s, rid, reports, expected = setup
    monkeypatch.setattr(delivery, "BATCH_LINES", batch_lines)
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)
    batches = 4 // min(batch_lines, 4)
    state = {"answers": 0}

    def last_answer(reached: str, transfer_id: int) -> None:
        if reached == "answered":
            state["answers"] += 1
            if state["answers"] == batches:  # recorded, not committed: the finish's commit is next
                raise Crash(reached)

    monkeypatch.setattr(delivery, "crash_hook", last_answer)
    run_until_crash(app, t.id)
    assert stored(nmbrs_sandbox) == expected  # all of it reached Nmbrs
    [t] = transfers(app)
    assert t.status == TransferStatus.RUNNING and t.finished_at is None
    last = [line.status for line in t.lines if line.employee_number == "1002"]
    assert last == [LineStatus.SENDING] * 2  # the last batch is in doubt, not taken for sent
    worker_found_dead(app, s.admin, url)
    assert all(report_status(app, r) == ReportStatus.APPROVED for r in reports)

    read_back_and_sent_once(app, monkeypatch, nmbrs_sandbox, s.admin, url, setup)
    assert audited(app, "report.transferred") == sorted(str(r) for r in reports)
    assert "4 av 4 rader skickade till Nmbrs, 2 384,40 kr." in text_of(s.admin.get(url))


def test_a_last_yes_rolled_back_before_the_finish_is_not_counted_sent(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """What was counted while the last batch was on the wire counts only with its yes in the
    same transaction: rolled back, the finish counts the lines themselves (in doubt)."""
    s, rid, reports, expected = setup
    answered = ledger.answered

    def lost(ahead, committed) -> None:
        answered(ahead, committed)
        db.session.rollback()

    monkeypatch.setattr(ledger, "answered", lost)
    url = transfer_url(send(s.admin, rid, reports))
    work(app)
    [t] = transfers(app)
    assert t.status == TransferStatus.FAILED and t.lines_sent == 0
    assert {line.status for line in t.lines} == {LineStatus.SENDING}
    assert all(report_status(app, r) == ReportStatus.APPROVED for r in reports)
    assert "Försök igen" in text_of(s.admin.get(url))

    monkeypatch.setattr(ledger, "answered", answered)
    try_again(app, s.admin, url)
    assert stored(nmbrs_sandbox) == expected
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert all(report_status(app, r) == ReportStatus.TRANSFERRED for r in reports)


def test_a_line_refused_in_an_earlier_batch_and_the_last_batch_sent_settle_each_report(
    app, people, nmbrs_sandbox, fast, monkeypatch
):
    """Maria's batch loses its outlay line (the wage type is gone in Nmbrs), Johan's, the
    last, goes through: counted while Johan's was on the wire, each report comes out as a
    count after the answer says."""
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    reports = [
        approved_report(s, "maria", km="300", outlay="1 234,50", cc=""),
        approved_report(s, "johan", km="120", outlay="", title="Leverantör"),
    ]
    nmbrs_sandbox.state.remove_wage_type(company_id(nmbrs_sandbox), 5500)
    monkeypatch.setattr(delivery, "BATCH_LINES", 2)  # Maria's two lines, then Johan's one
    taken = []
    read_ahead = ledger.read_ahead
    monkeypatch.setattr(ledger, "read_ahead", lambda *a: taken.append(read_ahead(*a)) or taken[-1])
    url = transfer_url(send(s.admin, rid, reports))
    work(app)
    assert [ahead is not None for ahead in taken] == [True]  # the finish was read ahead

    [t] = transfers(app)
    assert t.status == TransferStatus.PARTLY_FAILED
    assert (t.lines_sent, t.lines_failed, t.amount_sent_ore) == (2, 1, 105000)
    page = text_of(s.admin.get(url))
    assert "2 av 3 rader skickade till Nmbrs, 1 050,00 kr." in page
    assert re.search(rf'data-report="{reports[0]}" data-outcome="partly_sent"', page)
    assert re.search(rf'data-report="{reports[1]}" data-outcome="sent"', page)
    assert report_status(app, reports[0]) == ReportStatus.APPROVED  # back in Redo att skickas
    assert report_status(app, reports[1]) == ReportStatus.TRANSFERRED
    assert audited(app, "report.transferred") == [str(reports[1])]
    assert audited(app, "transfer.finished") == [str(t.id)]


def test_a_job_declared_dead_while_its_last_batch_is_on_the_wire_does_not_finish_the_transfer(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """The reaper found the job silent and ended the transfer as interrupted (its heartbeat
    stalled, say) while the job still waited for Nmbrs' last answer: the job's finish does not
    overwrite that with a success, and the yes it got is not committed either. Försök igen
    reads the batch back and sends nothing twice."""
    s, rid, reports, expected = setup
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)

    def buried_meanwhile(reached: str, transfer_id: int) -> None:
        if reached == "handed":  # the only batch, on the wire (its mark committed)
            with db.engine.begin() as other:  # the reaper, in a process of its own
                other.execute(
                    db.update(Transfer)
                    .where(Transfer.id == transfer_id)
                    .values(status=TransferStatus.FAILED, error_code="interrupted")
                )

    monkeypatch.setattr(delivery, "crash_hook", buried_meanwhile)
    with app.app_context():
        transfer_service.execute(t.id)
        db.session.remove()
    assert stored(nmbrs_sandbox) == expected  # all of it reached Nmbrs
    [t] = transfers(app)
    assert t.status == TransferStatus.FAILED and t.error_code == "interrupted"
    assert {line.status for line in t.lines} == {LineStatus.SENDING}  # in doubt, not sent
    assert all(report_status(app, r) == ReportStatus.APPROVED for r in reports)
    assert audited(app, "transfer.finished") == []

    monkeypatch.setattr(delivery, "crash_hook", lambda *_: None)
    read_back_and_sent_once(app, monkeypatch, nmbrs_sandbox, s.admin, url, setup)
