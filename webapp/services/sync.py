"""Hämta senaste data från Nmbrs: syncing a recipient's catalogues, one run at a time.

A run is a `SyncRun` row (what the UI reads) plus an RQ job (`jobs.sync.run`). The job
fetches everything first, with a few concurrent calls under the shared per-host rate limit,
then applies it in one database transaction: upsert by Nmbrs id, archive what disappeared,
un-archive what came back, re-match employees. A failure anywhere changes no catalogue.

    run = sync.request_sync(recipient, trigger=SyncTrigger.MANUAL, user=current_user)
    # ... a worker runs jobs.sync.run(run.id), which calls sync.execute(run.id)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus, get_current_job
from rq.worker import Worker
from sqlalchemy import insert, select, update
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import (
    CostCenter,
    CostUnit,
    Department,
    KeyStatus,
    NmbrsApi,
    NmbrsConnection,
    PayrollEmployee,
    RecipientKind,
    ReportRecipient,
    Role,
    SyncAlert,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    User,
    WageType,
)
from webapp.models.base import utcnow
from webapp.models.sync import ACTIVE_STATUSES, aware
from webapp.nmbrs import (
    NmbrsAuthError,
    NmbrsConsentExpired,
    NmbrsError,
    NmbrsPermissionError,
    NmbrsProtocolError,
    NmbrsUnavailable,
    PayrollApi,
)
from webapp.queue import get_queue, redis_connection
from webapp.services import background, employee_mapping, mail, nightly
from webapp.services.nmbrs_access import (
    CONSENT_EXPIRED,
    CONSENT_OK,
    CONSENT_PROBLEMS,
    client_for,
    remote_company_id,
    remote_debtor_id,
)

log = logging.getLogger(__name__)

JOB_FUNCTION = "jobs.sync.run"
POOL_SIZE = 6  # concurrent Nmbrs calls within one sync

# The catalogues, in the order the UI lists them, and the table each one fills.
CATALOGS: dict[str, type] = {
    "wage_types": WageType,
    "cost_units": CostUnit,
    "cost_centers": CostCenter,
    "departments": Department,
    "employees": PayrollEmployee,
}
CATALOG_TITLES = {
    "wage_types": _l("Lönearter"),
    "cost_units": _l("Kostnadsenheter"),
    "cost_centers": _l("Kostnadsställen"),
    "departments": _l("Avdelningar"),
    "employees": _l("Anställda"),
}
STEP_LABELS = {
    "waiting": _l("Väntar på en ledig arbetsprocess…"),
    "retry_wait": _l("Väntar på nytt försök…"),
    "companies": _l("Hämtar företag…"),
    "wage_types": _l("Hämtar lönearter…"),
    "cost_centers": _l("Hämtar kostnadsställen…"),
    "cost_units": _l("Hämtar kostnadsenheter…"),
    "departments": _l("Hämtar avdelningar…"),
    "employees": _l("Hämtar anställda…"),
    "saving": _l("Sparar…"),
}
_FETCH_ORDER = ("companies", "wage_types", "cost_centers", "cost_units", "departments", "employees")

# error_code → what the admin reads (also in English); other codes show the stored message.
ERROR_TEXTS = {
    "key_rejected": _l(
        "Nmbrs nekade API-nyckeln. Den kan ha återställts i Nmbrs (Användarprofil → API-token)."
    ),
    "unavailable": _l("Nmbrs svarar inte just nu. Ingenting ändrades; försök igen senare."),
    "protocol": _l(
        "Svaret från Nmbrs gick inte att tolka. Ingenting ändrades; försök igen senare. "
        "Kvarstår felet, kontakta Bryggas support."
    ),
    "interrupted": _l(
        "Synken avbröts innan den blev klar (arbetsprocessen stoppades). Ingenting ändrades; "
        "försök igen."
    ),
    "not_started": _l("Synken kom aldrig igång. Ingenting ändrades; försök igen."),
    "error": _l("Synken misslyckades av ett okänt skäl. Ingenting ändrades; försök igen senare."),
    "consent_expired": _l(
        "Godkännandet i Nmbrs har gått ut eller återkallats. Anslut igen med Nmbrs-inloggning; "
        "ingenting ändrades."
    ),
}


def job_id_for(recipient_id: int) -> str:
    return f"sync-recipient-{recipient_id}"


# --- asking for a sync -------------------------------------------------------------------------


def active_run(recipient_id: int) -> SyncRun | None:
    return db.session.scalar(
        select(SyncRun)
        .where(SyncRun.recipient_id == recipient_id, SyncRun.status.in_(ACTIVE_STATUSES))
        .order_by(SyncRun.id.desc())
        .limit(1)
    )


def latest_run(recipient_id: int) -> SyncRun | None:
    return db.session.scalar(
        select(SyncRun)
        .where(SyncRun.recipient_id == recipient_id)
        .order_by(SyncRun.id.desc())
        .limit(1)
    )


def history(recipient_id: int, limit: int = 10) -> list[SyncRun]:
    """The last syncs of a recipient, newest first (with who asked: one query, not ten)."""
    return list(
        db.session.scalars(
            select(SyncRun)
            .where(SyncRun.recipient_id == recipient_id)
            .options(selectinload(SyncRun.requested_by))
            .order_by(SyncRun.id.desc())
            .limit(limit)
        )
    )


def request_sync(
    recipient: ReportRecipient, *, trigger: SyncTrigger, user: User | None = None
) -> SyncRun:
    """Start a sync of `recipient` in a worker, or join the one already queued or running.

    One sync per recipient at a time: a second click, a second tab or the nightly run arriving
    during a sync all get the same run back. Commits (the worker must find the row).
    """
    try:
        run, created = start_or_join(recipient, trigger=trigger, user=user)
    except RedisError as exc:
        # No lock without Redis, so no run: nothing is started that could be left behind.
        log.warning("sync of recipient %s not started: redis unavailable", recipient.id)
        raise QueueUnavailable from exc
    if created:
        try:
            _enqueue(run)
        except RedisError:
            # The run stays queued; reap_dead() enqueues it again once Redis is back.
            log.warning("could not enqueue sync run %s: redis unavailable", run.id)
    return run


class QueueUnavailable(Exception):
    """Redis (the job queue) does not answer, so no background work can be started."""

    user_message = _l(
        "Kön för bakgrundsjobb svarar inte just nu, så hämtningen kunde inte startas. "
        "Ingenting ändrades; försök igen om en liten stund."
    )


def start_or_join(
    recipient: ReportRecipient,
    *,
    trigger: SyncTrigger,
    user: User | None = None,
    job_id: str | None = None,
) -> tuple[SyncRun, bool]:
    """The recipient's queued or running run, or a new queued one (then `True`) that the job
    `job_id` (default: `sync-recipient-<id>`) is to run. Commits."""
    if recipient.kind != RecipientKind.NMBRS or recipient.nmbrs is None:
        raise ValueError("only Nmbrs recipients are synced")
    # The lock makes "is one running? if not, start one" atomic across web processes, the
    # clock and workers; the RQ job id (unique) is a second guard behind it.
    with redis_connection().lock(f"sync-lock:{recipient.id}", timeout=30, blocking_timeout=15):
        reap_dead(recipient.id)
        run = active_run(recipient.id)
        if run is not None:
            if trigger == SyncTrigger.MANUAL:
                _bring_forward(run)
            return run, False
        run = SyncRun(
            recipient_id=recipient.id,
            trigger=trigger,
            requested_by=user,
            status=SyncStatus.QUEUED,
            step="waiting",
            job_id=job_id or job_id_for(recipient.id),
        )
        db.session.add(run)
        db.session.commit()
        return run, True


def run_nightly(recipient: ReportRecipient) -> SyncRun:
    """The clock's nightly job for one recipient: join a sync already under way, or run one
    right here in this job (no second job to queue: a fan-out of hundreds of recipients
    pays for one job each). RQ retries this job when Nmbrs is unreachable."""
    job = get_current_job()
    job_id = job.id if job is not None else None
    run, created = start_or_join(recipient, trigger=SyncTrigger.NIGHTLY, job_id=job_id)
    if created or (job_id is not None and run.job_id == job_id):
        # Ours: new, or this job's own run waiting for its retry.
        execute(run.id)
    return run


def _retry() -> Retry | None:
    """Retries with backoff for a sync job, for when Nmbrs is unreachable."""
    intervals = list(current_app.config["SYNC_RETRY_INTERVALS"])
    return Retry(max=len(intervals), interval=intervals) if intervals else None


def _enqueue(run: SyncRun) -> None:
    kwargs = {
        "job_id": run.job_id,
        "unique": True,
        "job_timeout": current_app.config["SYNC_JOB_TIMEOUT"],
        "result_ttl": 600,
        "failure_ttl": 7 * 24 * 3600,
        "retry": _retry(),
        "description": f"sync recipient {run.recipient_id} (run {run.id})",
    }
    queue = get_queue()
    try:
        queue.enqueue(JOB_FUNCTION, run.id, **kwargs)
    except DuplicateJobError:
        # The database says nothing is queued or running, so the job under this id is a
        # finished, failed or abandoned one (RQ keeps those for a while): replace it.
        Job.fetch(run.job_id, connection=queue.connection).delete()
        queue.enqueue(JOB_FUNCTION, run.id, **kwargs)


def _bring_forward(run: SyncRun) -> None:
    """An admin clicked while the run waits for a retry: try now instead of in a while."""
    if run.status != SyncStatus.QUEUED or run.next_retry_at is None:
        return
    queue = get_queue()
    try:
        job = Job.fetch(run.job_id, connection=queue.connection)
        if job.get_status() == JobStatus.SCHEDULED:
            queue.scheduled_job_registry.remove(job)
            queue.enqueue_job(job)
            run.next_retry_at = None
            db.session.commit()
    except (NoSuchJobError, RedisError):
        log.warning("could not bring sync run %s forward", run.id)


# --- running a sync (in the worker) ------------------------------------------------------------


@dataclass
class Fetched:
    """Everything a sync read from Nmbrs, before any of it touches the database."""

    company_name: str | None = None
    # (Nmbrs id, code, description): SOAP int ids, or REST GUIDs (wage types: the code as text)
    items: dict[str, list[tuple[int | str, str, str]]] = field(default_factory=dict)
    api: NmbrsApi = NmbrsApi.SOAP


class RunLost(Exception):
    """The run was declared dead (or finished) by someone else while this worker ran it."""


class SyncProblem(Exception):
    """A failure found by the sync itself rather than by the Nmbrs client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.user_message = message


