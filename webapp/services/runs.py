"""The one run lifecycle that the sync and the transfer share: a row in the database (the truth
the UI reads) plus an RQ job that works on it.

- `enqueue` starts a row's job. A click after a worker crash must start a fresh run or join a
  live one, never fail: each attempt gets a job id of its own (`new_job_id`), and whatever RQ
  still holds under an id (a job of a SIGKILLed worker whose execution records Redis has
  already expired) is cleared without asking RQ to tidy it (that raised "Execution … not found
  in Redis" and left the run queued for ever).
- `Heartbeat` proves a worker is alive; `is_dead` tells a dead run from a slow one by that
  heartbeat and by the RQ job's status; a queued run whose job Redis lost is `lost` and is
  enqueued again (the database is the source of truth).
- `QueueUnavailable`: Redis does not answer, so nothing was started.
- `worker_problem`: why a queued run has not started (no worker, no queue), for the pages.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.worker import Worker
from sqlalchemy import Table, select, update
from sqlalchemy.engine import Engine

from webapp.extensions import db
from webapp.models.base import rowcount, table_of, utcnow
from webapp.models.sync import aware
from webapp.queue import get_queue, redis_connection

log = logging.getLogger(__name__)

R = TypeVar("R", bound="Run")

# Job states after which the job's worker no longer works on the run.
JOB_GONE = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED, JobStatus.FINISHED}
# A worker normally picks a job up well within this.
NO_WORKER_NOTICE_SECONDS = 5


class QueueUnavailable(Exception):
    """Redis (the job queue) does not answer, so no background work could be started;
    `user_message` says what was not started (the sync's and the transfer's own words)."""

    def __init__(self, message: object) -> None:
        self.user_message = str(message)
        super().__init__(self.user_message)


def new_job_id(prefix: str) -> str:
    """A job id for one attempt at a run: `prefix` names the run, the suffix the attempt, so a
    new attempt never collides with what RQ keeps of an earlier (crashed) one."""
    return f"{prefix}-{secrets.token_hex(4)}"


def retry_policy(intervals: Iterable[int]) -> Retry | None:
    """RQ's retries with backoff, for when the remote system is unreachable."""
    values = list(intervals)
    return Retry(max=len(values), interval=values) if values else None


def enqueue(
    function: str,
    row_id: int,
    *,
    job_id: str,
    timeout: int,
    retry: Retry | None,
    description: str,
) -> None:
    """Put the job for one run on the queue (raises RedisError when Redis is down).

    The caller has committed the run as queued before this, and the database says nothing
    runs it: any job RQ still holds under `job_id` is a finished, failed or abandoned one and
    is replaced."""
    kwargs: dict[str, Any] = {
        "job_id": job_id,
        "unique": True,
        "job_timeout": timeout,
        "result_ttl": 600,
        "failure_ttl": 7 * 24 * 3600,
        "retry": retry,
        "description": description,
    }
    queue = get_queue()
    try:
        queue.enqueue(function, row_id, **kwargs)
    except DuplicateJobError:
        _clear_job(job_id)
        queue.enqueue(function, row_id, **kwargs)


def _clear_job(job_id: str) -> None:
    """Remove what RQ keeps of a job, also when RQ's own tidying fails on it (the execution
    records of a killed worker expire before the job does)."""
    connection = redis_connection()
    try:
        Job.fetch(job_id, connection=connection).delete()
        return
    except NoSuchJobError:
        return
    except (ValueError, KeyError, AttributeError) as exc:
        log.warning("job %s could not be deleted by RQ (%s); clearing it", job_id, exc)
    # RQ's keys for the job: the hash, its results and dependents, and its place in the
    # queue and in every registry; the queue's unique-id guard looks at the hash only.
    queue = get_queue()
    pipe = connection.pipeline()
    pipe.delete(f"rq:job:{job_id}", f"rq:job:{job_id}:dependents", f"rq:results:{job_id}")
    pipe.lrem(queue.key, 0, job_id)
    for registry in (
        queue.started_job_registry,
        queue.failed_job_registry,
        queue.finished_job_registry,
        queue.scheduled_job_registry,
        queue.deferred_job_registry,
        queue.canceled_job_registry,
    ):
        pipe.zrem(registry.key, job_id)
        members: list[bytes] = connection.zrange(registry.key, 0, -1)  # type: ignore[assignment]
        for member in members:
            if member.decode().split(":", 1)[0] == job_id:
                pipe.zrem(registry.key, member)
    pipe.execute()


