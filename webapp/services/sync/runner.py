"""Running a sync: one run per recipient at a time, asked for by a click or by the clock, run
by an RQ job (`jobs.sync.run`) that fetches everything from the recipient's kind first and
then applies it in one transaction (`catalogue.apply`). A failure anywhere changes no
catalogue. The run lifecycle (enqueue, dead workers, requeue) is `webapp.services.runs`,
shared with the transfer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from flask_babel import gettext as _
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus, get_current_job
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import joinedload

from webapp import tenancy
from webapp.extensions import db
from webapp.models import (
    Organization,
    RecipientStatus,
    ReportRecipient,
    Role,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    User,
    UserSession,
)
from webapp.models.base import QuickSelect, table_of, utcnow
from webapp.models.sync import ACTIVE_STATUSES
from webapp.queue import get_queue, redis_connection
from webapp.recipients import kind_of
from webapp.services import runs, sessions
from webapp.services.sync.alerts import notify_admins
from webapp.services.sync.catalogue import RunLost, apply
from webapp.services.sync.texts import ERROR_TEXTS, QUEUE_DOWN, describe

log = logging.getLogger(__name__)

JOB_FUNCTION = "jobs.sync.run"


def job_prefix(recipient_id: int) -> str:
    return f"sync-recipient-{recipient_id}"


@dataclass
class SyncFailure:
    """What a kind says a failure of its fetch means: the code and text the run keeps, whether
    the job's retry may help, and what to mark on the connection (in the same commit)."""

    code: str
    message: str
    retryable: bool = False
    mark: Callable[[datetime], None] | None = None


# --- asking for a sync -------------------------------------------------------------------------


def active_run(recipient_id: int) -> SyncRun | None:
    found = runs.newest(
        SyncRun, SyncRun.recipient_id == recipient_id, SyncRun.status.in_(ACTIVE_STATUSES)
    )
    return found[0] if found else None


def latest_run(recipient_id: int) -> SyncRun | None:
    found = runs.newest(SyncRun, SyncRun.recipient_id == recipient_id)
    return found[0] if found else None


# The recipient view's last syncs, with who asked for each (built once; see `history`).
_HISTORY = (
    select(SyncRun)
    .where(SyncRun.recipient_id == bindparam("recipient_id"))
    .options(joinedload(SyncRun.requested_by).load_only(User.name))  # the history shows it
    .order_by(SyncRun.id.desc())
    .limit(10)
)


def history(recipient: ReportRecipient) -> list[SyncRun]:
    """The last syncs of a recipient, newest first (with who asked, in the same query). The
    recipient was loaded in its organization's scope, and its runs are its own: the tenant
    guard's criteria (an EXISTS on the recipient per run, and their cache key worked out anew
    on every view) would only say that again."""
    with tenancy.all_organizations():
        return list(db.session.scalars(_HISTORY, {"recipient_id": recipient.id}))


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
        raise runs.QueueUnavailable(QUEUE_DOWN) from exc
    if created:
        try:
            _enqueue(run)
        except RedisError:
            # The run stays queued; reap_dead() enqueues it again once Redis is back.
            log.warning("could not enqueue sync run %s: redis unavailable", run.id)
    return run


def start_or_join(
    recipient: ReportRecipient,
    *,
    trigger: SyncTrigger,
    user: User | None = None,
    job_id: str | None = None,
) -> tuple[SyncRun, bool]:
    """The recipient's queued or running run, or a new queued one (then `True`) that the job
    `job_id` (default: a new one, enqueued by the caller) is to run. Commits."""
    if not kind_of(recipient).has_catalogues:
        raise ValueError("only recipients with catalogues are synced")
    # The lock makes "is one running? if not, start one" atomic across web processes, the
    # clock and workers.
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
            job_id=job_id or runs.new_job_id(job_prefix(recipient.id)),
        )
        db.session.add(run)
        db.session.commit()
        return run, True


def run_nightly(recipient: ReportRecipient, *, in_batch: bool = False) -> SyncRun:
    """The clock's nightly job for one recipient: join a sync already under way, or run one
    right here in this job (no second job to queue: a fan-out of hundreds of recipients
    pays for one job each). RQ retries this job when the payroll system is unreachable.

    `in_batch`: the job runs several recipients' syncs at once (`jobs.sync.nightly` with
    many ids); a retry is then a job of this run's own, so that one unreachable account
    never runs the others' syncs again."""
    job = get_current_job()
    job_id = job.id if job is not None else None
    run, created = start_or_join(recipient, trigger=SyncTrigger.NIGHTLY, job_id=job_id)
    if created or (job_id is not None and run.job_id == job_id):
        # Ours: new, or this job's own run waiting for its retry.
        execute(run.id, in_batch=in_batch)
    return run


