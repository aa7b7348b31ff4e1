"""Skicka till lön: approved expense reports to payroll, exactly once.

A transfer is a `Transfer` row with one `TransferLine` per pay part, all written (with their
stable keys) before anything is sent (`ledger`). The recipient's kind decides what happens
next: a kind that sends in a worker (Nmbrs) gets an RQ job (`runner`, `jobs.transfer.run`)
that delivers the lines exactly once; a file-based kind (PAXml) makes the file at once and it
is downloaded. `plan` is the preview, `undo` takes a transfer back, `status` is what the pages
show, `texts` what they say.

    preview = transfer.preview(recipient, reports, period)
    t = transfer.request_transfer(recipient, reports, user=admin, period=period)
"""

from webapp.nmbrs import PayrollPeriod
from webapp.services.runs import QueueUnavailable
from webapp.services.transfer.ledger import (
    active_transfer,
    can_retry,
    history,
    recent,
    resolve_uncertain,
)
from webapp.services.transfer.plan import (
    PlannedLine,
    Preview,
    comment_for,
    get_recipient,
    get_transfer,
    preview,
    reports_by_ids,
    waiting_reports,
)
from webapp.services.transfer.runner import (
    current_period,
    download,
    execute,
    progress,
    reap_dead,
    request_transfer,
    retry,
)
from webapp.services.transfer.status import TransferView, benefit_amount, describe, error_text
from webapp.services.transfer.texts import ERROR_TEXTS, SKIP_REASONS, TransferError
from webapp.services.transfer.undo import (
    UndoSummary,
    can_undo,
    execute_undo,
    request_undo,
    undo_summary,
)
from webapp.services.transfer.warm import warm_up

__all__ = [
    "ERROR_TEXTS",
    "SKIP_REASONS",
    "PlannedLine",
    "PayrollPeriod",
    "Preview",
    "QueueUnavailable",
    "TransferError",
    "TransferView",
    "active_transfer",
    "benefit_amount",
    "can_retry",
    "can_undo",
    "comment_for",
    "current_period",
    "describe",
    "download",
    "error_text",
    "execute",
    "execute_undo",
    "get_recipient",
    "get_transfer",
    "history",
    "preview",
    "progress",
    "reap_dead",
    "recent",
    "resolve_uncertain",
    "reports_by_ids",
    "request_transfer",
    "request_undo",
    "undo_summary",
    "UndoSummary",
    "retry",
    "waiting_reports",
    "warm_up",
]
