"""A worker stops within seconds once told to (a PaaS restart) or once its burst is done (the
tests' in-process workers): RQ's command listener must not hold it for its 60 s read."""

from __future__ import annotations

import time

from redis import Redis
from rq import Queue, Worker

from jobs.worker import PromptStop


class ProcfileLikeWorker(PromptStop, Worker):
    """The Procfile's worker class without the app it builds (jobs.worker.WarmHerokuWorker)."""


def test_a_worker_with_nothing_to_do_stops_within_seconds_every_time(redis_url):
    q = Queue("default", connection=Redis.from_url(redis_url))
    slowest = 0.0
    # RQ 3 with redis-py 8 sat a whole minute in about one stop in ten (a race); twenty stops
    # in a row would almost surely meet it.
    for _ in range(20):
        started = time.monotonic()
        ProcfileLikeWorker([q], connection=q.connection).work(burst=True)
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 30  # a minute when the listener holds it; about a second at most now