def retry_policy():
    """Retries with backoff for a sync job, for when the payroll system is unreachable."""
    return runs.retry_policy(current_app.config["SYNC_RETRY_INTERVALS"])


def _enqueue(run: SyncRun) -> None:
    if not run.job_id:
        run.job_id = runs.new_job_id(job_prefix(run.recipient_id))
        db.session.commit()
    runs.enqueue(
        JOB_FUNCTION,
        run.id,
        job_id=run.job_id,
        timeout=current_app.config["SYNC_JOB_TIMEOUT"],
        retry=retry_policy(),
        description=f"sync recipient {run.recipient_id} (run {run.id})",
    )


def _bring_forward(run: SyncRun) -> None:
    """An admin clicked while the run waits for a retry: try now instead of in a while."""
    if run.status != SyncStatus.QUEUED or run.next_retry_at is None or not run.job_id:
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


def execute(run_id: int, *, in_batch: bool = False) -> SyncRun | None:
    """Run a queued sync (the RQ job's body). Returns the run, or None for a stale job.

    Transient failures (the payroll system unreachable) re-raise while RQ has retries left,
    after putting the run back to "queued" with the time of the next try. `in_batch`: the
    job runs other syncs too, so the retry is a job of the run's own instead (and nothing
    is raised).
    """
    run = db.session.get(SyncRun, run_id)
    if run is None or run.status not in ACTIVE_STATUSES:
        log.info("sync run %s is not waiting to run; nothing to do", run_id)
        return None
    recipient = run.recipient
    kind = kind_of(recipient)
    source = kind.catalogues(recipient) if recipient.is_active else None
    if source is None:
        _fail(run, SyncFailure("error", _("Mottagaren är inte längre aktiv.")))
        return run
    now = utcnow()
    run.status = SyncStatus.RUNNING
    run.started_at = run.heartbeat_at = now
    run.attempts = (run.attempts or 0) + 1
    run.step = "companies"
    run.calls_done, run.calls_total = 0, source.calls
    run.error_code = run.error_message = run.next_retry_at = None
    db.session.commit()
    log.info("sync run %s of recipient %s started (%s)", run.id, recipient.id, run.trigger)

    with runs.heartbeat(SyncRun, run.id, ["running"]):
        try:
            fetched = source.fetch(_ProgressWriter(run))
            apply(run, recipient, fetched)
        except RunLost:
            db.session.rollback()
            log.warning("sync run %s was taken over; its changes were not saved", run_id)
            return run
        except Exception as exc:
            failure = source.failure(exc)
            if failure is None:
                log.exception("sync run %s failed", run_id)
                _fail(run, SyncFailure("error", str(ERROR_TEXTS["error"])))
                raise
            if failure.retryable and in_batch:
                if _retry_on_its_own(run, failure.message):
                    return run
            elif failure.retryable:
                job = get_current_job()
                if job is not None and job.retries_left:
                    _wait_for_retry(run, failure.message, job.get_retry_interval())
                    raise
            _fail(run, failure)
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


def _wait_for_retry(
    run: SyncRun, message: str, delay: float, job_id: str | None = None
) -> SyncRun | None:
    """Back to queued until the next try in `delay` s (by the job `job_id`, if a new one)."""
    db.session.rollback()
    found = db.session.get(SyncRun, run.id)
    if found is None or found.status not in ACTIVE_STATUSES:
        return None
    found.end_attempt(utcnow(), ok=False)
    runs.park_for_retry(found, message)
    found.next_retry_at = utcnow() + timedelta(seconds=delay)
    if job_id is not None:
        found.job_id = job_id
    db.session.commit()
    log.info("sync run %s: unreachable, retry in %s s", found.id, delay)
    return found


