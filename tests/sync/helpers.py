"""Small steps the sync tests share."""

from __future__ import annotations

import re

from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.timeouts import TimerDeathPenalty

from jobs.worker import PromptStop
from webapp.extensions import db
from webapp.models import SyncRun


def queue(app) -> Queue:
    return Queue("default", connection=Redis.from_url(app.config["REDIS_URL"]))


class ThreadWorker(PromptStop, SimpleWorker):
    """A SimpleWorker that can run outside the main thread (signals belong to the main one),
    and that quits at once when its burst is done (see `PromptStop`)."""

    listen_slice_seconds = 0.1

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass

    # No command channel: a burst in a test takes no commands, and stopping redis-py 8's
    # pubsub thread after a job quicker than its first poll waits out its 60 s poll.
    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


def work(app) -> None:
    """Run every queued job in this process, as a worker would."""
    q = queue(app)
    ThreadWorker([q], connection=q.connection).work(burst=True)


def run_scheduled_now(app) -> int:
    """Move every scheduled job (RQ retries) to the queue, as the scheduler will when due."""
    q = queue(app)
    registry = ScheduledJobRegistry(queue=q)
    ids = registry.get_job_ids()
    for job_id in ids:
        job = Job.fetch(job_id, connection=q.connection)
        registry.remove(job)
        q.enqueue_job(job)
    return len(ids)


def start_sync(client, recipient_id: int):
    return client.post(f"/settings/recipients/{recipient_id}/sync", headers={"HX-Request": "true"})


def progress_url(response_text: str) -> str:
    return re.search(r'hx-get="(/settings/recipients/\d+/sync/\d+)"', response_text).group(1)


def runs(app) -> list[SyncRun]:
    with app.app_context():
        found = list(db.session.scalars(db.select(SyncRun).order_by(SyncRun.id)))
        for run in found:
            db.session.expunge(run)
        return found
