"""The clock process: one per deployment, it enqueues scheduled work and does none itself."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("jobs.clock")
TICK_SECONDS = 30


def tick(app) -> None:
    """One tick: the sync schedule (nightly syncs at 02:00 Europe/Stockholm, hourly catch-up and
    reaping; a pure function of "now", webapp.services.sync.nightly.plan), then the reminder
    that next year's values are missing (from 1 December, mailed once). Each step spans every
    organization and says so; one failing does not keep the other from running."""
    from webapp.extensions import db
    from webapp.services import sync, tax_years
    from webapp.tenancy import all_organizations

    steps = (("sync schedule", sync.clock_tick), ("tax-year reminder", tax_years.remind_admins))
    for name, step in steps:
        try:
            with app.app_context(), all_organizations():
                try:
                    step()
                finally:
                    db.session.remove()
        except Exception:
            log.exception("clock %s failed; trying again at the next tick", name)


def main() -> None:
    from jobs.context import job_app

    app = job_app()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("clock started (redis %s)", app.config["REDIS_URL"].rsplit("@", 1)[-1])
    while True:
        tick(app)
        if stop.wait(TICK_SECONDS):
            break
    log.info("clock stopped")


if __name__ == "__main__":
    main()