def _retry_on_its_own(run: SyncRun, message: str) -> bool:
    """A run of a batch whose payroll system was unreachable: its retries become a job of its
    own (RQ's scheduled registry, as a retry is), the batch's other syncs go on. False when
    no retries are configured (the run fails)."""
    intervals = list(current_app.config["SYNC_RETRY_INTERVALS"])
    if not intervals:
        return False
    job_id = runs.new_job_id(job_prefix(run.recipient_id))
    found = _wait_for_retry(run, message, intervals[0], job_id)
    if found is None:
        return True  # taken over meanwhile: not ours to retry
    try:
        get_queue().enqueue_in(
            timedelta(seconds=intervals[0]),
            JOB_FUNCTION,
            found.id,
            job_id=job_id,
            job_timeout=current_app.config["SYNC_JOB_TIMEOUT"],
            retry=runs.retry_policy(intervals[1:]),
            result_ttl=600,
            failure_ttl=7 * 24 * 3600,
            description=f"sync recipient {found.recipient_id} (run {found.id})",
        )
    except RedisError:
        # The run stays queued; reap_dead() enqueues it again once Redis is back.
        log.warning("could not schedule the retry of sync run %s: redis unavailable", found.id)
    return True


def _fail(run: SyncRun, failure: SyncFailure) -> None:
    """Finish a run as failed (no catalogue changed) and tell the admins when it matters."""
    db.session.rollback()
    found = db.session.get(SyncRun, run.id)
    if found is None or found.status not in ACTIVE_STATUSES:
        return
    now = utcnow()
    if found.status == SyncStatus.RUNNING:
        found.end_attempt(now, ok=False)
    found.status = SyncStatus.FAILED
    found.step = None
    found.error_code = failure.code
    found.error_message = failure.message
    found.next_retry_at = None
    found.finished_at = now
    if failure.mark is not None:
        failure.mark(now)
    db.session.commit()
    log.info("sync run %s failed: %s", found.id, failure.code)
    notify_admins(found)


# --- dead workers ------------------------------------------------------------------------------


def is_dead(run: SyncRun, now: datetime | None = None) -> bool:
    """Whether a queued or running run will never finish: its worker was killed (SIGKILL,
    out of memory, a PaaS restart) or its job vanished."""
    if run.status not in ACTIVE_STATUSES:
        return False
    return runs.is_dead(run, queued=run.status != SyncStatus.RUNNING, now=now)


def reap_dead(recipient_id: int | None = None) -> int:
    """Mark runs whose worker died as failed, so they stop blocking the next sync; enqueue
    again queued ones whose job Redis lost.

    Their changes were never committed (apply is one transaction), so nothing is half-applied.
    Called when progress is read, before a new sync starts and by the clock's every tick.
    """
    return LIFECYCLE.reap(recipient_id)


def _bury(run: SyncRun, now: datetime) -> bool:
    code = "interrupted" if run.status == SyncStatus.RUNNING else "not_started"
    log.warning("sync run %s (%s) is dead; marking it failed", run.id, run.status)
    if run.status == SyncStatus.RUNNING:
        run.end_attempt(run.heartbeat_at or now, ok=False)  # it died after its last beat
    run.status = SyncStatus.FAILED
    run.step = None
    run.error_code = code
    run.error_message = str(ERROR_TEXTS[code])
    run.finished_at = now
    return True


LIFECYCLE: runs.Lifecycle[SyncRun] = runs.Lifecycle(
    SyncRun, ACTIVE_STATUSES, _enqueue, is_dead, _bury
)


def progress(recipient: ReportRecipient, run_id: int) -> SyncRun | None:
    """The run for the progress fragment (None when it is not this recipient's). Reading
    progress is also when a run whose worker died is noticed and marked failed."""
    run = db.session.get(SyncRun, run_id)
    if run is None or run.recipient_id != recipient.id:
        return None
    return _reaped(run)


def settled(run: SyncRun) -> bool:
    """Whether the run's progress can be shown as it is: a finished run, or a running one with
    a fresh heartbeat (the usual case for every open tab's poll). Any other active run is first
    reaped if dead (and requeued if its job was lost)."""
    return not run.is_active or (run.status == SyncStatus.RUNNING and not is_dead(run))


def _reaped(run: SyncRun) -> SyncRun:
    if not settled(run) and reap_dead(run.recipient_id):
        db.session.refresh(run)
    return run