def execute(run_id: int) -> SyncRun | None:
    """Run a queued sync (the RQ job's body). Returns the run, or None for a stale job.

    Transient failures (Nmbrs unreachable) re-raise while RQ has retries left, after putting
    the run back to "queued" with the time of the next try.
    """
    run = db.session.get(SyncRun, run_id)
    if run is None or run.status not in ACTIVE_STATUSES:
        log.info("sync run %s is not waiting to run; nothing to do", run_id)
        return None
    recipient = run.recipient
    connection = recipient.nmbrs
    if not recipient.is_active or connection is None:
        _fail(run, "error", _("Mottagaren är inte längre aktiv."))
        return run
    now = utcnow()
    run.status = SyncStatus.RUNNING
    run.started_at = run.heartbeat_at = now
    run.attempts = (run.attempts or 0) + 1
    run.step = "companies"
    # Six calls start at once (five without a debtor); the employee types add theirs.
    run.calls_done, run.calls_total = 0, 6 if remote_debtor_id(connection) is not None else 5
    run.error_code = run.error_message = run.next_retry_at = None
    db.session.commit()
    log.info("sync run %s of recipient %s started (%s)", run.id, recipient.id, run.trigger)

    cfg = current_app.config
    heartbeat = background.Heartbeat(
        db.engine, SyncRun.__table__, run.id, ["running"], cfg["SYNC_HEARTBEAT_SECONDS"]
    )
    heartbeat.start()
    try:
        fetched = fetch(connection, _ProgressWriter(run))
        apply(run, recipient, fetched)
    except RunLost:
        db.session.rollback()
        log.warning("sync run %s was taken over; its changes were not saved", run_id)
        return run
    except NmbrsConsentExpired as exc:
        # REST: the refresh was refused (the token store has marked the connection).
        _fail(run, "consent_expired", exc.user_message, consent_problem=True)
    except NmbrsAuthError as exc:
        if connection.api == NmbrsApi.REST:
            _fail(run, "rest_auth", exc.user_message)
        else:
            _fail(run, "key_rejected", exc.user_message, key_rejected=True)
    except NmbrsUnavailable as exc:
        job = get_current_job()
        if job is not None and job.retries_left:
            _wait_for_retry(run, exc.user_message, job.get_retry_interval())
            raise
        _fail(run, "unavailable", exc.user_message)
    except NmbrsProtocolError as exc:
        _fail(run, "protocol", exc.user_message)
    except NmbrsPermissionError as exc:
        _fail(run, "permission", exc.user_message)
    except SyncProblem as exc:
        _fail(run, exc.code, exc.user_message)
    except NmbrsError as exc:
        _fail(run, f"nmbrs_{exc.code}" if exc.code else "nmbrs", exc.user_message)
    except Exception:
        log.exception("sync run %s failed", run_id)
        _fail(run, "error", str(ERROR_TEXTS["error"]))
        raise
    finally:
        heartbeat.stop()
    return run


