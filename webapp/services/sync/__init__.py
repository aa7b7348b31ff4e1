"""Hämta senaste data: syncing a recipient's catalogues from its payroll system, one run at a
time.

A run is a `SyncRun` row (what the UI reads) plus an RQ job (`jobs.sync.run`). The job asks
the recipient's kind to fetch everything first, then applies it in one database transaction
(`catalogue`): upsert by remote id, archive what disappeared, un-archive what came back,
re-match employees. A failure anywhere changes no catalogue. `runner` runs it, `schedule` is
the nightly clock (`nightly` its pure planning), `alerts` tells the admins, `texts` what the
pages say.

    run = sync.request_sync(recipient, trigger=SyncTrigger.MANUAL, user=current_user)
    # ... a worker runs jobs.sync.run(run.id), which calls sync.execute(run.id)
"""

from webapp.services.runs import QueueUnavailable
from webapp.services.sync.alerts import notify_admins, record_consent_problem
from webapp.services.sync.catalogue import CATALOGS, Fetched, RunLost, apply, diff
from webapp.services.sync.runner import (
    PollRun,
    active_run,
    beating,
    execute,
    history,
    latest_run,
    polled,
    progress,
    progress_of,
    queued_afresh,
    reap_dead,
    request_sync,
    run_nightly,
    settled,
    start_or_join,
    view_context,
)
from webapp.services.sync.schedule import clock_tick, needs_admin, schedule_inputs
from webapp.services.sync.texts import (
    CATALOG_TITLES,
    ERROR_TEXTS,
    STEP_LABELS,
    ProgressView,
    RunView,
    describe,
    describe_progress,
    error_text,
    next_automatic_try,
    waiting_problem,
)

__all__ = [
    "CATALOGS",
    "CATALOG_TITLES",
    "ERROR_TEXTS",
    "STEP_LABELS",
    "Fetched",
    "PollRun",
    "ProgressView",
    "QueueUnavailable",
    "RunLost",
    "RunView",
    "active_run",
    "apply",
    "beating",
    "clock_tick",
    "describe",
    "describe_progress",
    "diff",
    "error_text",
    "execute",
    "history",
    "latest_run",
    "needs_admin",
    "next_automatic_try",
    "notify_admins",
    "polled",
    "progress",
    "progress_of",
    "queued_afresh",
    "reap_dead",
    "record_consent_problem",
    "request_sync",
    "run_nightly",
    "schedule_inputs",
    "settled",
    "start_or_join",
    "view_context",
    "waiting_problem",
]
