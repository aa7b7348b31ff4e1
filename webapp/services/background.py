"""What the sync and the transfer share about running in an RQ worker: a heartbeat that proves
the worker is alive, and the RQ job's status that tells a dead run from a slow one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import Table
from sqlalchemy.engine import Engine

from webapp.models.base import utcnow
from webapp.queue import redis_connection

log = logging.getLogger(__name__)

# Job states after which the job's worker no longer works on the run.
JOB_GONE = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED, JobStatus.FINISHED}


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
        self.stopped.set()


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
