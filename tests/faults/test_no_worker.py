"""No worker is running: a queued sync says so after a few seconds instead of spinning
silently, and starts by itself when a worker comes (a real `rq worker` process)."""

from __future__ import annotations

import time

from tests.faults.conftest import recipient_id
from tests.sync.helpers import progress_url, runs, start_sync
from tests.sync.test_worker_killed import start_worker, wait_for
from webapp.models import SyncStatus

NO_WORKER = "Ingen arbetsprocess är igång just nu"


def test_a_queued_sync_says_no_worker_is_running_and_starts_when_one_comes(
    redis_app, admin_client, nmbrs_sandbox
):
    first = start_sync(admin_client, recipient_id(redis_app))
    assert "Väntar på en ledig arbetsprocess" in first.text
    assert NO_WORKER not in first.text  # a worker usually takes it at once: no alarm yet
    url = progress_url(first.text)

    time.sleep(0.6)  # SYNC_NO_WORKER_NOTICE_SECONDS
    waiting = admin_client.get(url).text
    assert NO_WORKER in waiting and "hx-trigger" in waiting

    worker = start_worker(redis_app, nmbrs_sandbox.url)
    try:
        done = wait_for(
            lambda: (t := admin_client.get(url).text) and 'data-status="succeeded"' in t and t,
            timeout=30,
        )
    finally:
        worker.terminate()
        worker.wait(10)
    assert NO_WORKER not in done
    assert [r.status for r in runs(redis_app)] == [SyncStatus.SUCCEEDED]
