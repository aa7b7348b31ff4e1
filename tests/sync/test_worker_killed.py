"""A worker killed with SIGKILL in the middle of a sync: nothing half-applied, the run is marked
failed when someone looks, and the next sync works. With a real `rq worker` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from redis import Redis

from tests.support import PATIENCE_SECONDS, wait_for
from tests.sync.helpers import progress_url, runs, start_sync, work
from webapp.extensions import db
from webapp.models import SyncRun, SyncStatus, WageType
from webapp.services import runs as runs_service

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


def kill_worker(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and its work horse (RQ puts the horse in a session of its own)."""
    horses = psutil.Process(worker.pid).children(recursive=True)
    assert horses, "the work horse should be running the job"
    for process in [psutil.Process(worker.pid), *horses]:
        process.send_signal(signal.SIGKILL)
    worker.wait(PATIENCE_SECONDS)


def expire_executions(app, job_id: str) -> None:
    """What Redis does 90 s after the kill: the dead worker's execution records expire (their
    TTL is the heartbeat's), while the job and its execution index live on for a while."""
    redis = Redis.from_url(app.config["REDIS_URL"])
    keys = list(redis.scan_iter(f"rq:execution:{job_id}:*"))
    assert keys, "the killed worker's execution should still be recorded"
    redis.delete(*keys)


def test_a_click_after_a_killed_sync_starts_a_fresh_run_whatever_rq_still_holds(
    app, client, recipient_id, nmbrs_sandbox
):
    """Issue 12, item 2: once the killed run is marked failed, *Hämta senaste data från
    Nmbrs* starts a fresh run (no HTTP 500, no run left queued for ever)."""
    nmbrs_sandbox.state.set_latency(1500)
    response = start_sync(client, recipient_id)
    worker = start_worker(app, nmbrs_sandbox.url)
    try:
        wait_for(lambda: runs(app)[-1].status == SyncStatus.RUNNING)
        time.sleep(0.5)  # in the middle of fetching
    finally:
        kill_worker(worker)
    nmbrs_sandbox.state.set_latency(0)
    url = progress_url(response.text)
    wait_for(lambda: 'data-status="failed"' in client.get(url).text)
    dead = runs(app)[-1]
    expire_executions(app, dead.job_id)

    again = start_sync(client, recipient_id)
    assert again.status_code == 200
    assert "Hämtar" in again.text or "Väntar" in again.text
    fresh = runs(app)[-1]
    assert fresh.id != dead.id and fresh.status == SyncStatus.QUEUED
    work(app)  # the fresh run's job is on the queue: a worker runs it
    assert runs(app)[-1].status == SyncStatus.SUCCEEDED

    # And the run lifecycle replaces whatever RQ holds under an id it is given again.
    with app.app_context():
        runs_service.enqueue(
            "jobs.sync.run", dead.id, job_id=dead.job_id, timeout=60, retry=None, description="t"
        )
    work(app)  # the replaced job finds its run finished: nothing to do
    assert [r.status for r in runs(app)][-2:] == [SyncStatus.FAILED, SyncStatus.SUCCEEDED]


def test_a_sync_whose_save_outlasts_its_heartbeat_keeps_its_success(app, recipient_id):
    """A large first sync saves for minutes in one transaction, and its heartbeat waits behind
    it: the run looks dead to whoever looks. The look must not wait for the save and then mark
    the run failed over the success the save commits."""
    from datetime import timedelta

    from sqlalchemy import event

    from webapp.models import SyncTrigger
    from webapp.models.base import table_of, utcnow
    from webapp.services.sync import runner
    from webapp.tenancy import all_organizations

    with app.app_context():
        now = utcnow()
        run = SyncRun(
            recipient_id=recipient_id,
            trigger=SyncTrigger.MANUAL,
            status=SyncStatus.RUNNING,
            step="saving",
            started_at=now - timedelta(minutes=10),
            heartbeat_at=now - timedelta(minutes=5),
            job_id="sync-saving",
        )
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        engine = db.engine

    # The worker's save, about to commit the run's success.
    table = table_of(SyncRun)
    saving = engine.connect()
    transaction = saving.begin()
    saving.execute(table.update().where(table.c.id == run_id).values(status="succeeded", step=None))

    looking = threading.Event()
    reaped: list[int] = []

    def looked(conn, cursor, statement, *_args) -> None:
        writes = statement.lstrip().startswith("UPDATE") or "FOR UPDATE" in statement
        if writes and threading.current_thread() is reaper:
            looking.set()

    def reap() -> None:
        with app.app_context(), all_organizations():
            reaped.append(runner.LIFECYCLE.reap(recipient_id))
            db.session.remove()

    event.listen(engine, "before_cursor_execute", looked)
    reaper = threading.Thread(target=reap)
    try:
        reaper.start()
        # The look is about to write (or to lock) the run; give its statement a moment to
        # reach the database, where it waits for the save unless it skips the row.
        looking.wait(PATIENCE_SECONDS)
        reaper.join(0.5)
        transaction.commit()
        reaper.join(PATIENCE_SECONDS)
    finally:
        event.remove(engine, "before_cursor_execute", looked)
        saving.close()

    assert looking.is_set() and reaped == [0]
    with app.app_context():
        saved = db.session.get(SyncRun, run_id)
        assert (saved.status, saved.error_code) == (SyncStatus.SUCCEEDED, None)
