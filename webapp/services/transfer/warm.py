"""Warming a worker before it forks its jobs (`jobs.context.warm`).

A forking worker runs each transfer in a fresh child, which compiled the send's SQL anew each
time: SQLAlchemy keeps compiled statements per engine, and the child's engine is the parent's
as it was at the fork (`jobs.context` keeps it, with fresh connections). Run once in the
worker before it forks, on a transfer that does not exist, the statements a transfer's job
runs are compiled (and the tenant guard has seen their shapes) for every child after."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import make_transient_to_detached

from webapp.crypto import keyring
from webapp.extensions import db
from webapp.models import Transfer
from webapp.recipients import all_kinds
from webapp.services.transfer import ledger
from webapp.tenancy import all_organizations, tenant

# No row has this id: every statement finds nothing, every write matches nothing.
NOBODY = 0

T = TypeVar("T")


def _detached(obj: T) -> T:
    """`obj` in the session as if loaded (no SQL), so that its lazy loads run as a loaded
    row's would. Expunge it after."""
    make_transient_to_detached(obj)
    db.session.add(obj)
    return obj


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
            transfer = _detached(Transfer(id=NOBODY, recipient_id=NOBODY))
            try:
                transfer.recipient  # noqa: B018 - the lazy load, as `execute` does
            finally:
                db.session.expunge(transfer)
            ledger.left_over(NOBODY)
            for kind in all_kinds():
                kind.warm_up(NOBODY)
            ledger.close_recording(NOBODY)
            ledger.tally(NOBODY)
            ledger.held_reports(NOBODY)
            ledger.set_outcome(NOBODY, [], "sent", True)
            ledger.mark_transferred([])
    finally:
        db.session.rollback()