class _ProgressWriter:
    """Writes the step and progress to the run row, at most a few times a second."""

    def __init__(self, run: SyncRun, every: float = 0.25) -> None:
        self.run = run
        self.every = every
        self.last = 0.0

    def __call__(self, step: str, done: int, total: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        db.session.execute(
            update(SyncRun)
            .where(SyncRun.id == self.run.id, SyncRun.status == SyncStatus.RUNNING)
            .values(step=step, calls_done=done, calls_total=total, heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def fetch(
    connection: NmbrsConnection,
    progress: Callable[..., None] | None = None,
    *,
    client: PayrollApi | None = None,
    pool_size: int = POOL_SIZE,
) -> Fetched:
    """Read every catalogue of the connection's company from Nmbrs, concurrently.

    Companies, wage types (both wage models), cost centers, cost units, departments (via the
    debtor) and employee types start at once; employees of each type follow their types.
    Raises the client's NmbrsError, or SyncProblem when the company is gone.
    """
    progress = progress or (lambda *a, **k: None)
    own_client = client is None
    client = client or client_for(connection, rate_limited=True, pool_size=pool_size)
    company_id, debtor_id = remote_company_id(connection), remote_debtor_id(connection)
    if company_id is None:
        if own_client:
            client.close()
        raise SyncProblem(
            "company_missing",
            _(
                "Företaget %(name)s har inget id i Nmbrs REST ännu. Anslut igen med "
                "Nmbrs-inloggning.",
                name=connection.company_name or "",
            ),
        )
    results: dict[str, list] = {}
    employees: dict[int | str, object] = {}
    executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="nmbrs-sync")
    try:
        tasks: dict[Future, str] = {}

        def submit(key: str, fn: Callable, *args) -> None:
            tasks[executor.submit(fn, *args)] = key

        # The chain employee types → employees is the longest, so it starts first.
        submit("employee_types", client.employee_types)
        submit("companies", client.companies, debtor_id)
        submit("wage_types", client.wage_types, company_id)
        submit("cost_centers", client.cost_centers, company_id)
        submit("cost_units", client.cost_units, company_id)
        if debtor_id is not None:
            submit("departments", client.departments, debtor_id)
        total, done = len(tasks), 0
        pending = set(tasks)
        outstanding = {k: 1 for k in tasks.values()}
        outstanding["employees"] = 1  # until the types are known
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                key = tasks[future]
                value = future.result()  # raises the call's NmbrsError
                done += 1
                outstanding[key] -= 1
                if key == "employee_types":
                    # SOAP reads employees per type; REST has no types and reads them all
                    # at once (employees(company) without a type gives everyone on both).
                    calls = [(company_id, kind.id) for kind in value] or [(company_id,)]
                    outstanding["employees"] = len(calls)
                    total += len(calls)
                    for args in calls:
                        future_e = executor.submit(client.employees, *args)
                        tasks[future_e] = "employees"
                        pending.add(future_e)
                elif key == "employees":
                    for employee in value:
                        employees.setdefault(employee.id, employee)
                else:
                    results[key] = value
            step = next((k for k in _FETCH_ORDER if outstanding.get(k, 0) > 0), "employees")
            progress(step, done, total)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        if own_client:
            client.close()

    company = next((c for c in results["companies"] if c.id == company_id), None)
    if company is None:
        raise SyncProblem(
            "company_missing",
            _(
                "Företaget %(name)s syns inte längre för API-nyckeln i Nmbrs. Kontrollera "
                "behörigheterna i Nmbrs, eller ersätt mottagaren med pennan.",
                name=connection.company_name or company_id,
            ),
        )
    fetched = Fetched(company_name=company.name, api=connection.api or NmbrsApi.SOAP)
    rest = fetched.api == NmbrsApi.REST
    fetched.items["wage_types"] = [
        (str(w.code) if rest else w.code, str(w.code), w.description or "")
        for w in results["wage_types"]
    ]
    fetched.items["cost_centers"] = [
        (c.id, c.code or "", c.description or "") for c in results["cost_centers"] if c.id
    ]
    fetched.items["cost_units"] = [
        (c.id, c.code or "", c.description or "") for c in results["cost_units"]
    ]
    if "departments" in results:
        fetched.items["departments"] = [
            (d.id, str(d.code), d.description or "") for d in results["departments"]
        ]
    fetched.items["employees"] = [
        (e.id, str(e.number), e.display_name or "") for e in employees.values()
    ]
    progress("saving", done, total)  # apply() writes the step "saving" in its transaction
    return fetched


def apply(run: SyncRun, recipient: ReportRecipient, fetched: Fetched) -> dict:
    """Write what was fetched in ONE transaction and finish the run; returns the counts.

    Raises RunLost (and changes nothing) when the run is no longer this worker's.
    """
    now = utcnow()
    # The first statement is a write: on SQLite it takes the write lock at once, so two
    # workers applying at the same time wait for each other instead of failing.
    claimed = db.session.execute(
        update(SyncRun)
        .where(SyncRun.id == run.id, SyncRun.status == SyncStatus.RUNNING)
        .values(step="saving", heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise RunLost(run.id)
    upsert = _upsert_rest if fetched.api == NmbrsApi.REST else _upsert
    counts = {
        key: upsert(CATALOGS[key], recipient.id, items, now) for key, items in fetched.items.items()
    }
    employee_mapping.rematch(recipient)
    connection = recipient.nmbrs
    if fetched.company_name:
        connection.company_name = fetched.company_name
    if fetched.api == NmbrsApi.REST:
        connection.consent_status = CONSENT_OK  # a sync that got through proves the consent
    else:
        # A sync that got through proves the key works.
        connection.key_status = KeyStatus.OK
        connection.key_checked_at = now
    recipient.last_synced_at = now
    run.status = SyncStatus.SUCCEEDED
    run.step = None
    run.counts = counts
    run.finished_at = now
    run.calls_done = run.calls_total
    db.session.execute(db.delete(SyncAlert).where(SyncAlert.recipient_id == recipient.id))
    db.session.commit()
    log.info("sync run %s succeeded: %s", run.id, counts)
    return counts


def _upsert(model: type, recipient_id: int, items: list[tuple[int, str, str]], now) -> dict:
    existing = db.session.execute(
        select(model.id, model.nmbrs_id, model.code, model.description, model.archived).where(
            model.recipient_id == recipient_id
        )
    ).all()
    by_nmbrs_id = {row.nmbrs_id: row for row in existing}
    inserts, changes, archivals = [], [], []
    seen: set[int] = set()
    for nmbrs_id, code, description in items:
        if nmbrs_id in seen:
            continue
        seen.add(nmbrs_id)
        code, description = code[:50], description[:300]
        row = by_nmbrs_id.get(nmbrs_id)
        if row is None:
            inserts.append(
                {
                    "recipient_id": recipient_id,
                    "nmbrs_id": nmbrs_id,
                    "code": code,
                    "description": description,
                    "archived": False,
                    "updated_at": now,
                }
            )
        elif row.code != code or row.description != description or row.archived:
            # Came back after being archived, or renamed in Nmbrs.
            changes.append(
                {
                    "id": row.id,
                    "code": code,
                    "description": description,
                    "archived": False,
                    "archived_at": None,
                    "updated_at": now,
                }
            )
    for row in existing:
        if row.nmbrs_id not in seen and not row.archived:
            # Gone from Nmbrs: archived, never deleted (settings and history point at it).
            archivals.append(
                {"id": row.id, "archived": True, "archived_at": now, "updated_at": now}
            )
    if inserts:
        db.session.execute(insert(model), inserts)
    if changes:
        db.session.execute(update(model), changes)
    if archivals:
        db.session.execute(update(model), archivals)
    return {
        "added": len(inserts),
        "changed": len(changes),
        "archived": len(archivals),
        "total": len(seen),
    }


# How many unmatched items a run lists per catalogue (the count is always complete).
UNMATCHED_LISTED = 200


def _upsert_rest(model: type, recipient_id: int, items: list[tuple[str, str, str]], now) -> dict:
    """`_upsert` for a recipient on REST: rows are keyed by `rest_id` (a GUID).

    Rows synced over SOAP have no `rest_id` yet: each is matched to the REST item with the same
    code (wage code, cost-center/cost-unit/department code, employee number) and gets its
    `rest_id`, so employee mappings, advanced settings and history stay on the same row. A code
    that is ambiguous on either side is not guessed. SOAP rows left unmatched are archived (never
    deleted) and listed under "unmatched"; REST items left unmatched are added as new rows.
    """
    existing = db.session.execute(
        select(model.id, model.rest_id, model.code, model.description, model.archived).where(
            model.recipient_id == recipient_id
        )
    ).all()
    by_rest_id = {row.rest_id: row for row in existing if row.rest_id}
    unmapped_by_code: dict[str, list] = {}
    for row in existing:
        if not row.rest_id:
            unmapped_by_code.setdefault(row.code, []).append(row)
    fetched_codes: dict[str, int] = {}
    for _rest_id, code, _description in items:
        fetched_codes[code[:50]] = fetched_codes.get(code[:50], 0) + 1
    inserts, changes, archivals, unmatched = [], [], [], []
    seen: set[str] = set()
    used: set[int] = set()
    mapped = 0
    for rest_id, code, description in items:
        rest_id = str(rest_id).lower()
        if rest_id in seen:
            continue
        seen.add(rest_id)
        code, description = code[:50], description[:300]
        row = by_rest_id.get(rest_id)
        newly_mapped = False
        if row is None and fetched_codes.get(code) == 1:
            candidates = [r for r in unmapped_by_code.get(code, ()) if r.id not in used]
            live = [r for r in candidates if not r.archived]
            pick = live or candidates
            if len(pick) == 1:
                row, newly_mapped = pick[0], True
        if row is None:
            inserts.append(
                {
                    "recipient_id": recipient_id,
                    # Wage types are keyed by their code in both APIs.
                    "nmbrs_id": int(code) if model is WageType and code.isdigit() else None,
                    "rest_id": rest_id,
                    "code": code,
                    "description": description,
                    "archived": False,
                    "updated_at": now,
                }
            )
            continue
        used.add(row.id)
        mapped += newly_mapped
        if newly_mapped or row.code != code or row.description != description or row.archived:
            changes.append(
                {
                    "id": row.id,
                    "rest_id": rest_id,
                    "code": code,
                    "description": description,
                    "archived": False,
                    "archived_at": None,
                    "updated_at": now,
                }
            )
    for row in existing:
        if row.id in used or row.archived:
            continue
        if row.rest_id and row.rest_id in seen:
            continue
        archivals.append({"id": row.id, "archived": True, "archived_at": now, "updated_at": now})
        if not row.rest_id:
            # Synced over SOAP and not found over REST: kept (archived) and listed.
            unmatched.append(f"{row.code} {row.description}".strip())
    if inserts:
        db.session.execute(insert(model), inserts)
    if changes:
        db.session.execute(update(model), changes)
    if archivals:
        db.session.execute(update(model), archivals)
    result = {
        "added": len(inserts),
        "changed": len(changes) - mapped,
        "archived": len(archivals),
        "total": len(seen),
        "mapped": mapped,
    }
    if unmatched:
        result["unmatched"] = sorted(unmatched)[:UNMATCHED_LISTED]
        result["unmatched_count"] = len(unmatched)
    return result


def _wait_for_retry(run: SyncRun, message: str, delay: float) -> None:
    db.session.rollback()
    run = db.session.get(SyncRun, run.id)
    if run.status not in ACTIVE_STATUSES:
        return
    run.status = SyncStatus.QUEUED
    run.step = "retry_wait"
    run.error_code = "unavailable"
    run.error_message = message
    run.next_retry_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    log.info("sync run %s: Nmbrs unreachable, retry in %s s", run.id, delay)


def _fail(
    run: SyncRun,
    code: str,
    message: str,
    *,
    key_rejected: bool = False,
    consent_problem: bool = False,
) -> None:
    """Finish a run as failed (no catalogue changed) and tell the admins when it matters."""
    db.session.rollback()
    run = db.session.get(SyncRun, run.id)
    if run.status not in ACTIVE_STATUSES:
        return
    now = utcnow()
    run.status = SyncStatus.FAILED
    run.step = None
    run.error_code = code
    run.error_message = message
    run.next_retry_at = None
    run.finished_at = now
    if key_rejected and run.recipient.nmbrs is not None:
        # Until a new key is saved (the key dialog sets it back to ok); the clock skips it.
        run.recipient.nmbrs.key_status = KeyStatus.REJECTED
        run.recipient.nmbrs.key_checked_at = now
    connection = run.recipient.nmbrs
    # Normally marked already by the token store ("expired" or "revoked"); until the admin
    # connects again (the callback sets it back to ok) the clock skips the recipient.
    if (
        consent_problem
        and connection is not None
        and connection.consent_status not in CONSENT_PROBLEMS
    ):
        connection.consent_status = CONSENT_EXPIRED
    db.session.commit()
    log.info("sync run %s failed: %s", run.id, code)
    notify_admins(run)


# --- dead workers ------------------------------------------------------------------------------


def is_dead(run: SyncRun, now: datetime | None = None) -> bool:
    """Whether a queued or running run will never finish: its worker was killed (SIGKILL,
    out of memory, a PaaS restart) or its job vanished."""
    if run.status not in ACTIVE_STATUSES:
        return False
    cfg = current_app.config
    now = now or utcnow()
    age = now - aware(run.heartbeat_at or run.created_at)
    if run.status == SyncStatus.RUNNING and age > timedelta(seconds=cfg["SYNC_DEAD_AFTER_SECONDS"]):
        return True  # no heartbeat for many beats: the whole worker is gone
    # Give the job a few beats to appear or to write its first heartbeat.
    if age < timedelta(seconds=max(3 * cfg["SYNC_HEARTBEAT_SECONDS"], 5)):
        return False
    status = background.job_status(run.job_id)
    return status == "missing" or status in background.JOB_GONE


def reap_dead(recipient_id: int | None = None) -> int:
    """Mark runs whose worker died as failed, so they stop blocking the next sync.

    Their changes were never committed (apply is one transaction), so nothing is half-applied.
    Called when progress is read, before a new sync starts and by the clock's hourly check.
    """
    stmt = select(SyncRun).where(SyncRun.status.in_(ACTIVE_STATUSES))
    if recipient_id is not None:
        stmt = stmt.where(SyncRun.recipient_id == recipient_id)
    reaped = 0
    now = utcnow()
    for run in db.session.scalars(stmt).all():
        if _requeued_if_lost(run, now):
            continue
        if is_dead(run, now):
            code = "interrupted" if run.status == SyncStatus.RUNNING else "not_started"
            log.warning("sync run %s (%s) is dead; marking it failed", run.id, run.status)
            run.status = SyncStatus.FAILED
            run.step = None
            run.error_code = code
            run.error_message = str(ERROR_TEXTS[code])
            run.finished_at = now
            reaped += 1
    if reaped:
        db.session.commit()
    return reaped


def _requeued_if_lost(run: SyncRun, now: datetime) -> bool:
    """A queued run whose job Redis lost (restarted without persistence, or down when the run
    was created) is enqueued again rather than failed: the database is the source of truth."""
    if run.status != SyncStatus.QUEUED:
        return False
    grace = timedelta(seconds=max(3 * current_app.config["SYNC_HEARTBEAT_SECONDS"], 5))
    if now - aware(run.heartbeat_at or run.created_at) < grace:
        return False
    if background.job_status(run.job_id) != "missing" or not run.job_id:
        return False
    try:
        _enqueue(run)
    except RedisError:
        return True  # still no Redis: keep it queued for the next look
    log.warning("sync run %s had lost its job; enqueued it again", run.id)
    return True


# --- what the admin reads and hears ------------------------------------------------------------


def error_text(run: SyncRun) -> str:
    """The failure in the admin's language: known codes translated, others as Nmbrs put it."""
    if run.error_code in ERROR_TEXTS and run.error_code != "error":
        return str(ERROR_TEXTS[run.error_code])
    return run.error_message or str(ERROR_TEXTS["error"])


_NEEDS_ADMIN_CODES = ("key_rejected", "consent_expired")


def next_automatic_try(run: SyncRun) -> datetime | None:
    """When Brygga tries again by itself: the pending retry, else the next nightly sync."""
    if run.next_retry_at is not None and run.status == SyncStatus.QUEUED:
        return aware(run.next_retry_at)
    if run.status == SyncStatus.FAILED and run.error_code not in _NEEDS_ADMIN_CODES:
        return nightly.next_nightly(aware(run.finished_at or utcnow()))
    return None


def _fingerprint(run: SyncRun) -> str | None:
    """Which problem a failed run is, for "one e-mail per problem"; None: no e-mail."""
    connection = run.recipient.nmbrs
    if run.error_code == "key_rejected" and connection is not None:
        # A new key saved in the dialog is a new problem if Nmbrs rejects it too.
        changed = aware(connection.key_changed_at).isoformat() if connection.key_changed_at else ""
        return f"key_rejected:{changed}"
    if run.error_code == "consent_expired" and connection is not None:
        # A new consent is a new problem if it stops working too.
        until = connection.consent_expires_at
        return f"consent_expired:{aware(until).isoformat() if until else ''}"
    if run.trigger == SyncTrigger.NIGHTLY:
        return f"failed:{run.error_code}"
    return None


def notify_admins(run: SyncRun) -> bool:
    """E-mail the organization's admins about a failed nightly sync or a rejected key — once
    per problem: not again until the problem changes or a sync succeeds."""
    fingerprint = _fingerprint(run)
    if fingerprint is None:
        return False
    recipient = run.recipient
    alert = db.session.scalar(select(SyncAlert).where(SyncAlert.recipient_id == recipient.id))
    if alert is not None and alert.fingerprint == fingerprint:
        return False
    admins = db.session.scalars(
        select(User.email).where(
            User.organization_id == recipient.organization_id, User.role == Role.ADMIN
        )
    ).all()
    subject, body = _mail_text(run)
    if not mail.send(list(admins), subject, body):
        return False  # not recorded: the next failure tries again
    if alert is None:
        db.session.add(SyncAlert(recipient_id=recipient.id, fingerprint=fingerprint))
    else:
        alert.fingerprint = fingerprint
        alert.notified_at = utcnow()
    db.session.commit()
    return True


def _mail_text(run: SyncRun) -> tuple[str, str]:
    recipient = run.recipient
    link = current_app.config["PUBLIC_URL"].rstrip("/") + f"/settings/recipients/{recipient.id}"
    if run.error_code == "consent_expired":
        subject = _(
            "Brygga: anslutningen till Nmbrs har gått ut för %(name)s", name=recipient.display_name
        )
        what = _(
            "Godkännandet som ger Brygga tillgång till Nmbrs för %(name)s har gått ut eller "
            "återkallats, så Brygga kan inte hämta lönearter och anställda eller skicka godkända "
            "utlägg till lön.",
            name=recipient.display_name,
        )
        todo = _(
            "Gör så här: öppna mottagaren i Brygga och klicka på Anslut igen med "
            "Nmbrs-inloggning. Inställningar och kopplingar finns kvar."
        )
    elif run.error_code == "key_rejected":
        subject = _("Brygga: Nmbrs nekade API-nyckeln för %(name)s", name=recipient.display_name)
        what = _(
            "Nmbrs nekade Bryggas API-nyckel för %(name)s, så Brygga kan inte hämta lönearter "
            "och anställda eller skicka godkända utlägg till lön.",
            name=recipient.display_name,
        )
        todo = _(
            "Gör så här: skapa en ny API-nyckel i Nmbrs (Användarprofil → API-token) och ange "
            "den i Brygga under Inställningar → %(name)s → Byt API-nyckel.",
            name=recipient.display_name,
        )
    else:
        subject = _(
            "Brygga: nattens synk med Nmbrs misslyckades för %(name)s", name=recipient.display_name
        )
        what = _(
            "Nattens hämtning av data från Nmbrs för %(name)s misslyckades: %(reason)s",
            name=recipient.display_name,
            reason=error_text(run),
        )
        todo = _(
            "Ingenting ändrades i Brygga. Brygga försöker igen nästa natt; du kan också "
            "klicka på Hämta senaste data från Nmbrs när Nmbrs fungerar igen."
        )
    body = "\n\n".join(
        [
            what,
            todo,
            _("Öppna mottagaren i Brygga: %(link)s", link=link),
            _("Du får det här meddelandet en gång per problem."),
        ]
    )
    return subject, body + "\n"


# --- the clock ---------------------------------------------------------------------------------

CLOCK_STATE_KEY = "clock:nightly-state"
NIGHTLY_FUNCTION = "jobs.sync.nightly"


def schedule_inputs() -> list[nightly.RecipientState]:
    """Every active Nmbrs recipient, as the nightly schedule sees it."""
    from sqlalchemy import func

    from webapp.models import RecipientStatus

    last_attempt = (
        select(SyncRun.recipient_id, func.max(SyncRun.created_at).label("at"))
        .group_by(SyncRun.recipient_id)
        .subquery()
    )
    active = select(SyncRun.recipient_id).where(SyncRun.status.in_(ACTIVE_STATUSES))
    rows = db.session.execute(
        select(
            ReportRecipient.id,
            ReportRecipient.created_at,
            ReportRecipient.last_synced_at,
            NmbrsConnection.key_status,
            NmbrsConnection.api,
            NmbrsConnection.consent_status,
            last_attempt.c.at,
            ReportRecipient.id.in_(active).label("busy"),
        )
        .join(NmbrsConnection, NmbrsConnection.recipient_id == ReportRecipient.id)
        .outerjoin(last_attempt, last_attempt.c.recipient_id == ReportRecipient.id)
        .where(
            ReportRecipient.kind == RecipientKind.NMBRS,
            ReportRecipient.status == RecipientStatus.ACTIVE,
        )
        .order_by(ReportRecipient.id)
    ).all()
    return [
        nightly.RecipientState(
            id=r.id,
            key_rejected=_blocked(r.api, r.key_status, r.consent_status),
            created_at=aware(r.created_at),
            last_synced_at=aware(r.last_synced_at) if r.last_synced_at else None,
            last_attempt_at=aware(r.at) if r.at else None,
            has_active_run=bool(r.busy),
        )
        for r in rows
    ]


def _blocked(api, key_status, consent_status) -> bool:
    if api == NmbrsApi.REST:
        return consent_status in CONSENT_PROBLEMS
    return key_status == KeyStatus.REJECTED


def needs_admin(connection: NmbrsConnection) -> bool:
    """Whether only an admin can make the connection work again (a rejected API key, or an
    expired or revoked consent): the clock skips it until then."""
    return _blocked(connection.api, connection.key_status, connection.consent_status)


def record_consent_problem(recipient: ReportRecipient, message: str) -> SyncRun:
    """A consent found dead outside a sync (the keep-alive): a failed run in the history, and
    the admins' once-per-problem e-mail."""
    run = SyncRun(
        recipient_id=recipient.id,
        trigger=SyncTrigger.NIGHTLY,
        status=SyncStatus.FAILED,
        error_code="consent_expired",
        error_message=message,
        finished_at=utcnow(),
    )
    db.session.add(run)
    db.session.commit()
    notify_admins(run)
    return run


KEEPALIVE_FUNCTION = "jobs.sync.keep_alive"


def keepalive_inputs() -> list[tuple[int, datetime | None]]:
    """(connection id, consent expiry) of every working REST connection of active recipients."""
    from webapp.models import RecipientStatus

    rows = db.session.execute(
        select(NmbrsConnection.id, NmbrsConnection.consent_expires_at)
        .join(ReportRecipient, NmbrsConnection.recipient_id == ReportRecipient.id)
        .where(
            ReportRecipient.status == RecipientStatus.ACTIVE,
            NmbrsConnection.api == NmbrsApi.REST,
            NmbrsConnection.consent_status == CONSENT_OK,
        )
    ).all()
    return [(r.id, aware(r.consent_expires_at) if r.consent_expires_at else None) for r in rows]


def schedule_keepalives(now: datetime) -> list[int]:
    """Enqueue a token refresh for every REST connection whose refresh token is getting old
    (nightly.keepalive_due): Nmbrs' refresh tokens die after ~30 idle days."""
    queue = get_queue()
    due = [cid for cid, until in keepalive_inputs() if nightly.keepalive_due(until, now)]
    for connection_id in due:
        try:
            queue.enqueue(
                KEEPALIVE_FUNCTION,
                connection_id,
                job_id=f"keepalive-{connection_id}-{now.strftime('%Y%m%d')}",
                unique=True,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
                retry=_retry(),
            )
        except DuplicateJobError:
            continue
    if due:
        log.info("clock: %d Nmbrs token keep-alives scheduled", len(due))
    return due


def clock_tick(now: datetime | None = None) -> list[nightly.Planned]:
    """One tick of the clock process: schedule the nightly syncs (spread with RQ's
    `enqueue_in`) and hourly catch-ups, and reap dead runs. Safe to call often."""
    import json

    now = now or utcnow()
    redis = redis_connection()
    raw = redis.get(CLOCK_STATE_KEY)
    state = nightly.ClockState()
    if raw:
        data = json.loads(raw)
        hourly = data.get("last_hourly_at")
        state = nightly.ClockState(
            data.get("last_nightly_date"), datetime.fromisoformat(hourly) if hourly else None
        )
    planned, new_state, hourly_due = nightly.plan(
        now, state, schedule_inputs(), current_app.config["SYNC_NIGHTLY_SPREAD_SECONDS"]
    )
    queue = get_queue()
    stamp = now.strftime("%Y%m%d%H")
    for item in planned:
        job_id = f"{item.reason}-{item.recipient_id}-{stamp}"
        kwargs = {
            "job_id": job_id,
            "unique": True,
            "job_timeout": current_app.config["SYNC_JOB_TIMEOUT"],
            "retry": _retry(),
            "result_ttl": 3600,
            "failure_ttl": 7 * 24 * 3600,
        }
        try:
            if item.delay_seconds > 0:
                queue.enqueue_in(
                    timedelta(seconds=item.delay_seconds),
                    NIGHTLY_FUNCTION,
                    item.recipient_id,
                    **kwargs,
                )
            else:
                queue.enqueue(NIGHTLY_FUNCTION, item.recipient_id, **kwargs)
        except DuplicateJobError:
            continue  # already scheduled by an earlier tick
    reap_dead()  # every tick: cheap, and queued runs whose job Redis lost start again soon
    if hourly_due:
        schedule_keepalives(now)
    redis.set(
        CLOCK_STATE_KEY,
        json.dumps(
            {
                "last_nightly_date": new_state.last_nightly_date,
                "last_hourly_at": new_state.last_hourly_at.isoformat()
                if new_state.last_hourly_at
                else None,
            }
        ),
    )
    if planned:
        log.info("clock: %d syncs scheduled (%s)", len(planned), planned[0].reason)
    return planned


# --- what the recipient view shows -------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """A run as the status area and the history show it."""

    run: SyncRun
    step_label: str
    done: int
    total: int
    error: str | None
    next_try: datetime | None
    duration: float | None
    rows: list[tuple[str, dict]]  # (catalogue title, counts) for a finished run
    totals: dict  # added/changed/archived summed over the catalogues
    waiting: str | None = None  # why a queued run has not started (no worker, no queue)


def describe(run: SyncRun) -> RunView:
    counts = run.counts or {}
    rows = [(str(CATALOG_TITLES[k]), counts[k]) for k in CATALOGS if k in counts]
    totals = {key: sum(c.get(key, 0) for _, c in rows) for key in ("added", "changed", "archived")}
    # One more unit of work than the calls: saving. Before the first call the bar is empty.
    total = (run.calls_total or 0) + 1
    done = total if run.status == SyncStatus.SUCCEEDED else min(run.calls_done or 0, total - 1)
    show_error = run.status == SyncStatus.FAILED or (
        run.status == SyncStatus.QUEUED and run.error_code
    )
    return RunView(
        run=run,
        step_label=str(STEP_LABELS.get(run.step or "waiting", STEP_LABELS["waiting"])),
        done=done,
        total=total,
        error=error_text(run) if show_error else None,
        next_try=next_automatic_try(run),
        duration=run.duration_seconds,
        rows=rows,
        totals=totals,
        waiting=waiting_problem(run),
    )


NO_WORKER_NOTICE_SECONDS = 5  # a worker normally picks a job up well within this


def waiting_problem(run: SyncRun) -> str | None:
    """For a run queued (not waiting for a retry) longer than a few seconds: that no worker is
    running or that the queue does not answer, so the admin is not left watching a spinner."""
    if run.status != SyncStatus.QUEUED or run.next_retry_at is not None:
        return None
    try:
        if Worker.count(connection=redis_connection(), queue=get_queue()):
            return None
    except RedisError:
        return _(
            "Kön för bakgrundsjobb svarar inte just nu. Synken startar av sig själv när "
            "kön är tillbaka; ingenting går förlorat."
        )
    notice = current_app.config.get("SYNC_NO_WORKER_NOTICE_SECONDS", NO_WORKER_NOTICE_SECONDS)
    if utcnow() - aware(run.created_at) < timedelta(seconds=notice):
        return None
    return _(
        "Ingen arbetsprocess är igång just nu, så synken har inte startat. Den startar av sig "
        "själv så snart en arbetsprocess är igång."
    )


def view_context(recipient: ReportRecipient) -> dict:
    """What the recipient view needs for the sync area: the latest run and the history."""
    runs = history(recipient.id)
    return {
        "sync_view": describe(runs[0]) if runs else None,
        "sync_history": [describe(r) for r in runs],
    }


def progress(recipient: ReportRecipient, run_id: int) -> SyncRun | None:
    """The run for the progress fragment (None when it is not this recipient's). Reading
    progress is also when a run whose worker died is noticed and marked failed."""
    run = db.session.get(SyncRun, run_id)
    if run is None or run.recipient_id != recipient.id:
        return None
    if run.is_active and reap_dead(recipient.id):
        db.session.refresh(run)
    return run
