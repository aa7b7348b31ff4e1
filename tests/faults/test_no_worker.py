"""No worker is running: a queued sync says so after a few seconds instead of spinning
silently, and starts by itself when a worker comes (a real `rq worker` process)."""

from __future__ import annotations

from tests.faults.conftest import recipient_id
from tests.support import PATIENCE_SECONDS, wait_for
from tests.sync.helpers import progress_url, runs, start_sync
from tests.sync.test_worker_killed import start_worker
from webapp.models import SyncStatus

NO_WORKER = "Ingen arbetsprocess är igång just nu"


def test_a_queued_sync_says_no_worker_is_running_and_starts_when_one_comes(
    redis_app, admin_client, nmbrs_sandbox
):
    first = start_sync(admin_client, recipient_id(redis_app))
    assert "Väntar på en ledig arbetsprocess" in first.text
    assert NO_WORKER not in first.text  # a worker usually takes it at once: no alarm yet
    url = progress_url(first.text)

    # After SYNC_NO_WORKER_NOTICE_SECONDS (0.5 s here) the page says so, and keeps polling.
    waiting = wait_for(lambda: (t := admin_client.get(url).text) and NO_WORKER in t and t)
    assert "hx-trigger" in waiting

    worker = start_worker(redis_app, nmbrs_sandbox.url)
    try:
        # As soon as the worker is up; on a busy machine starting it takes a while.
        done = wait_for(
            lambda: (t := admin_client.get(url).text) and 'data-status="succeeded"' in t and t
        )
    finally:
        worker.terminate()
        worker.wait(PATIENCE_SECONDS)
    assert NO_WORKER not in done
    assert [r.status for r in runs(redis_app)] == [SyncStatus.SUCCEEDED]
