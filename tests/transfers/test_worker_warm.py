"""A worker warms up before it forks its jobs (`jobs.context.warm`): the transfer job's SQL is
compiled on rows that do not exist, and no database connection is left for a child to share.
A transfer sent after warming goes exactly once, as any other."""

from __future__ import annotations

import logging

import pytest

import jobs.context
from tests.sync.helpers import work
from tests.transfers.helpers import (
    approved_report,
    connect_nmbrs,
    report_status,
    send,
    staff,
    stored,
    transfers,
)
from tests.transfers.test_recorded_in_parts import MARIA
from webapp.extensions import db
from webapp.models import ReportStatus, Transfer, TransferStatus
from webapp.recipients.nmbrs import delivery
from webapp.services import transfer as transfer_service
from webapp.services.transfer import ledger


def pooled(app) -> tuple[int, int]:
    """The engine's connections: (idle in the pool, checked out)."""
    with app.app_context():
        return db.engine.pool.checkedin(), db.engine.pool.checkedout()


def test_warming_compiles_the_transfer_sql_and_leaves_no_connection_open(app):
    driver_level = [delivery._CLAIM, delivery._STAMP]
    for statement in driver_level:
        statement._compiled.clear()
    ledger._LINES.clear()
    with app.app_context():
        db.engine._compiled_cache.clear()
        Transfer.__mapper__._compiled_cache.clear()
        db.session.scalar(db.select(db.func.count(Transfer.id)))  # a connection in the pool
        db.session.remove()
    assert pooled(app)[0] >= 1

    jobs.context.warm(app)

    with app.app_context():
        compiled = [str(c) for c in db.engine._compiled_cache.values()]
        # Nothing was found or changed: no transfer has id 0.
        assert db.session.scalar(db.select(db.func.count(Transfer.id)).where(Transfer.id == 0)) == 0
        db.session.remove()
    assert any("GROUP BY transfer_line.status" in sql for sql in compiled)
    assert any(sql.startswith("UPDATE expense_report") for sql in compiled)
    # The send's first read: the recipient's Nmbrs connection, loaded lazily.
    assert any(sql.startswith("SELECT nmbrs_connection.id") for sql in compiled)
    # The job's end: the transfer's outcome, one UPDATE of the same columns whatever changed.
    assert any(
        sql.startswith("UPDATE transfer SET")
        and "finished_at=" in sql
        and "lines_sent=" in sql
        and "transfer.attempts = " in sql  # only while still running in the job's attempt
        for sql in compiled
    )
    # The job's start: the transfer taken up (running, one attempt more).
    # The job's start (running, one attempt more), flushed by the ORM: in the mapper's cache.
    flushed = [str(c) for c in Transfer.__mapper__._compiled_cache.values()]
    assert any(
        sql.startswith("UPDATE transfer SET status=") and "attempts=" in sql for sql in flushed
    )
    # The claim and the progress of every batch, and the lines taken (the first read of two
    # batches' worth and those after), run at driver level: compiled here too.
    assert all(statement._compiled for statement in driver_level)
    assert len(ledger._LINES) == 2 and all(s._compiled for s in ledger._LINES.values())
    # The parent closed what it opened: a forked child can share no socket with it.
    jobs.context.warm(app)
    assert pooled(app) == (0, 0)


def test_a_worker_whose_warming_fails_still_starts_and_holds_no_connection(
    app, monkeypatch, caplog
):
    def broken() -> None:
        db.session.execute(db.text("SELECT * FROM no_such_table"))

    monkeypatch.setattr(transfer_service, "warm_up", broken)
    with caplog.at_level(logging.WARNING, logger="jobs.context"):
        jobs.context.warm(app)
    assert "start cold" in caplog.text
    assert pooled(app) == (0, 0)


@pytest.mark.usefixtures("fast")
def test_a_transfer_sent_by_a_warmed_worker_goes_exactly_once(app, people, nmbrs_sandbox):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    report = approved_report(s, "maria", km="300", outlay="1 234,50", cc="")
    jobs.context.warm(app)
    send(s.admin, rid, [report])
    work(app)
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED and (t.lines_total, t.lines_sent) == (2, 2)
    assert stored(nmbrs_sandbox) == MARIA
    assert report_status(app, report) == ReportStatus.TRANSFERRED
