"""A worker killed with SIGKILL in the middle of a sync: nothing half-applied, the run is marked
failed when someone looks, and the next sync works. With a real `rq worker` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.support import PATIENCE_SECONDS, wait_for
from tests.sync.helpers import progress_url, runs, start_sync, work
from webapp.extensions import db
from webapp.models import SyncStatus, WageType

RQ = str(Path(sys.executable).parent / "rq")


def wage_type_name(app, recipient_id, code):
    with app.app_context():
        return db.session.scalar(
            db.select(WageType.description).where(
                WageType.recipient_id == recipient_id, WageType.nmbrs_id == code
            )
        )


def start_worker(app, sandbox_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "BRYGGA_ENV": "test",
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "BRYGGA_INSTANCE_PATH": app.instance_path,  # the same encryption key as the test app
        "NMBRS_BASE_URL": sandbox_url,
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [RQ, "worker", "--url", env["REDIS_URL"], "--worker-class", "jobs.worker.WarmWorker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_worker_killed_mid_sync_leaves_nothing_half_applied_and_the_next_sync_works(
    app, client, recipient_id, nmbrs_sandbox, company_id
):
    start_sync(client, recipient_id)
    work(app)
    assert wage_type_name(app, recipient_id, 1000) == "Månadslön"
    nmbrs_sandbox.state.rename_wage_type(company_id, 1000, "Månadslön tjänsteman")
    nmbrs_sandbox.state.set_latency(1500)

    response = start_sync(client, recipient_id)
    worker = start_worker(app, nmbrs_sandbox.url)
    try:
        wait_for(lambda: runs(app)[-1].status == SyncStatus.RUNNING)
        time.sleep(0.5)  # in the middle of fetching
        # The worker and its work horse (RQ puts the horse in a session of its own).
        horses = psutil.Process(worker.pid).children(recursive=True)
        assert horses, "the work horse should be running the sync"
        for process in [psutil.Process(worker.pid), *horses]:
            process.send_signal(signal.SIGKILL)
    finally:
        worker.wait(PATIENCE_SECONDS)
    nmbrs_sandbox.state.set_latency(0)

    assert wage_type_name(app, recipient_id, 1000) == "Månadslön"  # nothing half-applied
    assert runs(app)[-1].status == SyncStatus.RUNNING  # nobody has looked yet

    # No heartbeat for longer than SYNC_DEAD_AFTER_SECONDS: the progress fragment notices.
    url = progress_url(response.text)
    fragment = wait_for(lambda: (t := client.get(url).text) and 'data-status="failed"' in t and t)
    assert "Synken avbröts" in fragment and "hx-trigger" not in fragment
    assert runs(app)[-1].error_code == "interrupted"

    start_sync(client, recipient_id)  # RQ still holds the dead job's id: replaced
    work(app)
    assert runs(app)[-1].status == SyncStatus.SUCCEEDED
    assert wage_type_name(app, recipient_id, 1000) == "Månadslön tjänsteman"