def progress_of(
    organization_id: int, recipient_id: int, run_id: int
) -> tuple[ReportRecipient, SyncRun] | None:
    """The organization's active recipient and its run, for the progress fragment, in one
    query (the fragment is polled every second by every open tab). None when either is not
    theirs."""
    found = db.session.execute(
        select(ReportRecipient, SyncRun)
        .join(SyncRun, SyncRun.recipient_id == ReportRecipient.id)
        .where(
            ReportRecipient.id == recipient_id,
            ReportRecipient.organization_id == organization_id,
            ReportRecipient.status == RecipientStatus.ACTIVE,
            SyncRun.id == run_id,
        )
    ).first()
    if found is None:
        return None
    recipient, run = found
    return recipient, _reaped(run)


class PollRun(NamedTuple):
    """What a progress poll reads of its run: what the running fragment shows, and what says
    whether its worker still beats (`runs.is_dead`)."""

    id: int
    status: SyncStatus
    step: str | None
    calls_done: int
    calls_total: int
    heartbeat_at: datetime | None
    created_at: datetime
    job_id: str | None
    error_code: str | None
    next_retry_at: datetime | None


class PollSession(NamedTuple):
    """What a progress poll reads of its session, its user and organization: what the user
    loader would judge (`sessions.standing`) and write (`sessions.touch`), the role and the
    second factor."""

    id: int
    ended_at: datetime | None
    created_at: datetime
    last_seen_at: datetime
    session_version: int
    role: Role
    mfa_required: bool
    totp_enabled_at: datetime | None


def _polled_statement() -> Select:
    s, u, o = table_of(UserSession), table_of(User), table_of(Organization)
    r, run = table_of(ReportRecipient), table_of(SyncRun)
    columns = [
        *(s.c[name] for name in ("id", "ended_at", "created_at", "last_seen_at")),
        u.c.session_version,
        u.c.role,
        o.c.mfa_required,
        u.c.totp_enabled_at,
        *(run.c[name] for name in PollRun._fields),
    ]
    return (
        select(*columns)
        .join_from(s, u, u.c.id == s.c.user_id)
        .join(o, o.c.id == u.c.organization_id)
        .join(r, r.c.organization_id == u.c.organization_id)
        .join(run, run.c.recipient_id == r.c.id)
        .where(
            sessions.OF_COOKIE,
            r.c.id == bindparam("recipient_id"),
            r.c.status == RecipientStatus.ACTIVE,
            run.c.id == bindparam("run_id"),
        )
    )


# A progress poll's session (its user and organization with it), the recipient of the user's
# organization and its run: one statement, compiled once (as `sessions.OF_COOKIE` says why),
# on primary keys and the session token's unique index, of plain columns, run at driver level
# (every open tab asks it once a second; loading five ORM objects took most of such a request,
# and SQLAlchemy's execution of the Core statement more than its round trip).
_POLLED = QuickSelect(_polled_statement())
_SPLIT = len(PollSession._fields)


def polled(
    user_id: int, token: str, recipient_id: int, run_id: int
) -> tuple[PollSession, PollRun] | None:
    """A progress poll's session and run, read in one statement outside a transaction: what the
    user loader and `progress_of` would read. None when the session, the recipient (active, of
    the session user's organization) or its run is not there. The caller judges the session
    (`sessions.standing`) and the run; the statement states the organization itself (a Core
    statement, which the tenant guard does not see)."""
    params = sessions.cookie_params(user_id, token) | {
        "recipient_id": recipient_id,
        "run_id": run_id,
    }
    row = _POLLED.first(db.engine, params)
    if row is None:
        return None
    return PollSession(*row[:_SPLIT]), PollRun(*row[_SPLIT:])


def beating(run: PollRun) -> bool:
    """Whether a polled run is running with a worker that beats (the usual case for every open
    tab's poll): its progress can be shown as it is, nothing is to be reaped."""
    return run.status == SyncStatus.RUNNING and not runs.is_dead(run, queued=False)


def queued_afresh(run: PollRun, now: datetime) -> bool:
    """Whether a polled run is queued as every new run is for a moment, before a worker takes
    it: no error to tell of, no retry awaited, and too young for the reaper to judge it dead or
    its job lost (`runs.is_dead`, `runs.lost`), so the view would only show it."""
    return (
        run.status == SyncStatus.QUEUED
        and run.error_code is None
        and run.next_retry_at is None
        and runs.too_young_to_judge(run, now)
    )


def view_context(recipient: ReportRecipient) -> dict:
    """What the recipient view needs for the sync area: the latest run and the history."""
    views = [describe(r) for r in history(recipient)]
    return {"sync_view": views[0] if views else None, "sync_history": views}
