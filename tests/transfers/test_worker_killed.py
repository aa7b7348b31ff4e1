"""A real `rq worker` killed with SIGKILL while its batch is on the way to Nmbrs: Nmbrs stores
the components after the worker is gone, and "Försök igen" finds them instead of sending them
a second time."""

from __future__ import annotations

import signal
import time

import psutil

from tests.reports.helpers import text_of
from tests.support import PATIENCE_SECONDS, wait_for
from tests.sync.helpers import work
from tests.sync.test_worker_killed import expire_executions, kill_worker, start_worker
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
from webapp.extensions import db
from webapp.models import LineStatus, ReportStatus, TransferLine, TransferStatus


def lines_in_flight(app) -> int:
    with app.app_context():
        n = db.session.scalar(
            db.select(db.func.count(TransferLine.id)).where(
                TransferLine.status == LineStatus.SENDING
            )
        )
        db.session.remove()
        return n


def test_worker_killed_while_nmbrs_stores_the_batch_then_retry_sends_nothing_twice(
    app, people, nmbrs_sandbox, fast
):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    reports = [
        approved_report(s, "maria", km="300", outlay="1 234,50", cc=""),
        approved_report(s, "johan", km="120", outlay="", title="Leverantör"),
    ]
    expected = [(1001, 5100, "750.00", None, 11), (1001, 5500, "1234.50", None, 11),
                (1002, 5100, "300.00", None, 11)]  # fmt: skip
    url = transfer_url(send(s.admin, rid, reports))
    nmbrs_sandbox.state.set_latency(3000)  # every call takes 3 s: time to kill mid-call
    worker = start_worker(app, nmbrs_sandbox.url)
    try:
        wait_for(lambda: lines_in_flight(app) == 3)  # the batch is on its way
        time.sleep(0.2)
        horses = psutil.Process(worker.pid).children(recursive=True)
        for process in [psutil.Process(worker.pid), *horses]:
            process.send_signal(signal.SIGKILL)
    finally:
        worker.wait(PATIENCE_SECONDS)
    assert stored(nmbrs_sandbox) == []  # not yet: Nmbrs is still working on it
    wait_for(lambda: len(stored(nmbrs_sandbox)) == 3)
    nmbrs_sandbox.state.set_latency(0)

    # No heartbeat for longer than SYNC_DEAD_AFTER_SECONDS: the progress fragment notices.
    fragment = wait_for(
        lambda: (
            (t := text_of(s.admin.get(url + "/progress", headers={"HX-Request": "true"})))
            and 'data-status="failed"' in t
            and t
        )
    )
    assert "Överföringen avbröts" in fragment
    assert all(report_status(app, r) == ReportStatus.APPROVED for r in reports)

    assert s.admin.post(url + "/retry").status_code == 302
    work(app)
    assert stored(nmbrs_sandbox) == sorted(expected)
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert all(report_status(app, r) == ReportStatus.TRANSFERRED for r in reports)


def test_retry_after_a_killed_transfer_sends_whatever_rq_still_holds_of_the_dead_job(
    app, people, nmbrs_sandbox, fast
):
    """Issue 12, item 2: once the killed transfer is marked failed, *Försök igen* starts it
    again (no HTTP 500, nothing left queued for ever), and nothing is sent twice."""
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    reports = [approved_report(s, "maria", km="300", outlay="1 234,50", cc="")]
    expected = [(1001, 5100, "750.00", None, 11), (1001, 5500, "1234.50", None, 11)]
    url = transfer_url(send(s.admin, rid, reports))
    nmbrs_sandbox.state.set_latency(3000)
    worker = start_worker(app, nmbrs_sandbox.url)
    try:
        wait_for(lambda: lines_in_flight(app) == 2)  # the batch is on its way
        time.sleep(0.2)
    finally:
        kill_worker(worker)
    wait_for(lambda: len(stored(nmbrs_sandbox)) == 2)
    nmbrs_sandbox.state.set_latency(0)
    wait_for(
        lambda: (
            'data-status="failed"'
            in text_of(s.admin.get(url + "/progress", headers={"HX-Request": "true"}))
        )
    )
    [dead] = transfers(app)
    expire_executions(app, dead.job_id)

    response = s.admin.post(url + "/retry")
    assert response.status_code == 302
    [queued] = transfers(app)
    assert queued.status == TransferStatus.QUEUED
    work(app)
    assert stored(nmbrs_sandbox) == sorted(expected)
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert all(report_status(app, r) == ReportStatus.TRANSFERRED for r in reports)