def job_status(job_id: str | None) -> str | None:
    """The RQ job's status, "missing" when Redis no longer has it, None when unknown."""
    if not job_id:
        return "missing"
    try:
        return Job.fetch(job_id, connection=redis_connection()).get_status()
    except NoSuchJobError:
        return "missing"
    except RedisError:
        return None


def heartbeat_seconds() -> float:
    return float(current_app.config.get("SYNC_HEARTBEAT_SECONDS", 2.0))


def _grace() -> timedelta:
    """A few beats for a job to appear or to write its first heartbeat."""
    return timedelta(seconds=max(3 * heartbeat_seconds(), 5))


class Beats(Protocol):
    """What says whether a run's worker lives: a run's row, or the columns a poll read of it."""

    @property
    def heartbeat_at(self) -> Any: ...
    @property
    def created_at(self) -> Any: ...
    @property
    def job_id(self) -> Any: ...


class Run(Beats, Protocol):
    """What the lifecycle reads of a run's row (a `SyncRun`, a `Transfer`)."""

    id: Any


def too_young_to_judge(run: Beats, now: datetime) -> bool:
    """Whether a run's last sign of life is within the grace: `is_dead` and `lost` say no
    without asking Redis."""
    return now - aware(run.heartbeat_at or run.created_at) < _grace()


def is_dead(run: Beats, *, queued: bool, now: datetime | None = None) -> bool:
    """Whether an active run will never finish by itself: its worker was killed (SIGKILL, out
    of memory, a PaaS restart) or its job vanished. `queued`: not yet taken by a worker."""
    now = now or utcnow()
    age = now - aware(run.heartbeat_at or run.created_at)
    dead_after = timedelta(seconds=current_app.config.get("SYNC_DEAD_AFTER_SECONDS", 120))
    if not queued and age > dead_after:
        return True  # no heartbeat for many beats: the whole worker is gone
    if age < _grace():
        return False
    status = job_status(run.job_id)
    return status == "missing" or status in JOB_GONE


def lost(run: Run, now: datetime) -> bool:
    """Whether a queued run's job is gone from Redis (restarted without persistence, or down
    when the run was made): it is to be enqueued again rather than failed."""
    if too_young_to_judge(run, now):
        return False
    return bool(run.job_id) and job_status(run.job_id) == "missing"


