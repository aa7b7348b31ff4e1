"""RQ worker classes that build the Flask app once, in the worker, before forking.

A forking worker runs every job in a fresh child. Importing and creating the app there costs
about a second per job, which a nightly fan-out of hundreds of syncs would pay hundreds of
times; built in the parent, each child inherits it (copy-on-write) and starts warm. The child
gets fresh database connections (see `jobs.context`).

    rq worker --worker-class jobs.worker.WarmWorker ...        (make dev)
    rq worker --worker-class jobs.worker.WarmHerokuWorker ...  (Procfile)
"""

from __future__ import annotations

import gc

from rq.worker import BaseWorker, HerokuWorker, Worker

from jobs.context import job_app, warm


class PromptStop(BaseWorker):
    """Stops within a second instead of up to a minute.

    rq polls its command channel every 60 s, and redis-py 8 stops that thread by waiting for
    the poll to end (a new 60 s poll can start right after rq's unsubscribe: a race): a warm
    shutdown (SIGTERM, as a PaaS restart sends) took up to a minute, and so did about one burst
    worker in ten in the tests. A short poll costs nothing and ends the worker at once.
    """

    listen_slice_seconds = 1.0

    def subscribe(self) -> None:
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=self.listen_slice_seconds,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )


class _Warm(PromptStop, Worker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        warm(job_app())
        # Keep the collector away from everything built so far, so a child does not touch
        # (and copy) the parent's pages just by collecting garbage.
        gc.freeze()


class WarmWorker(_Warm, Worker):
    """`rq.Worker` with the app built before the first fork."""


class WarmHerokuWorker(_Warm, HerokuWorker):
    """`rq.worker.HerokuWorker` (handles a PaaS's SIGTERM) with the app built before forking."""
