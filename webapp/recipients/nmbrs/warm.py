"""The Nmbrs send's own statements, for a worker warming up before it forks
(`webapp.services.transfer.warm`)."""

from __future__ import annotations

import contextlib

from webapp.models import ReportRecipient
from webapp.recipients.nmbrs.delivery import (
    BATCH_LINES,
    claim_transfer,
    employee_batches,
    stamp_progress,
)
from webapp.recipients.nmbrs.pending import Pending
from webapp.services.transfer.ledger import TransferLost
from webapp.services.transfer.warm import as_loaded


def warm_up(nobody: int) -> None:
    """On a transfer that does not exist: the recipient's Nmbrs connection, the lines taken,
    the claim and the progress (they match nothing). In the caller's transaction."""
    # `send` reads `transfer.recipient.nmbrs`: its lazy load, compiled here, not in each job.
    with as_loaded(ReportRecipient(id=nobody)) as recipient:
        recipient.nmbrs  # noqa: B018
    Pending(nobody, employee_batches, BATCH_LINES).take(idle=True)
    with contextlib.suppress(TransferLost):
        claim_transfer(nobody, 0, 0)
    stamp_progress(nobody, "sending", 0)
