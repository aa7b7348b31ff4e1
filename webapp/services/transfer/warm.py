"""Warming a worker before it forks its jobs (`jobs.context.warm`).

A forking worker runs each transfer in a fresh child, which compiled the send's SQL anew each
time: SQLAlchemy keeps compiled statements per engine, and the child's engine is the parent's
as it was at the fork (`jobs.context` keeps it, with fresh connections). Run once in the
worker before it forks, on a transfer that does not exist, the statements a transfer's job
runs are compiled (and the tenant guard has seen their shapes) for every child after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from webapp.crypto import keyring
from webapp.extensions import db
from webapp.models import LineStatus, Transfer, TransferStatus
from webapp.recipients import all_kinds
from webapp.services.transfer import ledger
from webapp.tenancy import all_organizations, tenant

# No row has this id: every statement finds nothing, every write matches nothing.
NOBODY = 0

T = TypeVar("T")


@contextlib.contextmanager
def as_loaded(obj: T) -> Iterator[T]:
    """`obj` in the session as if loaded (no SQL), so that its lazy loads run as a loaded
    row's would; out of the session again after."""
    make_transient_to_detached(obj)
    db.session.add(obj)
    try:
        yield obj
    finally:
        if obj in db.session:
            db.session.expunge(obj)


def warm_up() -> None:
    """Run a transfer job's statements on nothing, in its order: its start, each kind's send,
    its finish; and derive the keys it decrypts the connection's secret with. Rolls back; the
    caller closes the connections."""
    keyring()
    try:
        with all_organizations():
            db.session.get(Transfer, NOBODY)  # tenancy.tenant_of, as each job starts
        # Any organization: the guard's criteria take its id as a bound value, and compiled
        # SQL is shared by every organization.
        with tenant(NOBODY):
            _started()
            with as_loaded(Transfer(id=NOBODY, recipient_id=NOBODY)) as transfer:
                transfer.recipient  # noqa: B018 - the lazy load, as `execute` does
            ledger.left_over(NOBODY)
            for kind in all_kinds():
                kind.warm_up(NOBODY)
            # The lines recorded after those read first, as the send reads them next.
            ledger.lines_with(NOBODY, LineStatus.PENDING, after=NOBODY)
            ledger.read_ahead(NOBODY, 0)  # while the last batch is on the wire
            ledger.close_recording(NOBODY)
            ledger.tally(NOBODY)
            ledger.held_reports(NOBODY)
            ledger.set_outcome(NOBODY, [], "sent", True)
            ledger.set_outcome(NOBODY, None, "sent", True)
            ledger.mark_transferred([])
            ledger.mark_transferred(None, NOBODY)
            ledger.set_final(
                Transfer(),
                NOBODY,
                attempt=0,  # as a job's finish: only while still running in its attempt
                lines_sent=0,
                lines_failed=0,
                amount_sent_ore=0,
                status=TransferStatus.SUCCEEDED,
                error_code=None,
                error_message=None,
            )
    finally:
        db.session.rollback()


def _started() -> None:
    """`execute`'s start on a queued transfer that does not exist: its UPDATE (which matches
    nothing, so the flush fails) and the reload of the transfer after the commit (which finds
    nothing). Rolls back."""
    queued = Transfer(
        id=NOBODY,
        organization_id=NOBODY,
        recipient_id=NOBODY,
        status=TransferStatus.QUEUED,
        step="waiting",
        attempts=0,
        started_at=None,
        heartbeat_at=None,
        error_code=None,
        error_message=None,
    )
    with as_loaded(queued) as transfer:
        try:
            ledger.begin(transfer)
            with contextlib.suppress(StaleDataError):
                db.session.flush()
            db.session.rollback()
            db.session.expire(transfer)
            with contextlib.suppress(ObjectDeletedError):
                transfer.attempts  # noqa: B018
        finally:
            db.session.rollback()
