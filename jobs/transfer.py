"""RQ entry points for transfers to Nmbrs. Thin: build the app, call the transfer service."""

from __future__ import annotations

from jobs.context import job_app


def run(transfer_id: int) -> str:
    """Send one queued `Transfer` (enqueued by `transfer.request_transfer` or `retry`)."""
    from webapp.extensions import db
    from webapp.models import Transfer
    from webapp.services import transfer
    from webapp.tenancy import tenant_of

    with job_app().app_context(), tenant_of(Transfer, transfer_id):
        try:
            result = transfer.execute(transfer_id)
            return result.status.value if result is not None else "stale"
        finally:
            db.session.remove()


def undo(transfer_id: int) -> str:
    """Delete a transfer's wage components in Nmbrs (enqueued by `transfer.request_undo`)."""
    from webapp.extensions import db
    from webapp.models import Transfer
    from webapp.services import transfer
    from webapp.tenancy import tenant_of

    with job_app().app_context(), tenant_of(Transfer, transfer_id):
        try:
            result = transfer.execute_undo(transfer_id)
            return result.status.value if result is not None else "stale"
        finally:
            db.session.remove()
