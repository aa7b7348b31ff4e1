"""The clock process: one per deployment, it enqueues scheduled work and does none itself."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("jobs.clock")
TICK_SECONDS = 30


def main() -> None:
    from jobs.context import job_app

    app = job_app()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("clock started (redis %s)", app.config["REDIS_URL"].rsplit("@", 1)[-1])
    while True:
        # Nightly syncs at 02:00 Europe/Stockholm, hourly catch-up and reaping: the schedule
        # itself is a pure function of "now" (webapp.services.sync.nightly.plan).
        try:
            from webapp.tenancy import all_organizations

            # The schedule spans every organization, and says so.
            with app.app_context(), all_organizations():
                from webapp.extensions import db
                from webapp.services import sync

                try:
                    sync.clock_tick()
                finally:
                    db.session.remove()
        except Exception:
            log.exception("clock tick failed; trying again at the next tick")
        if stop.wait(TICK_SECONDS):
            break
    log.info("clock stopped")


if __name__ == "__main__":
    main()