def newest(model: type[R], *where: Any, limit: int = 1, options: Iterable[Any] = ()) -> list[R]:
    """Runs of `model` (a `SyncRun`, a `Transfer`) matching `where`, newest first."""
    stmt = select(model).where(*where).options(*options)
    return list(db.session.scalars(stmt.order_by(model.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Lifecycle(Generic[R]):
    """How one kind of run (the sync's, the transfer's) plugs into the shared lifecycle: its
    model and active statuses, how to enqueue it, when it is dead, and how to bury it (mark it
    failed: True, counted; or settle it otherwise: False)."""

    model: type[R]
    active: tuple[Any, ...]
    enqueue: Callable[[R], None]
    is_dead: Callable[[R, datetime], bool]
    bury: Callable[[R, datetime], bool]

    def reap(self, recipient_id: int | None = None) -> int:
        """Look at the active runs (of one recipient) once: a queued one whose job Redis lost
        is enqueued again; a dead one is buried. Commits; returns how many failed."""
        model: Any = self.model
        stmt = select(model).where(model.status.in_(self.active))
        if recipient_id is not None:
            stmt = stmt.where(model.recipient_id == recipient_id)
        now = utcnow()
        reaped = 0
        for run in db.session.scalars(stmt).all():
            if run.status == "queued" and lost(run, now):
                requeue(self.enqueue, run)
            elif self.is_dead(run, now) and self._hold(run) and self.bury(run, now):
                reaped += 1
        if reaped:
            db.session.commit()
        return reaped

    def _hold(self, run: Any) -> bool:
        """Lock the row of a run that looks dead, as it was read. False when its worker holds
        the row (it is committing its end: alive) or the row moved on since it was read
        (finished, or beat). A bury that merely waited for the worker's lock would overwrite
        the success the worker commits."""
        model: Any = self.model
        heartbeat = model.heartbeat_at
        as_read = (
            model.id == run.id,
            model.status == run.status,
            heartbeat.is_(None) if run.heartbeat_at is None else heartbeat == run.heartbeat_at,
        )
        # PostgreSQL skips a row its worker holds instead of waiting for it (SQLite reads on).
        locked = select(model.id).where(*as_read).with_for_update(skip_locked=True)
        if db.session.scalar(locked) is None:
            return False
        # SQLite has no row locks: the write waits for the worker's transaction and then finds
        # the row as it was read, or not at all.
        held = db.session.execute(
            update(model).where(*as_read).values(heartbeat_at=heartbeat),
            execution_options={"synchronize_session": False},
        )
        return rowcount(held) == 1


def park_for_retry(run: Any, message: str) -> None:
    """Back to queued while the job's retry waits (the remote system did not answer)."""
    run.status = "queued"
    run.step = "retry_wait"
    run.error_code = "unavailable"
    run.error_message = message


def requeue(enqueue_run: Callable[[R], None], run: R) -> bool:
    """Enqueue a lost run again; False (and it stays queued for the next look) without Redis."""
    try:
        enqueue_run(run)
    except RedisError:
        return False
    log.warning("%s %s had lost its job; enqueued it again", type(run).__name__, run.id)
    return True


def worker_problem(created_at: datetime, queue_down: object, no_worker: object) -> str | None:
    """Why a queued run has not started after a few seconds: the queue does not answer
    (`queue_down`), or no worker is running (`no_worker`); None while all is well."""
    try:
        if Worker.count(connection=redis_connection(), queue=get_queue()):
            return None
    except RedisError:
        return str(queue_down)
    notice = current_app.config.get("SYNC_NO_WORKER_NOTICE_SECONDS", NO_WORKER_NOTICE_SECONDS)
    if utcnow() - aware(created_at) < timedelta(seconds=notice):
        return None
    return str(no_worker)


@contextmanager
def heartbeat(model: Any, row_id: int, statuses: Iterable[str]) -> Iterator[None]:
    """While the block runs, the row's `heartbeat_at` says its worker is alive."""
    beat = Heartbeat(db.engine, table_of(model), row_id, statuses, heartbeat_seconds())
    beat.start()
    try:
        yield
    finally:
        beat.stop()


class Heartbeat(threading.Thread):
    """Stamps `heartbeat_at` of one row while the worker lives, on a connection of its own
    (the job's own session may hold a long transaction)."""

    def __init__(
        self, engine: Engine, table: Table, row_id: int, statuses: Iterable[str], interval: float
    ) -> None:
        super().__init__(daemon=True, name=f"{table.name}-heartbeat-{row_id}")
        self.engine = engine
        self.table = table
        self.row_id = row_id
        self.statuses = list(statuses)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        table = self.table
        while not self.stopped.wait(self.interval):
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        table.update()
                        .where(table.c.id == self.row_id, table.c.status.in_(self.statuses))
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a busy database delays a beat; the next one will do
                log.debug("heartbeat of %s %s skipped", table.name, self.row_id, exc_info=True)

    def stop(self) -> None:
        """Stop beating, and wait for a beat under way: none lands after the run ended (a
        late beat would make a run just declared dead look alive again)."""
        self.stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=30)
