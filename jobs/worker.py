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

from rq.worker import HerokuWorker, Worker

from jobs.context import job_app


class _Warm:
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        job_app()
        # Keep the collector away from everything built so far, so a child does not touch
        # (and copy) the parent's pages just by collecting garbage.
        gc.freeze()


class WarmWorker(_Warm, Worker):
    """`rq.Worker` with the app built before the first fork."""


class WarmHerokuWorker(_Warm, HerokuWorker):
    """`rq.worker.HerokuWorker` (handles a PaaS's SIGTERM) with the app built before forking."""
